"""xAPI 1.0.3 statements from files (LRS exports), as pseudonymous usage events.

Reads a file holding one statement, a JSON array of statements, an LRS ``StatementResult``
(``{"statements": [...]}``) or JSON Lines. Each statement is checked against the parts of
xAPI 1.0.3 that decide whether it can be trusted as usage (actor, verb, object, context,
language maps, ids); a statement that fails is rejected with the field and the reason.

People are keyed at once, never kept: ``mbox`` is reduced to its SHA-1 (the xAPI
``mbox_sha1sum`` of it), so the same person written either way gets one key; ``mbox_sha1sum``
is an identifier that is keyed again, never reversed; ``openid`` and ``account`` are keyed in
their own namespaces, except accounts on a homePage listed in
``Config.district_account_homepages``, whose ``name`` is the district (SIS) id and gets the
``district`` key a OneRoster user gets. A statement by a Group counts once per member.

Examples
--------
>>> from edtech_map.privacy import KeyMaker
>>> keys = KeyMaker(b"0" * 32)
>>> statement = {"id": "fd41c918-b88b-4b20-a0a5-a4c32391aaa0",
...     "actor": {"mbox": "mailto:user@example.com"},
...     "verb": {"id": "http://adlnet.gov/expapi/verbs/attended"},
...     "object": {"id": "https://app.mathly.com/lessons/3"},
...     "timestamp": "2015-11-18T12:17:00+00:00"}
>>> (event,) = transform_statement(statement, keys, line=1)
>>> event.action, event.role.value, event.apps[0].value
('http://adlnet.gov/expapi/verbs/attended', 'unknown', 'https://app.mathly.com')
>>> event.user_key == transform_statement({**statement, "actor": {"mbox_sha1sum":
...     mbox_sha1sum("mailto:user@example.com")}}, keys, line=1)[0].user_key
True
"""

from __future__ import annotations

import hashlib
import logging
import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, SecretStr

from connectors.http import BasicAuth, BodyLinkPaginator, HttpClient, parse_json, redact_url
from connectors.usage_events import (
    AppIdentifier,
    IdentifierKind,
    InitiatedBy,
    Parsed,
    Rejection,
    Skip,
    UsageEvent,
    content_hash,
    parse_iso_duration,
    parse_timestamp,
    read_json_documents,
    role_from_label,
)
from edtech_map.model import Role, StrictModel
from edtech_map.privacy import KeyMaker

__all__ = [
    "SOURCE",
    "VOIDED",
    "XAPI_VERSION",
    "Config",
    "LrsCursor",
    "get_statements",
    "lrs_client",
    "lrs_label",
    "mbox_sha1sum",
    "read_lrs",
    "read_xapi",
    "statement_problem",
    "transform_statement",
]

logger = logging.getLogger(__name__)

SOURCE = "xapi"
XAPI_VERSION = "1.0.3"
VOIDED = "http://adlnet.gov/expapi/verbs/voided"

_IFIS = ("mbox", "mbox_sha1sum", "openid", "account")
_IRI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")
_SHA1 = re.compile(r"^[0-9a-fA-F]{40}$")
_LANGUAGE_TAG = re.compile(
    r"^(?:(?:[A-Za-z]{2,3}(?:-[A-Za-z]{3}){0,3}|[A-Za-z]{4,8})"
    r"(?:-[A-Za-z]{4})?(?:-(?:[A-Za-z]{2}|\d{3}))?"
    r"(?:-(?:[A-Za-z0-9]{5,8}|\d[A-Za-z0-9]{3}))*"
    r"(?:-[0-9A-WY-Za-wy-z](?:-[A-Za-z0-9]{2,8})+)*"
    r"(?:-x(?:-[A-Za-z0-9]{1,8})+)?|x(?:-[A-Za-z0-9]{1,8})+|i-[A-Za-z]+)$"
)
_INTERACTION_TYPES = {
    "true-false",
    "choice",
    "fill-in",
    "long-fill-in",
    "matching",
    "performance",
    "sequencing",
    "likert",
    "numeric",
    "other",
}
_INTERACTION_LISTS = ("choices", "scale", "source", "target", "steps")
_CONTEXT_ACTIVITY_KEYS = {"parent", "grouping", "category", "other"}
_INITIATED = {
    "student": InitiatedBy.STUDENT,
    "self": InitiatedBy.STUDENT,
    "assigned": InitiatedBy.ASSIGNED,
    "teacher": InitiatedBy.ASSIGNED,
}
_CLASS_ACTIVITY = re.compile(r"(course|class|section)$", re.IGNORECASE)


