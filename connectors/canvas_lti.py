"""Canvas LTI external tools installed per account and per course, as installation events.

Calls ``GET /api/v1/accounts/:id`` and ``/accounts/:id/sub_accounts`` (the accounts),
``/accounts/:id/courses`` (the courses), and ``/accounts/:id/external_tools`` and
``/courses/:id/external_tools`` for each (``Link`` header paging). Every installed tool
becomes one :class:`~connectors.usage_events.UsageEvent` with action ``installed``: the app is
named by its URL (or ``domain``), its LTI 1.3 client id (``client_id`` or
``developer_key_id``), its ``deployment_id`` and its ``name``, so it is matched to an
inventory tool, or, when none claims it, listed by ``edtech-map discover``.

An installation is not done by a person: every event has the fixed user key
:data:`INSTALLATION_KEY` and role ``unknown``. The event id is
``canvas_lti:<account|course>:<context id>:<tool id>``, so pulling again adds nothing.

Examples
--------
>>> tool = {"id": 1, "name": "External Tool #1 (Course)", "url": "http://www.example.com/ims/lti",
...         "created_at": "2015-01-01T01:01:01Z", "developer_key_id": 170000000000017,
...         "deployment_id": "12:8865aa05b4b79b64a91a86042e43af5ea8ae79eb"}
>>> event = transform_tool(tool, context="course", context_id="1", line=1)
>>> event.event_id, event.action, event.user_key
('canvas_lti:course:1:1', 'installed', 'installation')
>>> [(a.kind.value, a.value) for a in event.apps][:2]
[('url', 'http://www.example.com/ims/lti'), ('lti_client_id', '170000000000017')]
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from connectors import canvas
from connectors.base import SourceRecord, load_source_config
from connectors.http import HttpClient, LinkHeaderPaginator, redact_url
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

if TYPE_CHECKING:
    from edtech_map.model.ecosystem import SourceConfig

__all__ = [
    "ACTION",
    "INSTALLATION_KEY",
    "SOURCE",
    "Config",
    "PullStats",
    "get_external_tools",
    "load_config",
    "read_installations",
    "transform_tool",
]

logger = logging.getLogger(__name__)

SOURCE = "canvas_lti"
ACTION = "installed"
INSTALLATION_KEY = "installation"
"""The user key of every installation event: a fixed non-person key, never a person's."""

Context = Literal["account", "course"]


class Config(canvas.Config):
    """Settings of one Canvas LTI source: the Canvas source's, plus what to read.

    Examples
    --------
    >>> Config(base_url="https://canvas.example.org", token="t", include_courses=False).api_root
    'https://canvas.example.org/api/v1'
    """

    include_sub_accounts: bool = Field(True, description="Read tools of every sub-account.")
    include_courses: bool = Field(True, description="Read tools installed in each course.")

    @classmethod
    def from_source(cls, source: SourceConfig, environ: Mapping[str, str] | None = None) -> Config:
        """The config of an inventory ``sources:`` entry; the token comes from the environment.

        Examples
        --------
        >>> from edtech_map.model.ecosystem import SourceConfig
        >>> source = SourceConfig(kind="canvas_lti", base_url="https://canvas.example.org",
        ...     secrets={"token": "CANVAS_TOKEN"}, options={"include_courses": False})
        >>> Config.from_source(source, {"CANVAS_TOKEN": "tok-1234"}).include_courses
        False
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
    >>> load_config({"base_url": "https://c.example.org", "token": "t"}).include_courses
    True
    """
    config: Config = load_source_config(
        Config, options, environ, secret_names=("token",), source=SOURCE
    )
    return config


@dataclass
class PullStats:
    """How far a pull got: accounts and courses looked at, tools seen.

    Examples
    --------
    >>> PullStats().tools
    0
    """

    accounts: int = 0
    courses: int = 0
    tools: int = 0


def get_external_tools(
    http: HttpClient, config: Config, context: Context, context_id: str
) -> Iterator[SourceRecord]:
    """Yield the raw external tools installed in one account or course, page by page.

    Examples
    --------
    >>> config = Config(base_url="https://canvas.example.org", token="t")
    >>> with config.client() as http:
    ...     type(get_external_tools(http, config, "account", "1")).__name__
    'generator'
    """
    path = f"/{context}s/{canvas._quote(context_id)}/external_tools"
    pages = http.pages(path, {"per_page": config.per_page}, paginator=LinkHeaderPaginator())
    for page, response in enumerate(pages, start=1):
        body = response.json()
        where = redact_url(response.url)
        for index, item in enumerate(body if isinstance(body, list) else [body], start=1):
            at = f"{where} (page {page}) record {index}"
            if isinstance(item, dict):
                yield SourceRecord(at, item)
            else:
                yield SourceRecord(at, {}, problem="is not a JSON object")


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    text = str(value).strip()
    return text or None


