"""Google Workspace Admin SDK Reports: OAuth token grants as pseudonymous usage events.

Calls ``GET /admin/reports/v1/activity/users/all/applications/token`` (and, when asked,
``.../applications/login``, only counted). Each ``authorize`` or ``revoke`` event of a token
activity becomes one :class:`~connectors.usage_events.UsageEvent`: the app is named by its OAuth
``client_id`` (matched to an inventory tool's ``oauth_client_ids``) and by its ``app_name``;
the person is keyed at once from the actor's e-mail in the ``google`` namespace and never kept.
The event id is ``google_workspace:token:<id.uniqueQualifier>:<id.time>``, so pulling the
same window twice adds nothing. Pages follow ``nextPageToken``; ``startTime`` resumes from
the latest event time the previous pull stored (see :func:`edtech_map.usage.ingest_pull`).

Examples
--------
>>> from edtech_map.privacy import KeyMaker
>>> activity = {"id": {"time": "2026-11-02T14:05:06.000Z", "uniqueQualifier": "-42",
...     "applicationName": "token"}, "actor": {"email": "ana@riverside.example.org"},
...     "events": [{"type": "auth", "name": "authorize", "parameters": [
...         {"name": "client_id", "value": "1234.apps.googleusercontent.com"},
...         {"name": "app_name", "value": "Mathly"}]}]}
>>> (event,) = transform_activity(activity, KeyMaker(b"0" * 32), line=1)
>>> event.event_id, event.action, [a.kind.value for a in event.apps]
('google_workspace:token:-42:2026-11-02T14:05:06.000Z', 'authorize', ['oauth_client_id', 'name'])
>>> "ana" in event.user_key
False
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from connectors.base import load_source_config
from connectors.http import BearerAuth, HttpClient, PageTokenPaginator, RetryPolicy, parse_json
from connectors.usage_events import (
    AppIdentifier,
    IdentifierKind,
    Parsed,
    Rejection,
    Skip,
    UsageEvent,
    parse_timestamp,
)
from edtech_map.model import Role
from edtech_map.privacy import KeyMaker

if TYPE_CHECKING:
    from edtech_map.model.ecosystem import SourceConfig

__all__ = [
    "ACTIONS",
    "DEFAULT_BASE_URL",
    "SOURCE",
    "USER_NAMESPACE",
    "Config",
    "PullStats",
    "activity_path",
    "count_logins",
    "get_activities",
    "load_config",
    "read_tokens",
    "start_time",
    "transform_activity",
]

logger = logging.getLogger(__name__)

SOURCE = "google_workspace"
USER_NAMESPACE = "google"
DEFAULT_BASE_URL = "https://admin.googleapis.com"
ACTIONS = frozenset({"authorize", "revoke"})
_PROFILE_NAMESPACE = "google_profile"


class Config(BaseModel):
    """Settings of one Google Workspace source (``sources: {kind: google_workspace, ...}``).

    ``token`` is an OAuth 2 access token with the
    ``https://www.googleapis.com/auth/admin.reports.audit.readonly`` scope; it comes from the
    environment variable named in ``sources:``. ``org_unit_roles`` maps a Google org unit
    id (as the Reports API's ``orgUnitID`` filter takes it) to the role of the people in it.

    Examples
    --------
    >>> Config(token="t", org_unit_roles={"03ph8a2z1students": "student"}).org_unit_roles
    {'03ph8a2z1students': <Role.STUDENT: 'student'>}
    >>> Config(token="t").base_url
    'https://admin.googleapis.com'
    """

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    base_url: str = Field(DEFAULT_BASE_URL, description="API root (without /admin/reports).")
    token: SecretStr = Field(description="OAuth 2 access token (from the environment).")
    org_unit_roles: dict[str, Role] = Field(
        default_factory=dict, description="Org unit id -> role of the people in it."
    )
    include_logins: bool = Field(False, description="Also count login activities (not stored).")
    max_results: int = Field(1000, ge=1, le=1000, description="maxResults per page.")
    timeout: tuple[float, float] = Field((10.0, 60.0), description="(connect, read) seconds.")
    max_retries: int = Field(5, ge=0, description="Retries of one request (429, 5xx).")
    backoff_factor: float = Field(1.0, ge=0, description="Exponential back-off factor.")
    max_retry_time: float = Field(300.0, gt=0, description="Cap on retrying one request (s).")

    @field_validator("base_url")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip().rstrip("/")

    def client(self) -> HttpClient:
        """The HTTP client for this source: bearer token, retries, timeouts.

        Examples
        --------
        >>> with Config(token="t").client() as http:
        ...     http.url_for(activity_path("token"))
        'https://admin.googleapis.com/admin/reports/v1/activity/users/all/applications/token'
        """
        return HttpClient(
            self.base_url,
            auth=BearerAuth(self.token),
            timeout=self.timeout,
            retry=RetryPolicy(
                total=self.max_retries,
                backoff_factor=self.backoff_factor,
                max_retry_time=self.max_retry_time,
            ),
        )

    @classmethod
    def from_source(cls, source: SourceConfig, environ: Mapping[str, str] | None = None) -> Config:
        """The config of an inventory ``sources:`` entry; the token comes from the environment.

        Examples
        --------
        >>> from edtech_map.model.ecosystem import SourceConfig
        >>> source = SourceConfig(kind="google_workspace", secrets={"token": "GWS_TOKEN"})
        >>> Config.from_source(source, {"GWS_TOKEN": "ya29.x"}).token
        SecretStr('**********')
        """
        options: dict[str, Any] = dict(source.options)
        if source.base_url is not None:
            options["base_url"] = source.base_url
        options["secrets"] = dict(source.secrets)
        return load_config(options, environ)


def load_config(options: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Config:
    """Validate options into a :class:`Config`, reading the token from the environment.

    Raises
    ------
    connectors.base.SourceError
        A setting is invalid, or the named environment variable is not set.

    Examples
    --------
    >>> load_config({"secrets": {"token": "NOT_SET"}}, {})
    Traceback (most recent call last):
    ...
    connectors.base.SourceError: google_workspace: the environment variable NOT_SET (secret 'token') is not set; export it before pulling
    """
    config: Config = load_source_config(
        Config, options, environ, secret_names=("token",), source=SOURCE
    )
    return config


@dataclass
class PullStats:
    """How far a pull got: pages and activities read, and login activities counted.

    Examples
    --------
    >>> PullStats().logins
    0
    """

    pages: int = 0
    activities: int = 0
    logins: int = 0


def activity_path(application: str) -> str:
    """The Reports API path listing one application's activities for all users.

    Examples
    --------
    >>> activity_path("login")
    '/admin/reports/v1/activity/users/all/applications/login'
    """
    return f"/admin/reports/v1/activity/users/all/applications/{application}"


def start_time(since: str | None) -> str | None:
    """A stored cursor as the RFC 3339 ``startTime`` Google expects (UTC, milliseconds, ``Z``).

    Examples
    --------
    >>> start_time("2026-11-02T14:05:06+00:00")
    '2026-11-02T14:05:06.000Z'
    >>> start_time(None) is None
    True
    """
    if not since:
        return None
    return parse_timestamp(since).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def get_activities(
    http: HttpClient,
    config: Config,
    application: str,
    *,
    since: str | None = None,
    org_unit_id: str | None = None,
    stats: PullStats | None = None,
) -> Iterator[Mapping[str, Any]]:
    """Yield the raw activities of one application page by page (``nextPageToken``).

    No retries or reshaping here: the client owns those.

    Examples
    --------
    >>> with Config(token="t").client() as http:
    ...     type(get_activities(http, Config(token="t"), "token")).__name__
    'generator'
    """
    stats = stats if stats is not None else PullStats()
    params: dict[str, Any] = {"maxResults": config.max_results}
    if since:
        params["startTime"] = start_time(since)
    if org_unit_id:
        params["orgUnitID"] = org_unit_id
    pages = http.pages(activity_path(application), params, paginator=PageTokenPaginator())
    for number, response in enumerate(pages, start=1):
        stats.pages += 1
        body = parse_json(response, page=number)
        items = body.get("items") if isinstance(body, dict) else None
        for item in items if isinstance(items, list) else []:
            stats.activities += 1
            yield item


def _parameters(event: Mapping[str, Any]) -> dict[str, str]:
    found: dict[str, str] = {}
    for parameter in event.get("parameters") or []:
        if isinstance(parameter, dict) and isinstance(parameter.get("value"), str):
            found[str(parameter.get("name"))] = parameter["value"]
    return found


def _user_key(actor: Any, keys: KeyMaker) -> str | None:
    if not isinstance(actor, dict):
        return None
    email = actor.get("email")
    if isinstance(email, str) and email.strip():
        return keys.user(email.strip().lower(), namespace=USER_NAMESPACE)
    profile = actor.get("profileId")
    if isinstance(profile, str) and profile.strip():
        return keys.user(profile.strip(), namespace=_PROFILE_NAMESPACE)
    return None


def transform_activity(
    raw: Mapping[str, Any], keys: KeyMaker, *, line: int, role: Role = Role.UNKNOWN
) -> list[UsageEvent | Skip] | Rejection:
    """One ``token`` activity as usage events (one per authorize/revoke event), or why not.

    Other event names are skipped with the reason; a missing id, time, actor or app is a
    rejection naming the field (never its value).

    Examples
    --------
    >>> from edtech_map.privacy import KeyMaker
    >>> transform_activity({"id": {"time": "2026-11-02T14:05:06Z", "uniqueQualifier": "1"},
    ...     "events": []}, KeyMaker(b"0" * 32), line=7)
    Rejection(line=7, field='actor', reason='missing; needs an email or profileId')
    """
    ident = raw.get("id")
    if not isinstance(ident, dict) or not ident.get("time") or not ident.get("uniqueQualifier"):
        return Rejection(line, "id", "missing time or uniqueQualifier")
    try:
        when = parse_timestamp(ident["time"])
    except ValueError as error:
        return Rejection(line, "id.time", str(error))
    user_key = _user_key(raw.get("actor"), keys)
    if user_key is None:
        return Rejection(line, "actor", "missing; needs an email or profileId")
    events = [e for e in raw.get("events") or [] if isinstance(e, dict)]
    base_id = f"{SOURCE}:token:{ident['uniqueQualifier']}:{ident['time']}"
    outcomes: list[UsageEvent | Skip] = []
    for index, event in enumerate(events):
        name = event.get("name")
        if name not in ACTIONS:
            outcomes.append(Skip(line, f"token event {str(name)[:40]!r} is not authorize/revoke"))
            continue
        params = _parameters(event)
        apps = []
        if params.get("client_id"):
            apps.append(AppIdentifier(IdentifierKind.OAUTH_CLIENT, params["client_id"]))
        if params.get("app_name"):
            apps.append(AppIdentifier(IdentifierKind.NAME, params["app_name"]))
        if not apps:
            return Rejection(line, f"events[{index}].parameters", "no client_id or app_name")
        outcomes.append(
            UsageEvent(
                event_id=base_id if len(events) == 1 else f"{base_id}/{index}",
                event_time=when,
                apps=tuple(apps),
                user_key=user_key,
                role=role,
                line=line,
                action=str(name),
                event_type="oauth_token",
            )
        )
    return outcomes


def read_tokens(
    http: HttpClient,
    config: Config,
    keys: KeyMaker,
    *,
    since: str | None = None,
    stats: PullStats | None = None,
) -> Iterator[Parsed]:
    """Read token activities as usage events, skips and rejections (and count logins).

    With ``org_unit_roles``, each mapped org unit is read first with its role, then everyone
    with role ``unknown``; an event already read under a role is then a duplicate, which the
    ingest drops, so the role sticks. ``line`` numbers activities in the order read.

    Examples
    --------
    >>> with Config(token="t").client() as http:
    ...     type(read_tokens(http, Config(token="t"), KeyMaker(b"0" * 32))).__name__
    'generator'
    """
    stats = stats if stats is not None else PullStats()
    passes: list[tuple[str | None, Role]] = [*config.org_unit_roles.items(), (None, Role.UNKNOWN)]
    line = 0
    for org_unit, role in passes:
        for raw in get_activities(
            http, config, "token", since=since, org_unit_id=org_unit, stats=stats
        ):
            line += 1
            outcome = transform_activity(raw, keys, line=line, role=role)
            if isinstance(outcome, Rejection):
                yield outcome
            else:
                yield from outcome
    if config.include_logins:
        stats.logins += count_logins(http, config, since=since)
        logger.info("google workspace: %d login activities since %s", stats.logins, since)


def count_logins(http: HttpClient, config: Config, *, since: str | None = None) -> int:
    """How many ``login`` activities there are (since ``since``); nothing is stored.

    Examples
    --------
    >>> count_logins.__name__
    'count_logins'
    """
    return sum(1 for _ in get_activities(http, config, "login", since=since))