class Config(StrictModel):
    """Options for xAPI files (``sources: {kind: xapi, options: {...}}``).

    Examples
    --------
    >>> Config(district_account_homepages=["https://sis.riverside.k12.us/"]).is_district(
    ...     "https://sis.riverside.k12.us")
    True
    """

    district_account_homepages: tuple[str, ...] = Field(
        default=(),
        description="account.homePage values whose account.name is the district (SIS) id.",
    )

    def is_district(self, home_page: str) -> bool:
        """True when accounts on this homePage are named by district (SIS) id."""
        wanted = {page.rstrip("/").lower() for page in self.district_account_homepages}
        return home_page.rstrip("/").lower() in wanted


def mbox_sha1sum(mbox: str) -> str:
    """The xAPI ``mbox_sha1sum`` of an ``mbox`` IRI (SHA-1 of ``mailto:address``).

    Examples
    --------
    >>> mbox_sha1sum("mailto:xapi@adlnet.gov")
    'cd9b00a5611f94eaa7b1661edab976068e364975'
    """
    text = mbox.strip()
    if text[:7].lower() == "mailto:":
        text = "mailto:" + text[7:]
    return hashlib.sha1(text.encode()).hexdigest()  # xAPI defines mbox_sha1sum as SHA-1


# --- validation ---------------------------------------------------------------------------


def _uuid_problem(value: object) -> str | None:
    if not isinstance(value, str):
        return "must be a UUID string"
    try:
        uuid.UUID(value)
    except ValueError:
        return f"{value[:60]!r} is not a UUID"
    return None


def _iri_problem(value: object) -> str | None:
    if not isinstance(value, str) or not _IRI.match(value):
        return "must be an IRI (like https://example.com/x)"
    return None


def _language_map_problem(value: object) -> str | None:
    if not isinstance(value, dict):
        return "must be a language map like {'en-US': 'text'}"
    for tag, text in value.items():
        if not _LANGUAGE_TAG.match(str(tag)):
            return f"{str(tag)[:40]!r} is not an RFC 5646 language tag"
        if not isinstance(text, str):
            return f"the {tag!r} entry must be a string"
    return None


def _agent_problem(
    agent: object, path: str, *, group_allowed: bool = True
) -> tuple[str, str] | None:
    """Where and why an Agent or Group is invalid; never echoes an identifier."""
    if not isinstance(agent, dict):
        return path, "must be an Agent or Group object"
    kind = agent.get("objectType", "Agent")
    if kind not in ("Agent", "Group") or (kind == "Group" and not group_allowed):
        return f"{path}.objectType", f"{str(kind)[:40]!r} is not Agent or Group here"
    ifis = [name for name in _IFIS if name in agent]
    if len(ifis) > 1:
        return path, f"has {len(ifis)} identifiers ({', '.join(ifis)}); give exactly one"
    if ifis:
        problem = _ifi_problem(agent, ifis[0])
        if problem:
            return f"{path}.{ifis[0]}", problem
    if kind == "Group":
        members = agent.get("member")
        if not ifis and (not isinstance(members, list) or not members):
            return f"{path}.member", "an anonymous Group needs at least one member"
        if members is not None:
            if not isinstance(members, list):
                return f"{path}.member", "must be a list of Agents"
            for index, member in enumerate(members):
                found = _agent_problem(member, f"{path}.member[{index}]", group_allowed=False)
                if found:
                    return found
                if not any(name in member for name in _IFIS):
                    return f"{path}.member[{index}]", "needs an identifier (mbox, account, ...)"
    elif not ifis:
        return path, "needs one identifier: mbox, mbox_sha1sum, openid or account"
    return None