def _apps(raw: Mapping[str, Any]) -> tuple[AppIdentifier, ...]:
    apps: list[AppIdentifier] = []
    url = _text(raw.get("url")) or _text(raw.get("target_link_uri"))
    domain = _text(raw.get("domain"))
    if url:
        apps.append(AppIdentifier(IdentifierKind.URL, url))
    elif domain:
        apps.append(AppIdentifier(IdentifierKind.URL, f"https://{domain}"))
    client = _text(raw.get("client_id")) or _text(raw.get("developer_key_id"))
    if client:
        apps.append(AppIdentifier(IdentifierKind.LTI_CLIENT, client))
    deployment = _text(raw.get("deployment_id"))
    if deployment:
        apps.append(AppIdentifier(IdentifierKind.LTI_DEPLOYMENT, deployment))
    name = _text(raw.get("name"))
    if name:
        apps.append(AppIdentifier(IdentifierKind.NAME, name))
    return tuple(apps)


def transform_tool(
    raw: Mapping[str, Any],
    *,
    context: Context,
    context_id: str,
    line: int,
    school_id: str | None = None,
    class_id: str | None = None,
    pulled_at: datetime | None = None,
) -> UsageEvent | Rejection | Skip:
    """One installed external tool as an ``installed`` event, or why not.

    The time is the tool's ``created_at`` (else ``updated_at``, else ``pulled_at``). The URL
    comes first among the identifiers, so an unmatched tool is proposed by its domain.

    Examples
    --------
    >>> transform_tool({"name": "No id"}, context="account", context_id="1", line=4)
    Rejection(line=4, field='id', reason='missing; every external tool has an id')
    >>> transform_tool({"id": 9, "workflow_state": "deleted"}, context="account",
    ...                context_id="1", line=5).reason
    'external tool 9 is deleted'
    """
    tool_id = _text(raw.get("id"))
    if tool_id is None:
        return Rejection(line, "id", "missing; every external tool has an id")
    if raw.get("workflow_state") == "deleted":
        return Skip(line, f"external tool {tool_id} is deleted")
    apps = _apps(raw)
    if not apps:
        return Rejection(line, "url", "no url, domain, client id, deployment id or name")
    when = pulled_at or datetime.now(UTC)
    for name in ("created_at", "updated_at"):
        if raw.get(name):
            try:
                when = parse_timestamp(raw[name])
            except ValueError:
                return Rejection(line, name, "is not an ISO 8601 date-time")
            break
    return UsageEvent(
        event_id=f"{SOURCE}:{context}:{context_id}:{tool_id}",
        event_time=when,
        apps=apps,
        user_key=INSTALLATION_KEY,
        role=Role.UNKNOWN,
        line=line,
        school_id=school_id,
        class_id=class_id,
        action=ACTION,
        event_type=f"lti_{context}_install",
    )


def read_installations(
    http: HttpClient, config: Config, *, stats: PullStats | None = None
) -> Iterator[Parsed]:
    """Read the tools installed in every account (and course) as installation events.

    ``line`` numbers tools in the order read. Account tools get the account's key as
    ``school_key``; course tools the course's key as ``class_key`` (SIS id, else
    ``canvas:<id>``, as the Canvas roster connector keys them).

    Examples
    --------
    >>> config = Config(base_url="https://canvas.example.org", token="t")
    >>> with config.client() as http:
    ...     type(read_installations(http, config)).__name__
    'generator'
    """
    stats = stats if stats is not None else PullStats()
    pulled_at = datetime.now(UTC)
    line = 0
    accounts = canvas.get_orgs(http, config)
    if not config.include_sub_accounts:
        accounts = iter([next(accounts)])
    contexts: list[tuple[Context, str, str | None, str | None]] = []
    for record in accounts:
        if record.problem is None and _text(record.values.get("id")):
            stats.accounts += 1
            key = canvas.canvas_key(record.values, "sis_account_id")
            contexts.append(("account", str(record.values["id"]), key, None))
    if config.include_courses:
        for record in canvas.get_courses(http, config):
            if record.problem is None and _text(record.values.get("id")):
                stats.courses += 1
                key = canvas.canvas_key(record.values, "sis_course_id")
                contexts.append(("course", str(record.values["id"]), None, key))
    for context, context_id, school_id, class_id in contexts:
        for record in get_external_tools(http, config, context, context_id):
            line += 1
            stats.tools += 1
            if record.problem is not None:
                yield Rejection(line, "(tool)", record.problem)
                continue
            yield transform_tool(
                record.values,
                context=context,
                context_id=context_id,
                line=line,
                school_id=school_id,
                class_id=class_id,
                pulled_at=pulled_at,
            )
    logger.info(
        "canvas lti: %d tools in %d accounts and %d courses",
        stats.tools,
        stats.accounts,
        stats.courses,
    )