def _ifi_problem(agent: Mapping[str, Any], ifi: str) -> str | None:
    value = agent[ifi]
    if ifi == "mbox":
        ok = isinstance(value, str) and value.lower().startswith("mailto:") and "@" in value
        return None if ok else "must be a mailto: IRI"
    if ifi == "mbox_sha1sum":
        return None if isinstance(value, str) and _SHA1.match(value) else "must be 40 hex digits"
    if ifi == "openid":
        return _iri_problem(value)
    if not isinstance(value, dict):
        return "must be an object with homePage and name"
    if _iri_problem(value.get("homePage")):
        return "needs a homePage IRI"
    if not isinstance(value.get("name"), str) or not value["name"]:
        return "needs a name"
    return None


def _activity_problem(activity: Mapping[str, Any], path: str) -> tuple[str, str] | None:
    problem = _iri_problem(activity.get("id"))
    if problem:
        return (
            f"{path}.id",
            "missing; an Activity needs an id IRI" if "id" not in activity else problem,
        )
    definition = activity.get("definition")
    if definition is None:
        return None
    if not isinstance(definition, dict):
        return f"{path}.definition", "must be an object"
    for name in ("name", "description"):
        if name in definition:
            problem = _language_map_problem(definition[name])
            if problem:
                return f"{path}.definition.{name}", problem
    interaction = definition.get("interactionType")
    if "interactionType" in definition and (
        not isinstance(interaction, str) or interaction not in _INTERACTION_TYPES
    ):
        return f"{path}.definition.interactionType", "is not an xAPI interaction type"
    for name in _INTERACTION_LISTS:
        for index, component in enumerate(definition.get(name) or []):
            if isinstance(component, dict) and "description" in component:
                problem = _language_map_problem(component["description"])
                if problem:
                    return f"{path}.definition.{name}[{index}].description", problem
    return None


def _object_problem(
    target: object, path: str, *, sub_allowed: bool = True
) -> tuple[str, str] | None:
    if not isinstance(target, dict):
        return path, "missing; a statement needs an object" if target is None else "not an object"
    kind = target.get("objectType", "Activity")
    if kind == "Activity":
        return _activity_problem(target, path)
    if kind in ("Agent", "Group"):
        return _agent_problem(target, path)
    if kind == "StatementRef":
        problem = _uuid_problem(target.get("id"))
        return (f"{path}.id", problem) if problem else None
    if kind == "SubStatement" and sub_allowed:
        return _statement_body_problem(target, path, sub=True)
    return f"{path}.objectType", f"{str(kind)[:40]!r} is not a valid objectType here"


def _context_problem(context: object, path: str) -> tuple[str, str] | None:
    if not isinstance(context, dict):
        return path, "must be an object"
    if "registration" in context and _uuid_problem(context["registration"]):
        return f"{path}.registration", "must be a UUID"
    if "language" in context and not _LANGUAGE_TAG.match(str(context["language"])):
        return f"{path}.language", "is not an RFC 5646 language tag"
    if "instructor" in context:
        found = _agent_problem(context["instructor"], f"{path}.instructor")
        if found:
            return found
    if "team" in context:
        team = context["team"]
        if not isinstance(team, dict) or team.get("objectType") != "Group":
            return f"{path}.team", "must be a Group"
        found = _agent_problem(team, f"{path}.team")
        if found:
            return found
    if "statement" in context:
        statement = context["statement"]
        if not isinstance(statement, dict) or _uuid_problem(statement.get("id")):
            return f"{path}.statement", "must be a StatementRef with a UUID id"
    activities = context.get("contextActivities")
    if activities is not None:
        if not isinstance(activities, dict):
            return f"{path}.contextActivities", "must be an object"
        for key, value in activities.items():
            if key not in _CONTEXT_ACTIVITY_KEYS:
                return f"{path}.contextActivities", (
                    f"{str(key)[:40]!r} is not parent, grouping, category or other"
                )
            for index, activity in enumerate(value if isinstance(value, list) else [value]):
                where = f"{path}.contextActivities.{key}[{index}]"
                if not isinstance(activity, dict):
                    return where, "must be an Activity"
                found = _activity_problem(activity, where)
                if found:
                    return found
    return None


def _statement_body_problem(
    statement: Mapping[str, Any], path: str, *, sub: bool = False
) -> tuple[str, str] | None:
    prefix = f"{path}." if path else ""
    if "actor" not in statement:
        return f"{prefix}actor", "missing; a statement needs an actor"
    found = _agent_problem(statement["actor"], f"{prefix}actor")
    if found:
        return found
    verb = statement.get("verb")
    if not isinstance(verb, dict):
        return f"{prefix}verb", "missing; a statement needs a verb"
    if "id" not in verb:
        return f"{prefix}verb.id", "missing; a verb needs an id IRI"
    problem = _iri_problem(verb["id"])
    if problem:
        return f"{prefix}verb.id", problem
    if "display" in verb:
        problem = _language_map_problem(verb["display"])
        if problem:
            return f"{prefix}verb.display", problem
    found = _object_problem(statement.get("object"), f"{prefix}object", sub_allowed=not sub)
    if found:
        return found
    if verb["id"] == VOIDED and statement["object"].get("objectType") != "StatementRef":
        return f"{prefix}object", "a voiding statement's object must be a StatementRef"
    if "context" in statement:
        found = _context_problem(statement["context"], f"{prefix}context")
        if found:
            return found
    result = statement.get("result")
    if result is not None:
        if not isinstance(result, dict):
            return f"{prefix}result", "must be an object"
        if "duration" in result:
            try:
                parse_iso_duration(result["duration"])
            except ValueError as error:
                return f"{prefix}result.duration", str(error)
    return None


def statement_problem(
    statement: object, *, duplicate_keys: Sequence[str] = ()
) -> tuple[str, str] | None:
    """The first reason (field, why) a statement is not valid xAPI 1.0.3, or None.

    Checks what decides whether a statement is trustworthy usage: one identifier per agent,
    groups, verb and object ids, StatementRefs and SubStatements, context, language maps,
    interaction types, and keys given twice. It does not check attachments or signatures.

    Examples
    --------
    >>> statement_problem({"verb": {"id": "http://x.org/v"}, "object": {"id": "http://x.org/a"}})
    ('actor', 'missing; a statement needs an actor')
    >>> statement_problem({"actor": {"account": {"name": "n"}}, "verb": {"id": "http://x.org/v"},
    ...                    "object": {"id": "http://x.org/a"}})
    ('actor.account', 'needs a homePage IRI')
    """
    if not isinstance(statement, dict):
        return "(statement)", f"a {type(statement).__name__}, not a statement object"
    if duplicate_keys:
        names = ", ".join(sorted(set(duplicate_keys))[:3])
        return "(statement)", f"key(s) {names} given twice in one object; give each once"
    if "id" in statement:
        problem = _uuid_problem(statement["id"])
        if problem:
            return "id", problem
    found = _statement_body_problem(statement, "")
    if found:
        return found
    if "authority" in statement:
        return _agent_problem(statement["authority"], "authority")
    return None


# --- transform ----------------------------------------------------------------------------


def _person_key(agent: Mapping[str, Any], keys: KeyMaker, config: Config) -> str:
    if "mbox" in agent:
        return keys.user(mbox_sha1sum(agent["mbox"]), namespace="xapi-mbox-sha1")
    if "mbox_sha1sum" in agent:
        return keys.user(str(agent["mbox_sha1sum"]).lower(), namespace="xapi-mbox-sha1")
    if "openid" in agent:
        return keys.user(str(agent["openid"]), namespace="xapi-openid")
    account = agent["account"]
    home_page = str(account["homePage"])
    if config.is_district(home_page):
        return keys.user(str(account["name"]))
    return keys.user(str(account["name"]), namespace=f"xapi-account:{home_page.rstrip('/')}")


def _actor_keys(actor: Mapping[str, Any], keys: KeyMaker, config: Config) -> list[str]:
    """One key per person: a Group's members, else the agent (or identified group) itself."""
    members = actor.get("member") if actor.get("objectType") == "Group" else None
    if members:
        return list(dict.fromkeys(_person_key(member, keys, config) for member in members))
    return [_person_key(actor, keys, config)]


def _extension(extensions: object, *names: str) -> Any:
    if not isinstance(extensions, dict):
        return None
    wanted = {name.lower() for name in names}
    for key, value in extensions.items():
        tail = re.split(r"[#/]", str(key).rstrip("/"))[-1].lower().replace("_", "").replace("-", "")
        if tail in wanted:
            return value
    return None


def _origin(iri: object) -> str | None:
    if not isinstance(iri, str):
        return None
    parts = urlsplit(iri)
    if parts.scheme in ("http", "https") and parts.hostname:
        return f"{parts.scheme}://{parts.hostname}"
    return None


def _context_activities(context: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    found: list[Mapping[str, Any]] = []
    activities = context.get("contextActivities")
    if isinstance(activities, dict):
        for key in ("grouping", "parent", "category", "other"):
            value = activities.get(key)
            for activity in value if isinstance(value, list) else [value]:
                if isinstance(activity, dict):
                    found.append(activity)
    return found


def _apps(statement: Mapping[str, Any], context: Mapping[str, Any]) -> tuple[AppIdentifier, ...]:
    apps: list[AppIdentifier] = []
    platform = context.get("platform")
    if isinstance(platform, str) and platform.strip():
        apps.append(AppIdentifier(IdentifierKind.NAME, platform.strip()))
    target = statement["object"]
    if target.get("objectType", "Activity") == "Activity":
        origin = _origin(target.get("id"))
        if origin:
            apps.append(AppIdentifier(IdentifierKind.URL, origin))
    for activity in _context_activities(context):
        origin = _origin(activity.get("id"))
        if origin:
            apps.append(AppIdentifier(IdentifierKind.URL, origin))
    return tuple(dict.fromkeys(apps))


def _role(statement: Mapping[str, Any], context: Mapping[str, Any]) -> Role:
    hint = _extension(context.get("extensions"), "role", "roles", "userrole")
    if hint:
        return role_from_label(hint)
    instructor = context.get("instructor")
    actor = statement["actor"]
    if isinstance(instructor, dict) and any(
        name in actor and actor.get(name) == instructor.get(name) for name in _IFIS
    ):
        return Role.TEACHER
    return Role.UNKNOWN


def _orgs(context: Mapping[str, Any]) -> tuple[str | None, str | None]:
    extensions = context.get("extensions")
    school = _extension(extensions, "school", "schoolid", "schoolsourcedid")
    klass = _extension(extensions, "class", "classid", "classsourcedid", "section")
    if klass is None:
        for activity in _context_activities(context):
            definition = activity.get("definition")
            kind = definition.get("type") if isinstance(definition, dict) else None
            if isinstance(kind, str) and _CLASS_ACTIVITY.search(kind):
                klass = activity.get("id")
                break
    return (
        str(school) if isinstance(school, str | int) else None,
        str(klass) if isinstance(klass, str | int) else None,
    )


def transform_statement(
    raw: object,
    keys: KeyMaker,
    *,
    line: int,
    where: str = "",
    duplicate_keys: Sequence[str] = (),
    config: Config | None = None,
) -> list[UsageEvent] | Rejection | Skip:
    """One statement as usage events (one per person), or why it is rejected or skipped.

    Examples
    --------
    >>> from edtech_map.privacy import KeyMaker
    >>> transform_statement({"actor": {"mbox": "mailto:a@b.org"}, "verb": {"id": "http://v.org/x"},
    ...     "object": {"id": "http://a.org/1"}}, KeyMaker(b"0" * 32), line=4)
    Rejection(line=4, field='timestamp', reason='missing, and no stored time either; ...')
    """
    config = config or Config()

    def reject(name: str, reason: str) -> Rejection:
        return Rejection(line=line, field=f"{where}{name}", reason=reason)

    found = statement_problem(raw, duplicate_keys=duplicate_keys)
    if found:
        return reject(*found)
    assert isinstance(raw, dict)  # statement_problem checked it
    if raw["verb"]["id"] == VOIDED:
        return Skip(line, "a voiding statement (it cancels another statement, it is not usage)")
    moment = raw.get("timestamp", raw.get("stored"))
    if moment is None:
        return reject(
            "timestamp",
            "missing, and no stored time either; the LRS export must include one of them",
        )
    try:
        event_time = parse_timestamp(moment)
    except ValueError as error:
        return reject("timestamp" if "timestamp" in raw else "stored", str(error))
    context = raw.get("context") if isinstance(raw.get("context"), dict) else {}
    assert isinstance(context, dict)
    result = raw.get("result") if isinstance(raw.get("result"), dict) else {}
    assert isinstance(result, dict)
    duration = parse_iso_duration(result["duration"]) if "duration" in result else None
    user_keys = _actor_keys(raw["actor"], keys, config)
    # Without an id (Moodle and others), hash the statement with the actor's keys in place of
    # the actor: stable, and not traceable to the person without the workspace secret.
    statement_id = str(raw["id"]) if "id" in raw else content_hash({**raw, "actor": user_keys})
    target = raw["object"]
    kind = target.get("objectType", "Activity")
    definition = target.get("definition") if kind == "Activity" else None
    event_type = definition.get("type") if isinstance(definition, dict) else None
    school_id, class_id = _orgs(context)
    hint = _extension(context.get("extensions"), "initiatedby", "launchtype")
    initiated = _INITIATED.get(hint.strip().lower()) if isinstance(hint, str) else None
    return [
        UsageEvent(
            event_id=statement_id if len(user_keys) == 1 else f"{statement_id}/{user_key}",
            event_time=event_time,
            apps=_apps(raw, context),
            user_key=user_key,
            role=_role(raw, context),
            line=line,
            school_id=school_id,
            class_id=class_id,
            action=str(raw["verb"]["id"]),
            event_type=str(event_type) if isinstance(event_type, str) else kind,
            duration_seconds=duration,
            initiated_by=initiated,
            object_id=str(target["id"]) if kind in ("Activity", "StatementRef") else None,
        )
        for user_key in user_keys
    ]


def _statements(value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, list):
        for index, item in enumerate(value):
            yield f"[{index}].", item
    elif isinstance(value, dict) and isinstance(value.get("statements"), list):
        for index, item in enumerate(value["statements"]):
            yield f"statements[{index}].", item
    else:
        yield "", value


def read_xapi(path: Path, keys: KeyMaker, *, config: Config | None = None) -> Iterator[Parsed]:
    """Read one xAPI file: yield usage events, skips and rejections for every statement.

    Examples
    --------
    >>> import json, tempfile
    >>> from edtech_map.privacy import KeyMaker
    >>> path = Path(tempfile.mkdtemp()) / "statements.json"
    >>> good = {"actor": {"openid": "http://id.example.org/7"}, "verb": {"id": "http://v.org/x"},
    ...         "object": {"id": "http://a.org/1"}, "stored": "2020-01-01T00:00:00Z"}
    >>> _ = path.write_text(json.dumps([good, {**good, "verb": {}}], indent=2))
    >>> [(type(p).__name__, p.line) for p in read_xapi(path, KeyMaker(b"0" * 32))]
    [('UsageEvent', 2), ('Rejection', 14)]
    """
    config = config or Config()
    for document in read_json_documents(path):
        if document.error is not None:
            yield Rejection(document.line, "(statement)", document.error)
            continue
        for where, statement in _statements(document.value):
            outcome = transform_statement(
                statement,
                keys,
                line=document.line,
                where=where if where.startswith("statements") else "",
                duplicate_keys=document.duplicate_keys,
                config=config,
            )
            if isinstance(outcome, list):
                yield from outcome
            else:
                yield outcome


# --- reading from an LRS ------------------------------------------------------------------


@dataclass
class LrsCursor:
    """Where a pull from an LRS got to: the latest ``stored`` time seen, and how far it read.

    The next pull asks for statements stored after ``latest`` (the xAPI ``since`` filter).

    Examples
    --------
    >>> cursor = LrsCursor()
    >>> cursor.see({"stored": "2026-11-02T10:00:00Z"}); cursor.see({"stored": "2026-11-01T00:00:00Z"})
    >>> cursor.latest, cursor.statements
    ('2026-11-02T10:00:00Z', 2)
    """

    latest: str | None = None
    statements: int = 0
    pages: int = 0

    def see(self, statement: object) -> None:
        """Count a statement and move ``latest`` forward to its ``stored`` time."""
        self.statements += 1
        stored = statement.get("stored") if isinstance(statement, dict) else None
        if isinstance(stored, str):
            try:
                newer = self.latest is None or parse_timestamp(stored) > parse_timestamp(
                    self.latest
                )
            except ValueError:
                return
            if newer:
                self.latest = stored


def lrs_client(base_url: str, key: str, secret: SecretStr, **options: Any) -> HttpClient:
    """An :class:`~connectors.http.HttpClient` for an LRS: basic auth and the xAPI version header.

    Examples
    --------
    >>> client = lrs_client("https://lrs.example.org/xapi", "key", SecretStr("secret"))
    >>> client.session.headers["X-Experience-API-Version"], client.url_for("statements")
    ('1.0.3', 'https://lrs.example.org/xapi/statements')
    >>> client.close()
    """
    headers = {"X-Experience-API-Version": XAPI_VERSION, **options.pop("headers", {})}
    return HttpClient(base_url, auth=BasicAuth(key, secret), headers=headers, **options)


def get_statements(
    client: HttpClient,
    *,
    since: str | None = None,
    limit: int = 500,
    cursor: LrsCursor | None = None,
) -> Iterator[Any]:
    """Yield the raw statements of ``GET statements`` page by page, following ``more`` links.

    Asks for the oldest first (``ascending=true``) and, with ``since``, only statements stored
    after it. No retries or reshaping here: the client owns those.

    Examples
    --------
    >>> client = lrs_client("https://lrs.example.org/xapi", "k", SecretStr("s"))
    >>> type(get_statements(client)).__name__  # nothing is fetched until iterated
    'generator'
    >>> client.close()
    """
    cursor = cursor if cursor is not None else LrsCursor()
    params: dict[str, Any] = {"limit": limit, "ascending": "true"}
    if since:
        params["since"] = since
    paginator = BodyLinkPaginator("more")
    for page, response in enumerate(client.pages("statements", params, paginator=paginator), 1):
        cursor.pages = page
        body = parse_json(response, page=page)
        statements = body.get("statements") if isinstance(body, dict) else None
        if not isinstance(statements, list):
            statements = [body]  # not a StatementResult: let the transform reject it
        for statement in statements:
            cursor.see(statement)
            yield statement


def read_lrs(
    client: HttpClient,
    keys: KeyMaker,
    *,
    since: str | None = None,
    config: Config | None = None,
    cursor: LrsCursor | None = None,
) -> Iterator[Parsed]:
    """Read statements from an LRS as usage events, skips and rejections.

    A rejection's ``line`` is the statement's position in this pull (1 = the first).

    Examples
    --------
    >>> from edtech_map.privacy import KeyMaker
    >>> client = lrs_client("https://lrs.example.org/xapi", "k", SecretStr("s"))
    >>> type(read_lrs(client, KeyMaker(b"0" * 32))).__name__
    'generator'
    >>> client.close()
    """
    config = config or Config()
    for position, statement in enumerate(
        get_statements(client, since=since, cursor=cursor), start=1
    ):
        outcome = transform_statement(statement, keys, line=position, config=config)
        if isinstance(outcome, list):
            yield from outcome
        else:
            yield outcome


def lrs_label(client: HttpClient) -> str:
    """How an LRS is named in reports and sync state: its redacted statements URL.

    Examples
    --------
    >>> client = lrs_client("https://lrs.example.org/xapi/", "k", SecretStr("s"))
    >>> lrs_label(client)
    'https://lrs.example.org/xapi/statements'
    >>> client.close()
    """
    return redact_url(client.url_for("statements"))
