"""IMS Caliper Analytics 1.0, 1.1 and 1.2 events from files, as pseudonymous usage events.

Reads Sensor API envelopes (``sensor``, ``sendTime``, ``dataVersion``, ``data[]`` mixing events
and entities) and bare events, one per line (JSON Lines) or one per file (a ``.json`` file
with one object, an array, or an envelope). ``@context`` may be a string, an array or absent;
``actor``, ``object``, ``edApp``, ``group``, ``membership`` and ``session`` may be objects or
bare IRIs; Caliper 1.0's ``@id``/``@type`` and IRI-valued types and actions are understood.

The actor id is replaced by its :class:`~edtech_map.privacy.KeyMaker` key in the ``district``
namespace at once; it never reaches the store, a log or an error message.

Examples
--------
>>> from edtech_map.privacy import DISTRICT, SQL_USER_KEY, KeyMaker
>>> keys = KeyMaker(b"0" * 32)
>>> event = transform_event({
...     "id": "urn:uuid:a438f8ac-1da3-4d48-8c86-94a1b387e0f6", "type": "SessionEvent",
...     "actor": "https://example.edu/users/554433", "action": "LoggedIn",
...     "object": "https://example.edu", "eventTime": "2016-11-15T10:15:00.000Z",
...     "edApp": {"id": "https://example.edu", "type": "SoftwareApplication"},
...     "membership": {"roles": ["Learner"]}}, keys, line=1)
>>> event.user_key == keys.user("https://example.edu/users/554433"), event.role.value
(True, 'student')
>>> event.apps[0]
AppIdentifier(kind=<IdentifierKind.CALIPER_APP: 'caliper_app_id'>, value='https://example.edu')
"""

from __future__ import annotations

import itertools
import json
import logging
import re
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import duckdb
import pyarrow as pa  # type: ignore[import-untyped]  # no stubs; see docs/store.md
from pydantic import Field, field_validator

from connectors.lines import count_lines, numbered_lines_sql
from connectors.usage_events import (
    _TOO_DEEP,
    STAGE_COLUMNS,
    AppIdentifier,
    EntityRecord,
    IdentifierKind,
    InitiatedBy,
    JsonDocument,
    Outcome,
    Parsed,
    Rejection,
    UsageEvent,
    _decoder,
    _is_json_lines,
    content_hash,
    iri_tail,
    parse_iso_duration,
    parse_timestamp,
    read_json_documents,
    role_from_label,
)
from edtech_map.model import Role, StrictModel
from edtech_map.privacy import DISTRICT, SQL_USER_KEY, KeyMaker

__all__ = [
    "ENTITY_TYPES",
    "EVENT_TYPES",
    "SOURCE",
    "Config",
    "is_envelope",
    "is_event",
    "read_caliper",
    "stage_caliper",
    "transform_event",
]

logger = logging.getLogger(__name__)

SOURCE = "caliper"

EVENT_TYPES: frozenset[str] = frozenset(
    {
        "Event",
        "AnnotationEvent",
        "AssessmentEvent",
        "AssessmentItemEvent",
        "AssignableEvent",
        "FeedbackEvent",
        "ForumEvent",
        "GradeEvent",
        "MediaEvent",
        "MessageEvent",
        "NavigationEvent",
        "OutcomeEvent",
        "QuestionnaireEvent",
        "QuestionnaireItemEvent",
        "ReadingEvent",
        "ResourceManagementEvent",
        "SearchEvent",
        "SessionEvent",
        "SurveyEvent",
        "SurveyInvitationEvent",
        "ThreadEvent",
        "ToolLaunchEvent",
        "ToolUseEvent",
        "ViewEvent",
    }
)
"""Caliper 1.0-1.2 event types (1.0's ``ReadingEvent`` and ``OutcomeEvent`` included)."""

ENTITY_TYPES: frozenset[str] = frozenset(
    [
        "Entity",
        "Agent",
        "AggregateMeasure",
        "AggregateMeasureCollection",
        "Annotation",
        "Assessment",
        "AssessmentItem",
        "AssignableDigitalResource",
        "Attempt",
        "AudioObject",
        "BookmarkAnnotation",
        "Chapter",
        "Collection",
        "Comment",
        "CourseOffering",
        "CourseSection",
        "DateTimeQuestion",
        "DateTimeResponse",
        "DigitalResource",
        "DigitalResourceCollection",
        "Document",
        "EpubChapter",
        "EpubPart",
        "EpubSubChapter",
        "EpubVolume",
        "FillinBlankResponse",
        "Forum",
        "Frame",
        "Group",
        "HighlightAnnotation",
        "ImageObject",
        "LearningObjective",
        "LikertScale",
        "Link",
        "LtiLink",
        "LtiSession",
        "MediaLocation",
        "MediaObject",
        "Membership",
        "Message",
        "MultipleChoiceResponse",
        "MultipleResponseResponse",
        "MultiselectQuestion",
        "MultiselectResponse",
        "MultiselectScale",
        "NumericScale",
        "OpenEndedQuestion",
        "OpenEndedResponse",
        "Organization",
        "Page",
        "Person",
        "Query",
        "Question",
        "Questionnaire",
        "QuestionnaireItem",
        "Rating",
        "RatingScaleQuestion",
        "RatingScaleResponse",
        "Reading",
        "Response",
        "Result",
        "Scale",
        "Score",
        "SearchResponse",
        "SelectTextResponse",
        "Session",
        "SharedAnnotation",
        "SoftwareApplication",
        "Survey",
        "SurveyInvitation",
        "SystemIdentifier",
        "TagAnnotation",
        "TextPositionSelector",
        "Thread",
        "TrueFalseResponse",
        "VideoObject",
        "WebPage",
    ]
)
"""Caliper 1.0-1.2 entity types."""

_CANONICAL = {name.lower(): name for name in EVENT_TYPES | ENTITY_TYPES}
_SESSION_END_ACTIONS = {"LoggedOut", "TimedOut"}
_CLASS_TYPES = {"CourseSection", "Group", "CourseOffering"}
_LTI_DEPLOYMENT = "https://purl.imsglobal.org/spec/lti/claim/deployment_id"
_INITIATED = {
    "student": InitiatedBy.STUDENT,
    "self": InitiatedBy.STUDENT,
    "assigned": InitiatedBy.ASSIGNED,
    "teacher": InitiatedBy.ASSIGNED,
    "assignment": InitiatedBy.ASSIGNED,
}
_PEOPLE = {"Person", "Agent", "Membership", "Group"}
_SPACE = re.compile(r"\s")
_UUID_URN = re.compile(r"^urn:uuid:", re.IGNORECASE)


class Config(StrictModel):
    """Options for Caliper files (``sources: {kind: caliper, options: {...}}``).

    ``sis_id_pattern`` is a regular expression with one group, ``id``, that takes the
    district (SIS) id out of an actor IRI, so that the key matches the OneRoster user's; without
    it the whole actor id is the district id.

    Examples
    --------
    >>> Config(sis_id_pattern=r"/users/(?P<id>[^/]+)$").sis_id("https://example.edu/users/554433")
    '554433'
    >>> Config().sis_id("https://example.edu/users/554433")
    'https://example.edu/users/554433'
    """

    sis_id_pattern: str | None = Field(
        default=None, description="Regex with an `id` group taking the SIS id out of actor ids."
    )

    @field_validator("sis_id_pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                compiled = re.compile(value)
            except re.error as error:
                raise ValueError(f"not a regular expression ({error})") from None
            if "id" not in compiled.groupindex:
                raise ValueError("needs a named group `id`, e.g. /users/(?P<id>[^/]+)$")
        return value

    def sis_id(self, actor_id: str) -> str:
        """The district id inside an actor id (the whole id when the pattern does not match)."""
        if self.sis_id_pattern is None:
            return actor_id
        match = re.search(self.sis_id_pattern, actor_id)
        return match.group("id") if match and match.group("id") else actor_id


def is_envelope(value: object) -> bool:
    """True for a Caliper Sensor API envelope: an object with ``data[]`` and sensor fields.

    Examples
    --------
    >>> is_envelope({"sensor": "s", "sendTime": "2020-01-01T00:00:00Z", "data": []})
    True
    >>> is_envelope({"type": "Person", "id": "x"})
    False
    """
    return (
        isinstance(value, dict)
        and isinstance(value.get("data"), list)
        and any(key in value for key in ("sensor", "sendTime", "dataVersion"))
    )


def _get(node: Mapping[str, Any], name: str) -> Any:
    """A property under its 1.1/1.2 name or its 1.0 JSON-LD name (``id``/``@id``)."""
    if name in node:
        return node[name]
    return node.get("@" + name) if name in ("id", "type", "context") else None


def _node_id(value: Any) -> str | None:
    """The id of a referenced node, given as an object or as a bare IRI string."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, dict):
        node_id = _get(value, "id")
        return node_id.strip() or None if isinstance(node_id, str) else None
    return None


def _node_type(value: Any) -> str | None:
    if isinstance(value, dict):
        kind = _get(value, "type")
        if isinstance(kind, str) and kind:
            tail = iri_tail(kind)
            return _CANONICAL.get(tail.lower(), tail)
    return None


def _extension(node: Any, *names: str) -> Any:
    if not isinstance(node, dict):
        return None
    extensions = node.get("extensions")
    if not isinstance(extensions, dict):
        return None
    wanted = {name.lower() for name in names}
    for key, value in extensions.items():
        if re.split(r"[#/]", str(key))[-1].lower().replace("_", "") in wanted:
            return value
    return None


def is_event(value: Mapping[str, Any]) -> bool:
    """True when an object claims to be an event: it has an ``action`` or an ``eventTime``.

    Examples
    --------
    >>> is_event({"type": "ViewEvent", "action": "Viewed"}), is_event({"type": "Person"})
    (True, False)
    """
    return "action" in value or "eventTime" in value


def _apps(event: Mapping[str, Any]) -> tuple[AppIdentifier, ...]:
    apps: list[AppIdentifier] = []
    ed_app = _node_id(event.get("edApp"))
    if ed_app:
        apps.append(AppIdentifier(IdentifierKind.CALIPER_APP, ed_app))
    federated = event.get("federatedSession")
    params = federated.get("messageParameters") if isinstance(federated, dict) else None
    if isinstance(params, dict):
        deployment = params.get(_LTI_DEPLOYMENT)
        if isinstance(deployment, str) and deployment:
            apps.append(AppIdentifier(IdentifierKind.LTI_DEPLOYMENT, deployment))
        audience = params.get("aud")
        clients = [audience] if isinstance(audience, str) else audience or []
        for client in [params.get("azp"), *clients]:
            if isinstance(client, str) and client:
                apps.append(AppIdentifier(IdentifierKind.LTI_CLIENT, client))
    event_object = event.get("object")
    if _node_type(event_object) == "SoftwareApplication":
        object_id = _node_id(event_object)
        if object_id:
            apps.append(AppIdentifier(IdentifierKind.CALIPER_APP, object_id))
    if ed_app:
        apps.append(AppIdentifier(IdentifierKind.URL, ed_app))
    object_id = _node_id(event_object)
    if object_id and _node_type(event_object) not in _PEOPLE:
        origin = _origin(object_id)  # scheme and host only: a path may name a person
        if origin:
            apps.append(AppIdentifier(IdentifierKind.URL, origin))
    return tuple(dict.fromkeys(apps))


def _origin(iri: str) -> str | None:
    parts = urlsplit(iri)
    if parts.scheme in ("http", "https") and parts.hostname:
        return f"{parts.scheme}://{parts.hostname}"
    return None


def _orgs(event: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(school id, class id): the class from ``group``/``membership.organization`` or the
    object's ``isPartOf`` (also under ``extensions``), the school from the first ancestor
    (``subOrganizationOf``) that is an ``Organization``."""
    membership = event.get("membership")
    candidates = [event.get("group")]
    if isinstance(membership, dict):
        candidates.append(membership.get("organization"))
    event_object = event.get("object")
    if isinstance(event_object, dict):
        candidates += [event_object.get("isPartOf"), _extension(event_object, "isPartOf")]
    class_id: str | None = None
    school_id: str | None = None
    for candidate in candidates:
        node, seen = candidate, 0
        while node is not None and seen < 8:
            seen += 1
            kind = _node_type(node)
            if kind == "Organization" and school_id is None:
                school_id = _node_id(node)
            elif kind in _CLASS_TYPES and class_id is None:
                class_id = _node_id(node)
            elif kind is None and class_id is None and candidate is candidates[0]:
                class_id = _node_id(node)  # a bare `group` IRI names the class
            node = node.get("subOrganizationOf") if isinstance(node, dict) else None
        if school_id is not None and class_id is not None:
            break
    return school_id, class_id


def _role(event: Mapping[str, Any]) -> Role:
    membership = event.get("membership")
    if isinstance(membership, dict) and membership.get("roles"):
        return role_from_label(membership["roles"])
    hint = _extension(event, "userRole", "role", "roles") or _extension(
        event.get("object"), "userRole"
    )
    return role_from_label(hint) if hint else Role.UNKNOWN


def _duration(event: Mapping[str, Any], action: str) -> float | None:
    """Seconds of use the event reports: a session's length when it ends, or 1.0's duration.

    Only the event that ends a session (``LoggedOut``, ``TimedOut``) counts the session's
    duration, so the minutes of one session are never added up once per event in it.
    """
    text: Any = None
    session = event.get("session")
    if action in _SESSION_END_ACTIONS and isinstance(session, dict):
        text = session.get("duration")
    if text is None and isinstance(event.get("duration"), str):
        text = event["duration"]
    return parse_iso_duration(text) if isinstance(text, str) else None


def _initiated_by(event: Mapping[str, Any]) -> InitiatedBy | None:
    hint = _extension(event, "initiatedBy", "launchType")
    if isinstance(hint, str) and hint.strip().lower() in _INITIATED:
        return _INITIATED[hint.strip().lower()]
    if _node_type(event.get("object")) == "AssignableDigitalResource":
        return InitiatedBy.ASSIGNED
    return None


def _check_id(value: Any) -> str | None:
    """The reason an event id is not usable, or None when it is."""
    if not isinstance(value, str) or not value.strip():
        return "must be a non-empty string (urn:uuid:...)"
    if _SPACE.search(value) or len(value) > 512:
        return f"{value[:80]!r} is not an IRI (no spaces, at most 512 characters)"
    if _UUID_URN.match(value):
        try:
            uuid.UUID(value[9:])
        except ValueError:
            return f"{value!r} is not a valid urn:uuid"
    return None


def transform_event(
    raw: Mapping[str, Any],
    keys: KeyMaker,
    *,
    line: int,
    where: str = "",
    config: Config | None = None,
) -> UsageEvent | Rejection:
    """One Caliper event as a pseudonymous :class:`UsageEvent`, or why it cannot be one.

    ``where`` prefixes field names in rejections (``data[3].``) for events inside envelopes.

    Examples
    --------
    >>> from edtech_map.privacy import KeyMaker
    >>> transform_event({"type": "ViewEvent", "action": "Viewed"}, KeyMaker(b"0" * 32), line=7)
    Rejection(line=7, field='actor', reason='missing; every event needs an actor (a Person id)')
    >>> transform_event({"type": "NoSuchEvent", "action": "Viewed", "actor": "a",
    ...                  "eventTime": "2020-01-01T00:00:00Z"}, KeyMaker(b"0" * 32), line=2).reason
    "'NoSuchEvent' is not a Caliper event type"
    """
    config = config or Config()

    def reject(name: str, reason: str) -> Rejection:
        return Rejection(line=line, field=f"{where}{name}", reason=reason)

    kind = _get(raw, "type")
    if not isinstance(kind, str) or not kind:
        return reject("type", "missing; every Caliper event names its type (e.g. ViewEvent)")
    event_type = _CANONICAL.get(iri_tail(kind).lower())
    if event_type not in EVENT_TYPES:
        return reject("type", f"{iri_tail(kind)[:80]!r} is not a Caliper event type")
    actor_id = _node_id(raw.get("actor"))
    if actor_id is None:
        return reject("actor", "missing; every event needs an actor (a Person id)")
    action = raw.get("action")
    if not isinstance(action, str) or not action.strip():
        return reject("action", "missing; every event needs an action (e.g. Viewed)")
    action = iri_tail(action.strip())
    if "eventTime" not in raw:
        return reject("eventTime", "missing; every event needs an eventTime")
    try:
        event_time = parse_timestamp(raw["eventTime"])
    except ValueError as error:
        return reject("eventTime", str(error))
    user_key = keys.user(config.sis_id(actor_id))
    raw_id = _get(raw, "id")
    if raw_id is None:
        # Caliper 1.0 events have no id: hash the event with the actor's key in place of the
        # actor, so the id is stable and cannot be traced back to the person without the secret.
        event_id = content_hash({**raw, "actor": user_key})
    else:
        problem = _check_id(raw_id)
        if problem:
            return reject("id", problem)
        event_id = str(raw_id).strip()
    try:
        duration = _duration(raw, action)
    except ValueError as error:
        return reject("session.duration", str(error))
    school_id, class_id = _orgs(raw)
    return UsageEvent(
        event_id=event_id,
        event_time=event_time,
        apps=_apps(raw),
        user_key=user_key,
        role=_role(raw),
        line=line,
        school_id=school_id,
        class_id=class_id,
        action=action,
        event_type=event_type,
        duration_seconds=duration,
        initiated_by=_initiated_by(raw),
        object_id=None if _node_type(raw.get("object")) in _PEOPLE else _node_id(raw.get("object")),
    )


def _classify(value: Any, keys: KeyMaker, line: int, where: str, config: Config) -> Parsed:
    if not isinstance(value, dict):
        return Rejection(
            line,
            where.rstrip(".") or "(record)",
            f"a {type(value).__name__}, not a Caliper event or entity object",
        )
    if is_event(value):
        return transform_event(value, keys, line=line, where=where, config=config)
    kind = _node_type(value)
    if kind is not None:
        return EntityRecord(line=line, type=kind)
    return Rejection(
        line,
        where.rstrip(".") or "(record)",
        "not a Caliper event or entity (no type, action or eventTime)",
    )


def read_caliper(path: Path, keys: KeyMaker, *, config: Config | None = None) -> Iterator[Parsed]:
    """Read one Caliper file: yield a usage event, entity, or rejection for every record.

    Examples
    --------
    >>> import json, tempfile
    >>> from edtech_map.privacy import KeyMaker
    >>> path = Path(tempfile.mkdtemp()) / "events.jsonl"
    >>> event = {"id": "urn:uuid:a438f8ac-1da3-4d48-8c86-94a1b387e0f6", "type": "ViewEvent",
    ...          "actor": "https://example.edu/users/1", "action": "Viewed",
    ...          "object": "https://example.edu/p/1", "eventTime": "2020-01-01T10:00:00Z"}
    >>> envelope = {"sensor": "s", "sendTime": "2020-01-01T10:00:01Z",
    ...             "data": [event, {"id": "https://example.edu/users/1", "type": "Person"}]}
    >>> _ = path.write_text(json.dumps(event) + "\\n{oops\\n" + json.dumps(envelope) + "\\n")
    >>> [type(p).__name__ for p in read_caliper(path, KeyMaker(b"0" * 32))]
    ['UsageEvent', 'Rejection', 'UsageEvent', 'EntityRecord']
    """
    config = config or Config()
    for document in read_json_documents(path):
        yield from _document_outcomes(document, keys, config)


def _document_outcomes(document: JsonDocument, keys: KeyMaker, config: Config) -> Iterator[Parsed]:
    """The outcomes of one JSON document (a line of a JSON Lines file, or one value)."""
    if document.error is not None:
        yield Rejection(document.line, "(record)", document.error)
        return
    value = document.value
    if is_envelope(value):
        for index, item in enumerate(value["data"]):
            yield _classify(item, keys, document.line, f"data[{index}].", config)
    elif isinstance(value, list):  # an array of events on one line
        for index, item in enumerate(value):
            yield _classify(item, keys, document.line, f"[{index}].", config)
    else:
        yield _classify(value, keys, document.line, "", config)


# --- The bulk reader: a whole JSON Lines file in DuckDB SQL -----------------------------------
#
# `stage_caliper` gives every record the outcome `read_caliper` gives it. SQL reads the
# records whose shape it reproduces exactly; a line holding any record outside that shape
# (invalid JSON, duplicate keys, an event without an id, an unusual time, duration or role,
# LTI launch parameters, extension hints, ...) is read by the Python code above, line by line,
# so the two readers can only disagree where the SQL below has a bug.

_MACRO = "edtech_caliper_"
_JSON_SPACE = "chr(32) || chr(9) || chr(10) || chr(13)"
_PY_SPACE = "".join(chr(c) for c in range(0x3001) if chr(c).isspace())
_SAFE_REPR = r"^[ !#-&(-\[\]-~]*$"  # printable ASCII without ' or \: repr() only quotes it
_TIME = (
    r"^([0-9]{4})-[0-9]{2}-[0-9]{2}T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    r"(?:\.[0-9]{1,6})?(Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])?$"
)
_WHOLE_DURATION = (
    r"^P(?:([0-9]{1,9})W)?(?:([0-9]{1,9})D)?"
    r"(?:T(?:([0-9]{1,9})H)?(?:([0-9]{1,9})M)?(?:([0-9]{1,9})S)?)?$"
)
_STRICT_UUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
_HTTP_ORIGIN = r"^(?i:(https?))://([A-Za-z0-9._-]+)(?::[0-9]*)?(?:[/?#]|$)"
_NODE_DEPTH = 3  # subOrganizationOf levels read in SQL; a deeper chain is read in Python
_WANTED_ROLE = ("userrole", "role", "roles")
_WANTED = (*_WANTED_ROLE, "initiatedby", "launchtype", "ispartof")
_REASONS = {
    "type": "missing; every Caliper event names its type (e.g. ViewEvent)",
    "actor": "missing; every event needs an actor (a Person id)",
    "action": "missing; every event needs an action (e.g. Viewed)",
    "eventTime": "missing; every event needs an eventTime",
    "id": "must be a non-empty string (urn:uuid:...)",
    "record": "not a Caliper event or entity (no type, action or eventTime)",
}


def _q(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def _sql_map(mapping: Mapping[str, str]) -> str:
    items = sorted(mapping.items())
    return f"MAP([{', '.join(_q(k) for k, _ in items)}], [{', '.join(_q(v) for _, v in items)}])"


def _sql_list(values: Iterator[str] | tuple[str, ...] | list[str]) -> str:
    return "[" + ", ".join(_q(value) for value in values) + "]"


def _macros() -> dict[str, str]:
    """The temporary SQL macros the bulk reader uses, by name (without the prefix)."""
    from connectors import usage_events

    space = " || ".join(f"chr({ord(c)})" for c in _PY_SPACE)
    m = _MACRO
    return {
        # Python's str.strip(): Unicode white space at both ends
        "strip(s)": (  # most ids need no trimming: skip the slow multi-character trim
            "CASE WHEN ord(s[1]) BETWEEN 33 AND 126 AND ord(s[-1]) BETWEEN 33 AND 126 THEN s "
            f"ELSE trim(s, {space}) END"
        ),
        "ascii(s)": "strlen(s) = length(s)",
        "tail(s)": (
            "CASE WHEN NOT contains(s, '://') AND NOT starts_with(s, 'urn:') THEN s "
            "ELSE regexp_extract(rtrim(s, '/#'), '[^#/]*$') END"
        ),
        "canonical(s)": f"{_sql_map(_CANONICAL)}[lower(s)]",
        "kind(s)": f"coalesce({m}canonical(s), s)",
        "safe(s)": f"regexp_matches(s, {_q(_SAFE_REPR)})",
        "key(k)": "replace(lower(regexp_extract(k, '[^#/]*$')), '_', '')",
        "role_text(t)": (
            "CASE WHEN contains(t, '/membership#') OR contains(t, '/person#') "
            "THEN regexp_extract(t, '[^#]*$') "
            f"WHEN contains(t, '://') THEN {m}tail(t) ELSE t END"
        ),
        "role_word(p)": "regexp_replace(lower(p), '[^a-z]', '', 'g')",
        "role_of(t)": (
            f"CASE WHEN t = '' THEN 'unknown' "
            f"WHEN {m}role_word(CASE WHEN contains(t, '#') "
            "THEN substr(t, strpos(t, '#') + 1) ELSE '' END) = 'teachingassistant' "
            "THEN 'aide' "
            f"ELSE coalesce({_sql_map({k: v.value for k, v in usage_events._ROLE_WORDS.items()})}"
            f"[{m}role_word(split_part(t, '#', 1))], 'unknown') END"
        ),
        "role(s)": f"{m}role_of({m}role_text({m}strip(s)))",
        "role_pick(roles)": (
            "CASE "
            + " ".join(
                f"WHEN list_contains(roles, {_q(r.value)}) THEN {_q(r.value)}"
                for r in usage_events._ROLE_RANK
            )
            + " ELSE coalesce(list_min(list_filter(CAST(roles AS VARCHAR[]), lambda r: r <> 'unknown')), 'unknown') END"
        ),
    }


def _install_macros(con: duckdb.DuckDBPyConnection) -> None:
    for signature, body in _macros().items():
        con.execute(f"CREATE OR REPLACE TEMP MACRO {_MACRO}{signature} AS {body}")


class _Shape:
    """The JSON paths read from each record, and SQL over the lists of their types and values.

    ``jt[i]`` is the JSON type at path ``i`` (NULL when missing, ``'NULL'`` for a JSON null),
    ``js[i]`` its text (a string's value), ``jk[i]`` the keys of an object.
    """

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.strings: list[str] = []
        self.objects: list[str] = []

    @staticmethod
    def _path(dotted: str) -> str:
        parts = [part for part in dotted.split(".") if part]
        return "$" + "".join(f'."{part}"' if part.startswith("@") else f".{part}" for part in parts)

    def _at(self, dotted: str) -> int:
        path = self._path(dotted)
        if path not in self.paths:
            self.paths.append(path)
        return self.paths.index(path) + 1

    def _string_at(self, dotted: str) -> int:
        path = self._path(dotted)
        if path not in self.strings:
            self.strings.append(path)
        return self.strings.index(path) + 1

    def keys(self, dotted: str) -> str:
        """The keys of the object at a path ([] when it is not an object, NULL when missing)."""
        path = self._path(dotted)
        if path not in self.objects:
            self.objects.append(path)
        return f"jk[{self.objects.index(path) + 1}]"

    def type(self, dotted: str) -> str:
        return f"jt[{self._at(dotted)}]"

    def text(self, dotted: str) -> str:
        """The string at a path; NULL when it is missing or not a string."""
        return (
            f"CASE WHEN jt[{self._at(dotted)}] = 'VARCHAR' THEN js[{self._string_at(dotted)}] END"
        )

    def present(self, dotted: str) -> str:
        """Python's ``node.get(name) is not None``."""
        return f"coalesce({self.type(dotted)} <> 'NULL', false)"

    def get(self, dotted: str, name: str) -> tuple[str, str]:
        """(JSON type, string) of ``_get(node, name)``: ``name`` when present, else ``@name``."""
        prefix = f"{dotted}." if dotted else ""
        plain, at = prefix + name, f"{prefix}@{name}"
        kind = f"CASE WHEN {self.type(plain)} IS NOT NULL THEN {self.type(plain)} ELSE {self.type(at)} END"
        text = f"CASE WHEN {self.type(plain)} IS NOT NULL THEN {self.text(plain)} ELSE {self.text(at)} END"
        return kind, text

    def node_id(self, dotted: str) -> str:
        """``_node_id``: a bare IRI string, or an object's ``id``/``@id`` string, stripped."""
        _, inner = self.get(dotted, "id")
        # A bare IRI is read again on its own (one more parse, for those records only):
        # listing the node among the strings would serialise it on every record where it
        # is an object.
        value = (
            f"CASE WHEN {self.type(dotted)} = 'VARCHAR' "
            f"THEN json_extract_string(rec, {_q(self._path(dotted))}) "
            f"WHEN {self.type(dotted)} = 'OBJECT' THEN {inner} END"
        )
        return f"nullif({_MACRO}strip({value}), '')"

    def type_tail(self, dotted: str) -> str:
        """The IRI tail of an object node's non-empty type string; NULL when it has none."""
        _, text = self.get(dotted, "type")
        return f"{_MACRO}tail(nullif(CASE WHEN {self.type(dotted)} = 'OBJECT' THEN {text} END, ''))"

    def raw(self, dotted: str) -> str:
        """The JSON text at a path (a string's value), whatever its type."""
        return f"js[{self._string_at(dotted)}]"

    def sql(self) -> tuple[str, str, str]:
        """The path lists for ``json_type``, ``json_extract_string`` and ``json_keys``."""
        return tuple(  # type: ignore[return-value]
            "[" + ", ".join(_q(p) for p in paths) + "]"
            for paths in (self.paths, self.strings, self.objects)
        )


def _record_sql() -> tuple[str, str, str, str]:
    """(columns read from ``jt``/``js``/``jk``, and the path lists that fill those three)."""
    r = _Shape()
    m = _MACRO
    cols: dict[str, str] = {}
    cols["is_object"] = f"{r.type('')} = 'OBJECT'"
    cols["is_event"] = f"({r.type('action')} IS NOT NULL OR {r.type('eventTime')} IS NOT NULL)"
    cols["type_text"] = r.get("", "type")[1]
    cols["type_tail"] = r.type_tail("")
    cols["actor_id"] = r.node_id("actor")
    cols["action_text"] = f"{m}strip({r.text('action')})"
    cols["time_type"] = r.type("eventTime")
    cols["time_text"] = f"{m}strip({r.text('eventTime')})"
    cols["id_type"], cols["id_text"] = r.get("", "id")
    cols["ed_app"] = r.node_id("edApp")
    cols["object_id"] = r.node_id("object")
    cols["object_tail"] = r.type_tail("object")
    cols["membership_type"] = r.type("membership")
    cols["roles_type"] = r.type("membership.roles")
    cols["roles_json"] = r.raw("membership.roles")
    cols["session_type"] = r.type("session")
    cols["session_duration_type"] = r.type("session.duration")
    cols["session_duration"] = r.text("session.duration")
    cols["duration"] = r.text("duration")
    cols["federated_type"] = r.type("federatedSession")
    cols["extension_keys"] = r.keys("extensions")
    cols["object_extension_keys"] = r.keys("object.extensions")
    for i, candidate in enumerate(_CANDIDATES):  # as JSON, for _orgs_sql
        cols[f"c{i}"] = (
            f"CASE WHEN {r.type(candidate)} = 'VARCHAR' THEN to_json({r.text(candidate)}) "
            f"WHEN {r.type(candidate)} <> 'NULL' THEN {r.raw(candidate)} END"
        )
    for dotted in ("", "actor", "edApp", "object", "membership", "session"):
        r.keys(dotted)
    cols["duplicates"] = (
        "coalesce(list_bool_or(list_transform(jk, lambda k: "
        "coalesce(len(k) <> len(list_distinct(k)), false))), false)"
    )
    return (", ".join(f"{expr} AS {name}" for name, expr in cols.items()), *r.sql())


_CANDIDATES = ("group", "membership.organization", "object.isPartOf")


def _orgs_sql() -> tuple[str, str, str, str]:
    """Like :func:`_record_sql`, over a document holding only the three places a class or
    school is found (``group``, ``membership.organization``, ``object.isPartOf``), so the
    ``subOrganizationOf`` chains are read once per distinct combination, not per event."""
    r = _Shape()
    cols: dict[str, str] = {}
    nodes: list[tuple[str, bool]] = []
    for candidate in _CANDIDATES:
        path = candidate
        for depth in range(_NODE_DEPTH):
            name = f"n{len(nodes)}"
            cols[f"{name}_id"] = r.node_id(path)
            cols[f"{name}_tail"] = r.type_tail(path)
            r.keys(path)
            nodes.append((name, candidate == "group"))
            path += ".subOrganizationOf"
            if depth == _NODE_DEPTH - 1:
                cols[f"{name}_deeper"] = r.present(path)
    cols["duplicates"] = (
        "coalesce(list_bool_or(list_transform(jk, lambda k: "
        "coalesce(len(k) <> len(list_distinct(k)), false))), false)"
    )
    return (", ".join(f"{expr} AS {name}" for name, expr in cols.items()), *r.sql())


def _node_names() -> list[tuple[str, bool]]:
    return [(f"n{i}", i < _NODE_DEPTH) for i in range(3 * _NODE_DEPTH)]


def _org_doc() -> str:
    """SQL building the document :func:`_orgs_sql` reads from a record's ``c0``..``c2``."""
    return (
        """'{"group":' || coalesce(c0, 'null') || ',"membership":{"organization":' """
        """|| coalesce(c1, 'null') || '},"object":{"isPartOf":' || coalesce(c2, 'null') """
        """|| '}}'"""
    )


def _fast_sql(source: str) -> str:
    """SQL: every record of ``source`` with its outcome and, for ``event`` rows, its fields;
    ``status`` is ``py`` for a record only the Python reader can read exactly."""
    m = _MACRO
    columns, types, strings, objects = _record_sql()
    org_columns, org_types, org_strings, org_objects = _orgs_sql()
    canonical = ", ".join(f"({_q(k)}, {_q(v)})" for k, v in sorted(_CANONICAL.items()))
    nodes = _node_names()
    kinds = ", ".join(f"{m}kind({n}_tail) AS {n}_kind" for n, _ in nodes)
    school = ", ".join(f"CASE WHEN {n}_kind = 'Organization' THEN {n}_id END" for n, _ in nodes)
    classes = _sql_list(sorted(_CLASS_TYPES))
    klass = ", ".join(
        f"CASE WHEN list_contains({classes}, {n}_kind) THEN {n}_id"
        + (f" WHEN {n}_kind IS NULL THEN {n}_id" if first else "")
        + " END"
        for n, first in nodes
    )
    tails = " AND ".join(f"coalesce({m}ascii({n}_tail), true)" for n, _ in nodes)
    deeper = " OR ".join(f"{n}_deeper" for n, _ in nodes if f"{n}_deeper" in org_columns)
    space = r"[\t\n\x0b\x0c\r\x1c-\x1f ]"
    wanted = _sql_list(_WANTED)
    people = _sql_list(sorted(_PEOPLE))
    return f"""
    WITH parsed AS MATERIALIZED (
        SELECT line, idx, prefix, {columns} FROM (
            SELECT line, idx, prefix, rec, json_type(rec, {types}) AS jt,
                   json_extract_string(rec, {strings}) AS js, json_keys(rec, {objects}) AS jk
            FROM {source})
    ), canonical AS (  -- a join, cheaper per record than a MAP lookup
        SELECT * FROM (VALUES {canonical}) AS t(lower_name, name)
    ), orgs AS (  -- school and class once per distinct group/organization/isPartOf
        SELECT c0, c1, c2, coalesce({school}) AS school_id, coalesce({klass}) AS class_id,
            duplicates OR {deeper} OR NOT ({tails}) AS orgs_py
        FROM (
            SELECT *, {kinds} FROM (
                SELECT c0, c1, c2, {org_columns} FROM (
                    SELECT *, json_type(rec, {org_types}) AS jt,
                        json_extract_string(rec, {org_strings}) AS js,
                        json_keys(rec, {org_objects}) AS jk
                    FROM (SELECT *, {_org_doc()} AS rec
                          FROM (SELECT DISTINCT c0, c1, c2 FROM parsed)))))
    ), roles AS (  -- a role once per distinct membership.roles, not once per event
        SELECT *, CASE roles_kind
                      WHEN 'one' THEN {m}role(roles_json)
                      WHEN 'list' THEN {m}role_pick(list_transform(role_items, lambda x: {m}role(x)))
                      ELSE 'unknown' END AS role
        FROM (
            SELECT *,
                CASE WHEN membership_type IS DISTINCT FROM 'OBJECT'
                       OR roles_type IS NULL OR roles_type = 'NULL'
                       OR (roles_type = 'VARCHAR' AND roles_json = '')
                       OR (roles_type = 'ARRAY' AND len(role_items) = 0) THEN 'hint'
                     WHEN roles_type = 'VARCHAR' AND {m}ascii(roles_json) THEN 'one'
                     WHEN roles_type = 'ARRAY'
                          AND list_bool_and(list_transform(role_types, lambda x: x = 'VARCHAR'))
                          AND list_bool_and(list_transform(role_items, lambda x: {m}ascii(x)))
                          THEN 'list'
                     ELSE 'py' END AS roles_kind
            FROM (
                SELECT *,
                    CASE WHEN roles_type = 'ARRAY'
                         THEN json_extract_string(roles_json, '$[*]') END AS role_items,
                    CASE WHEN roles_type = 'ARRAY'
                         THEN json_type(roles_json, '$[*]') END AS role_types
                FROM (SELECT DISTINCT membership_type, roles_type, roles_json FROM parsed)))
    ), named AS (
        SELECT parsed.*, roles.roles_kind, roles.role,
               orgs.school_id, orgs.class_id, orgs.orgs_py,
               types.name AS event_type, coalesce(types.name, type_tail) AS record_kind,
               {m}tail(action_text) AS action,
               coalesce(object_types.name, object_tail) AS object_kind
        FROM parsed
        LEFT JOIN canonical AS types ON lower(parsed.type_tail) = types.lower_name
        LEFT JOIN canonical AS object_types ON lower(parsed.object_tail) = object_types.lower_name
        JOIN roles
            ON parsed.membership_type IS NOT DISTINCT FROM roles.membership_type
            AND parsed.roles_type IS NOT DISTINCT FROM roles.roles_type
            AND parsed.roles_json IS NOT DISTINCT FROM roles.roles_json
        JOIN orgs
            ON parsed.c0 IS NOT DISTINCT FROM orgs.c0
            AND parsed.c1 IS NOT DISTINCT FROM orgs.c1
            AND parsed.c2 IS NOT DISTINCT FROM orgs.c2
    ), derived AS (
        SELECT *,
            {m}strip(CASE WHEN action IN ('LoggedOut', 'TimedOut') AND session_type = 'OBJECT'
                      AND coalesce(session_duration_type <> 'NULL', false)
                      THEN session_duration ELSE duration END) AS duration_text,
            coalesce(list_has_any(list_transform(extension_keys, lambda k: {m}key(k)), {wanted}), false)
            OR coalesce(list_has_any(list_transform(object_extension_keys, lambda k: {m}key(k)),
                                     {wanted}), false) AS hinted,
            regexp_extract(object_id, {_q(_HTTP_ORIGIN)}, ['scheme', 'host']) AS url
        FROM named
    ), timed AS (
        SELECT *,
            CASE WHEN url.host <> '' THEN lower(url.scheme) || '://' || lower(url.host) END
                AS origin,
            CASE WHEN regexp_matches(duration_text, {_q(_WHOLE_DURATION)})
                      AND duration_text NOT IN ('P', 'PT') AND NOT suffix(duration_text, 'T')
                 THEN 0.0
                      + coalesce(CAST(nullif(regexp_extract(duration_text, {_q(_WHOLE_DURATION)}, 1), '') AS DOUBLE) * 604800.0, 0.0)
                      + coalesce(CAST(nullif(regexp_extract(duration_text, {_q(_WHOLE_DURATION)}, 2), '') AS DOUBLE) * 86400.0, 0.0)
                      + coalesce(CAST(nullif(regexp_extract(duration_text, {_q(_WHOLE_DURATION)}, 3), '') AS DOUBLE) * 3600.0, 0.0)
                      + coalesce(CAST(nullif(regexp_extract(duration_text, {_q(_WHOLE_DURATION)}, 4), '') AS DOUBLE) * 60.0, 0.0)
                      + coalesce(CAST(nullif(regexp_extract(duration_text, {_q(_WHOLE_DURATION)}, 5), '') AS DOUBLE) * 1.0, 0.0)
                 END AS seconds,
            regexp_matches(time_text, {_q(_TIME)})
                AND try_cast(left(time_text, 4) AS INTEGER) BETWEEN 1000 AND 8999
                AND try_cast(left(time_text, 10) AS DATE) IS NOT NULL AS time_ok
        FROM derived
    )
    SELECT *,
        CASE
            WHEN NOT is_object OR duplicates THEN 'py'
            WHEN NOT is_event THEN CASE WHEN type_tail IS NULL THEN 'rej:record'
                                        WHEN {m}ascii(type_tail) THEN 'entity' ELSE 'py' END
            WHEN type_text IS NULL OR type_text = '' THEN 'rej:type'
            WHEN NOT {m}ascii(type_tail) THEN 'py'
            WHEN event_type IS NULL OR NOT list_contains({_sql_list(sorted(EVENT_TYPES))}, event_type)
                THEN CASE WHEN {m}safe(left(type_tail, 80)) THEN 'rej:type_unknown' ELSE 'py' END
            WHEN actor_id IS NULL THEN 'rej:actor'
            WHEN action_text IS NULL OR action_text = '' THEN 'rej:action'
            WHEN time_type IS NULL THEN 'rej:eventTime'
            WHEN NOT coalesce(time_ok, false) THEN 'py'
            WHEN id_type IS NULL OR id_type = 'NULL' THEN 'py'
            WHEN id_type <> 'VARCHAR' OR {m}strip(id_text) = '' THEN 'rej:id'
            WHEN NOT {m}ascii(id_text) THEN 'py'
            WHEN regexp_matches(id_text, {_q(space)}) OR length(id_text) > 512
                THEN CASE WHEN {m}safe(left(id_text, 80)) THEN 'rej:id_iri' ELSE 'py' END
            WHEN lower(left(id_text, 9)) = 'urn:uuid:'
                 AND NOT regexp_matches(substr(id_text, 10), {_q(_STRICT_UUID)}) THEN 'py'
            WHEN duration_text IS NOT NULL AND seconds IS NULL THEN 'py'
            WHEN federated_type = 'OBJECT' OR hinted OR roles_kind = 'py' THEN 'py'
            WHEN orgs_py OR NOT coalesce({m}ascii(object_tail), true) THEN 'py'
            WHEN object_id IS NOT NULL AND origin IS NULL
                 AND (regexp_matches(object_id, '[\\x00-\\x20]')
                      OR regexp_matches(lower(object_id), '^https?:')) THEN 'py'
            WHEN object_id IS NOT NULL AND regexp_matches(object_id, '[\\x00-\\x20]') THEN 'py'
            ELSE 'event'
        END AS status,
        list_filter([
            CASE WHEN ed_app IS NOT NULL THEN {{'kind': 'caliper_app_id', 'value': ed_app}} END,
            CASE WHEN object_kind = 'SoftwareApplication' AND object_id IS NOT NULL
                      AND object_id IS DISTINCT FROM ed_app
                 THEN {{'kind': 'caliper_app_id', 'value': object_id}} END,
            CASE WHEN ed_app IS NOT NULL THEN {{'kind': 'url', 'value': ed_app}} END,
            CASE WHEN origin IS NOT NULL AND NOT coalesce(list_contains({people}, object_kind), false)
                      AND origin IS DISTINCT FROM ed_app
                 THEN {{'kind': 'url', 'value': origin}} END
        ], lambda a: a IS NOT NULL) AS apps,
        CASE WHEN object_kind = 'AssignableDigitalResource' THEN 'assigned' END AS initiated_by
    FROM timed
    """


class _SqlKeys(KeyMaker):
    """A :class:`KeyMaker` whose keys come from the connection's ``edtech_user_key`` macro.

    The Python reader uses it for the lines it reads in :func:`stage_caliper`, so that
    those keys (and the content-hash ids made from them) are the ones SQL makes.
    """

    __slots__ = ("_cache", "_con")

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:  # no secret: SQL holds it
        self._con = con
        self._cache: dict[tuple[str, str], str] = {}

    def user(self, source_id: str, *, namespace: str = DISTRICT) -> str:
        """The key ``edtech_user_key(namespace, source_id)`` makes."""
        if (namespace, source_id) not in self._cache:
            rows = self._con.execute(
                f"SELECT {SQL_USER_KEY}(?, ?)", [namespace, source_id]
            ).fetchall()
            self._cache[namespace, source_id] = str(rows[0][0])
        return self._cache[namespace, source_id]


_ROW_SCHEMA = pa.schema(
    [
        ("line", pa.int64()),
        ("idx", pa.int64()),
        ("outcome", pa.string()),
        ("field", pa.string()),
        ("reason", pa.string()),
        ("event_id", pa.string()),
        ("event_time", pa.timestamp("us", tz="UTC")),
        ("user_key", pa.string()),
        ("role", pa.string()),
        ("school_key", pa.string()),
        ("class_key", pa.string()),
        ("action", pa.string()),
        ("event_type", pa.string()),
        ("duration_seconds", pa.float64()),
        ("initiated_by", pa.string()),
        ("apps", pa.list_(pa.struct([("kind", pa.string()), ("value", pa.string())]))),
    ]
)


def _row(parsed: Parsed, index: int) -> dict[str, Any]:
    """One outcome as a staged row (``idx`` orders the records of one line)."""
    row: dict[str, Any] = {"line": parsed.line, "idx": index}
    if isinstance(parsed, UsageEvent):
        row.update(
            outcome=Outcome.EVENT.value,
            event_id=parsed.event_id,
            event_time=parsed.event_time,
            user_key=parsed.user_key,
            role=parsed.role.value,
            school_key=parsed.school_id,
            class_key=parsed.class_id,
            action=parsed.action,
            event_type=parsed.event_type,
            duration_seconds=parsed.duration_seconds,
            initiated_by=parsed.initiated_by.value if parsed.initiated_by else None,
            apps=[{"kind": app.kind.value, "value": app.value} for app in parsed.apps],
        )
    elif isinstance(parsed, Rejection):
        row.update(outcome=Outcome.REJECTED.value, field=parsed.field, reason=parsed.reason)
    elif isinstance(parsed, EntityRecord):
        row.update(outcome=Outcome.ENTITY.value, event_type=parsed.type)
    else:
        row.update(outcome=Outcome.SKIP.value, reason=parsed.reason)
    return row


def _read_lines_in_python(
    lines: list[tuple[int, str, bool]], keys: KeyMaker, config: Config
) -> pa.Table:
    """What ``read_caliper`` yields for these lines (number, text, ends with a newline)."""
    duplicates: list[str] = []
    decoder = _decoder(duplicates)
    rows: list[dict[str, Any]] = []
    for number, line_text, newline in lines:
        text = line_text + ("\n" if newline else "")
        if not text.strip():
            continue
        try:
            document = JsonDocument(number, decoder.decode(text))
        except json.JSONDecodeError as error:
            document = JsonDocument(
                number, error=f"not valid JSON ({error.msg}, column {error.colno})"
            )
        except RecursionError:
            document = JsonDocument(number, error=_TOO_DEEP)
        duplicates.clear()
        outcomes = _document_outcomes(document, keys, config)
        rows += (_row(parsed, index) for index, parsed in enumerate(outcomes))
    return pa.Table.from_pylist(rows, schema=_ROW_SCHEMA)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def stage_caliper(
    con: duckdb.DuckDBPyConnection, path: Path, table: str, *, config: Config
) -> bool:
    """Read a whole Caliper JSON Lines file with DuckDB into the TEMP table ``table``.

    The table has the columns :data:`~connectors.usage_events.STAGE_COLUMNS`, one row per
    record in any order, with the outcome :func:`read_caliper` gives that record. The file is
    streamed (:func:`connectors.lines.numbered_lines_sql`), so its size is not bounded by
    memory or by DuckDB's 4 GB strings. Ordinary records are read in one SQL pass; a line
    holding any other record (see ``docs/connectors/caliper.md``) is read by the exact SQL
    and Python readers within the same call. ``con`` needs the ``edtech_user_key`` macro
    (:meth:`~edtech_map.privacy.KeyMaker.install_sql`; every store connection has it).

    Returns False, creating nothing and raising no DuckDB error, for a file that is not JSON
    Lines (one document, an array, a pretty-printed envelope), is not UTF-8, has a line
    over 16 MiB, a ``\x01`` byte, a carriage return not followed by a line feed, or CRLF and
    LF line ends mixed: read those with :func:`read_caliper`.

    Examples
    --------
    >>> import duckdb, json, tempfile
    >>> from edtech_map.privacy import KeyMaker
    >>> con = duckdb.connect()
    >>> KeyMaker(b"0" * 32).install_sql(con)
    >>> path = Path(tempfile.mkdtemp()) / "events.jsonl"
    >>> event = {"id": "urn:uuid:a438f8ac-1da3-4d48-8c86-94a1b387e0f6", "type": "ViewEvent",
    ...          "actor": "https://example.edu/users/1", "action": "Viewed",
    ...          "object": "https://example.edu/p/1", "eventTime": "2020-01-01T10:00:00Z"}
    >>> _ = path.write_text(json.dumps(event) + "\\n{oops\\n" + '{"type": "Person"}\\n')
    >>> stage_caliper(con, path, "staged", config=Config())
    True
    >>> con.execute("SELECT line, outcome, field, event_type FROM staged ORDER BY line").fetchall()
    [(1, 'event', None, 'ViewEvent'), (2, 'rejected', '(record)', None), (3, 'entity', None, 'Person')]
    >>> _ = path.write_text(json.dumps([event], indent=2))
    >>> stage_caliper(con, path.rename(path.with_suffix(".json")), "other", config=Config())
    False
    """
    if not _is_json_lines(path):
        return False
    total = count_lines(path)
    if total is None:  # a lone carriage return, mixed line ends, a \x01 byte
        return False
    with path.open("rb") as handle:
        handle.seek(max(path.stat().st_size - 1, 0))
        ends_with_newline = handle.read(1) == b"\n"
    t = _ident(f"_{table}_caliper")[:-1]
    ordinary, lines = f'{t}_ord"', f'{t}_lines"'
    helpers = [ordinary, lines, f'{t}_recs"', f'{t}_fast"', f'{t}_keys"', f'{t}_roles"']
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {ordinary} AS {_ordinary_sql(path)}")
        seen = con.execute(f"SELECT coalesce(max(line), 0) FROM {ordinary}").fetchall()[0][0]
        if seen != total:  # the scanner dropped a line (not UTF-8, too long): numbers are off
            return False
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {lines} AS SELECT line, "
            f"line < {total} OR {str(ends_with_newline).lower()} AS newline, "
            f"any_value(text) AS text FROM {ordinary} "
            "WHERE outcome IS NULL AND text IS NOT NULL GROUP BY line"
        )
        if con.execute(f"SELECT count(*) FROM {lines}").fetchall()[0][0]:
            _install_macros(con)
            _stage(con, t, table, config)
        else:  # every record is ordinary: skip planning the exact path's SQL
            columns = ", ".join(f"{name} {kind}" for name, kind in STAGE_COLUMNS.items())
            con.execute(f"CREATE OR REPLACE TEMP TABLE {_ident(table)} ({columns})")
        _insert_ordinary(con, t, table, config)
        return True
    finally:
        _drop(con, helpers)


def _drop(con: duckdb.DuckDBPyConnection, tables: list[str]) -> None:
    for name in tables:
        con.execute(f"DROP TABLE IF EXISTS {name}")


def _key_table(con: duckdb.DuckDBPyConnection, name: str, actors: str, config: Config) -> None:
    """The TEMP table ``name`` of ``(actor_id, user_key)`` for the actor ids ``actors`` selects."""
    if config.sis_id_pattern is None:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT actor_id, "
            f"{SQL_USER_KEY}('{DISTRICT}', actor_id) AS user_key FROM ({actors})"
        )
        return
    ids = [str(row[0]) for row in con.execute(actors).fetchall()]
    mapping = pa.table({"actor_id": ids, "sis_id": [config.sis_id(i) for i in ids]})
    con.register("_edtech_caliper_sis", mapping)
    try:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT actor_id, "
            f"{SQL_USER_KEY}('{DISTRICT}', sis_id) AS user_key FROM _edtech_caliper_sis"
        )
    finally:
        con.unregister("_edtech_caliper_sis")


def _stage(con: duckdb.DuckDBPyConnection, t: str, table: str, config: Config) -> None:
    """Stage the lines in ``{t}_lines`` (those with a record that is not ordinary) into
    ``table``: records SQL reads exactly here, the rest through the Python reader."""
    lines, recs, fast, keys = f'{t}_lines"', f'{t}_recs"', f'{t}_fast"', f'{t}_keys"'
    blank = (  # trim() scans the whole line: call it only for lines starting with a space
        f"(text = '' OR (ord(text[1]) IN (32, 9, 10, 13) AND trim(text, {_JSON_SPACE}) = ''))"
    )
    shape = "json_type(text, ['$', '$.data', '$.sensor', '$.sendTime', '$.dataVersion'])"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {recs} AS
        WITH l AS (
            -- NULL: not JSON to DuckDB, or maybe JSON only to DuckDB (trailing commas, nan,
            -- inf), or nested so deep that Python's decoder gives up: Python reads those
            SELECT line, text,
                CASE WHEN regexp_matches(text, {_q(_RISKY)})
                          OR strlen(text) - strlen(replace(replace(text, '{{', ''), '[', ''))
                             >= {_DEPTH_SAFE} THEN NULL
                     ELSE try({shape}) END AS jt
            FROM {lines} WHERE NOT {blank}
        ), k AS (
            SELECT line, text,
                CASE WHEN jt IS NULL THEN 'py'
                     WHEN jt[1] = 'OBJECT' AND jt[2] = 'ARRAY'
                          AND (jt[3] IS NOT NULL OR jt[4] IS NOT NULL OR jt[5] IS NOT NULL)
                     THEN CASE WHEN len(json_keys(text)) = len(list_distinct(json_keys(text)))
                               THEN 'envelope' ELSE 'py' END
                     WHEN jt[1] = 'OBJECT' THEN 'object'
                     WHEN jt[1] = 'ARRAY' THEN 'array'
                     ELSE 'py' END AS shape
            FROM l
        )
        SELECT line, 0 AS idx, '' AS prefix, text AS rec, false AS py FROM k WHERE shape = 'object'
        UNION ALL
        SELECT line, i - 1, CASE WHEN shape = 'envelope' THEN 'data' ELSE '' END
                            || '[' || (i - 1) || '].', items[i], false
        FROM (SELECT line, shape, items, generate_subscripts(items, 1) AS i FROM (
              SELECT line, shape, CASE shape WHEN 'envelope' THEN json_extract(text, '$.data[*]')
                                             ELSE json_extract(text, '$[*]') END AS items
              FROM k WHERE shape IN ('envelope', 'array')))
        UNION ALL
        SELECT line, 0, '', NULL, true FROM k WHERE shape = 'py'
        """
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {fast} AS "
        f"SELECT * FROM ({_fast_sql(f'(SELECT * FROM {recs} WHERE NOT py)')}) "
        f"WHERE line NOT IN (SELECT line FROM {recs} WHERE py)"
    )
    _key_table(con, keys, f"SELECT DISTINCT actor_id FROM {fast} WHERE status = 'event'", config)
    slow_lines = con.execute(
        f"SELECT line, text, newline FROM {lines} WHERE line IN ("
        f"SELECT line FROM {recs} WHERE py UNION SELECT line FROM {fast} WHERE status = 'py') "
        "ORDER BY line"
    ).fetchall()
    slow = _read_lines_in_python(
        [(int(n), str(text), bool(nl)) for n, text, nl in slow_lines], _SqlKeys(con), config
    )
    reasons = {f"rej:{name}": reason for name, reason in _REASONS.items()}
    reason = " ".join(f"WHEN {_q(k)} THEN {_q(v)}" for k, v in reasons.items())
    where = "coalesce(nullif(rtrim(prefix, '.'), ''), '(record)')"
    con.register("_edtech_caliper_slow", slow)
    try:
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE {_ident(table)} AS
            SELECT {", ".join(STAGE_COLUMNS)} FROM (
                SELECT line, idx,
                    CASE WHEN status = 'event' THEN 'event' WHEN status = 'entity' THEN 'entity'
                         ELSE 'rejected' END AS outcome,
                    CASE WHEN status = 'rej:record' THEN {where}
                         WHEN status LIKE 'rej:%' THEN prefix || split_part(split_part(status, ':', 2), '_', 1)
                         END AS field,
                    CASE status {reason}
                        WHEN 'rej:type_unknown' THEN '''' || left(type_tail, 80) || ''' is not a Caliper event type'
                        WHEN 'rej:id_iri' THEN '''' || left(id_text, 80)
                            || ''' is not an IRI (no spaces, at most 512 characters)'
                        END AS reason,
                    CASE WHEN status = 'event' THEN id_text END AS event_id,
                    CASE WHEN status = 'event' THEN CAST(
                        CASE WHEN regexp_extract(time_text, {_q(_TIME)}, 2) = ''
                             THEN time_text || '+00:00' ELSE time_text END AS TIMESTAMPTZ)
                        END AS event_time,
                    CASE WHEN status = 'event' THEN k.user_key END AS user_key,
                    CASE WHEN status = 'event' THEN role END AS role,
                    CASE WHEN status = 'event' THEN school_id END AS school_key,
                    CASE WHEN status = 'event' THEN class_id END AS class_key,
                    CASE WHEN status = 'event' THEN action END AS action,
                    CASE WHEN status = 'event' THEN event_type
                         WHEN status = 'entity' THEN record_kind END AS event_type,
                    CASE WHEN status = 'event' THEN seconds END AS duration_seconds,
                    CASE WHEN status = 'event' THEN initiated_by END AS initiated_by,
                    CASE WHEN status = 'event' THEN apps END AS apps
                FROM {fast} LEFT JOIN {keys} AS k USING (actor_id)
                WHERE line NOT IN (SELECT line FROM {fast} WHERE status = 'py')
                UNION ALL
                SELECT * FROM _edtech_caliper_slow
            )"""
        )
    finally:
        con.unregister("_edtech_caliper_slow")


# --- The ordinary-record path: one streamed pass, two JSON parses per record ------------------
#
# Almost every record of a real feed has one shape: an event whose id, type, action and time
# are plain ASCII, whose nodes are objects (or bare IRIs) without duplicate keys, and whose
# extensions hold no hint. `_ordinary_sql` reads such records with one `json_keys` and one
# `json_extract` (many paths, one parse each) and marks every other record; a line holding a
# record that is not ordinary goes, whole, to `_stage` above (SQL with every check, then
# Python), so the outcome of each record stays `read_caliper`'s.

_KEY_PATHS = (
    "$",
    "$.actor",
    "$.edApp",
    "$.object",
    "$.group",
    "$.group.subOrganizationOf",
    "$.membership",
    "$.session",
    "$.extensions",
    "$.object.extensions",
)
_VALUE_PATHS = (
    "$.id",
    "$.type",
    "$.actor",
    "$.actor.id",
    "$.action",
    "$.eventTime",
    "$.edApp",
    "$.edApp.id",
    "$.object.id",
    "$.object.type",
    '$.object."@type"',
    "$.object.isPartOf",
    "$.group.id",
    "$.group.type",
    "$.group.subOrganizationOf.id",
    "$.group.subOrganizationOf.type",
    "$.group.subOrganizationOf.subOrganizationOf",
    "$.membership.roles",
    "$.membership.organization",
    "$.session.duration",
    "$.duration",
    "$.federatedSession",
)
# Text the two JSON parsers may read differently: DuckDB's takes trailing commas and nan/inf
# literals that Python's refuses (a match inside a string only sends its line to `_stage`).
_RISKY = r",[ \t]*[\]}]|[\[:,][ \t]*-?(?:[iI]|[nN][aA])"
_WORD = r"^[A-Za-z]+$"  # a short type or action name: its own IRI tail, nothing to strip
_UUID_ID = r"^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
_PLAIN_ID = r"^[!-~]{1,512}$"
_PLAIN_ORIGIN = r"^(https?://[a-z0-9.-]+)(?:/[!-~]*)?$"
_DEPTH_SAFE = 900  # fewer '{' and '[' than this: Python's decoder cannot hit its recursion limit


def _ordinary_sql(path: Path) -> str:
    """SQL: a row per record of ``path`` (and one per blank line or line not read here) with
    ``line``, ``outcome`` (``event``/``entity`` for an ordinary record, else NULL), ``text``
    (the line, for a record that is not ordinary) and the fields of an ordinary record."""
    v = {p: f"v[{i + 1}]" for i, p in enumerate(_VALUE_PATHS)}
    names = ["top", "k_actor", "k_ed", "k_obj", "k_group", "k_sub", "k_member", "k_session"]
    names += ["k_ext", "k_obj_ext"]

    def s(p: str) -> str:  # the string at a path (these lines hold no escapes), else NULL
        return f"s{_VALUE_PATHS.index(p) + 1}"

    def is_object(p: str) -> str:
        return f"coalesce(starts_with({v[p]}, '{{'), false)"

    def absent(p: str) -> str:
        return f"({v[p]} IS NULL OR {v[p]} = 'null')"

    def unique(k: str) -> str:  # no key twice (pairwise for short lists: list_distinct is slow)
        def pairs(n: int) -> str:
            return " AND ".join(
                f"{k}[{i}] <> {k}[{j}]" for i in range(1, n + 1) for j in range(i + 1, n + 1)
            )

        return (
            f"CASE len({k}) WHEN 0 THEN true WHEN 1 THEN true WHEN 2 THEN {pairs(2)} "
            f"WHEN 3 THEN {pairs(3)} WHEN 4 THEN {pairs(4)} "
            f"ELSE len({k}) = len(list_distinct({k})) END"
        )

    def once(bar: str, key: str) -> str:  # ``key`` at most once in the key list ``bar`` holds
        return (
            f"(strpos({bar}, '|{key}|') = 0 "
            f"OR NOT contains(substr({bar}, strpos({bar}, '|{key}|') + 1), '|{key}|'))"
        )

    def plain(x: str) -> str:  # non-empty, nothing Python's strip() would remove
        return f"coalesce({x} <> '' AND ord({x}[1]) BETWEEN 33 AND 126 AND ord({x}[-1]) BETWEEN 33 AND 126, false)"

    def matches(x: str, pattern: str) -> str:
        return f"coalesce(regexp_matches({x}, {_q(pattern)}), false)"

    def hinted(k: str) -> str:
        return (
            f"CASE WHEN len({k}) > 0 THEN coalesce(list_bool_or(list_transform({k}, lambda x: "
            f"strlen(x) <> length(x) OR list_contains({_sql_list(_WANTED)}, "
            "replace(lower(regexp_extract(x, '[^#/]*$')), '_', '')))), false) ELSE false END"
        )

    def node_ok(p: str, k: str) -> str:  # missing, null, a bare IRI, or an object with an id
        return (
            f"({absent(p)} OR (starts_with({v[p]}, '\"') AND {plain(s(p))}) "
            f"OR ({is_object(p)} AND {unique(k)} AND {plain(s(p + '.id'))}))"
        )

    def node_id(p: str) -> str:
        return (
            f"CASE WHEN starts_with({v[p]}, '\"') THEN {s(p)} "
            f"WHEN starts_with({v[p]}, '{{') THEN {s(p + '.id')} END"
        )

    canonical = ", ".join(
        f"({_q(a)}, {_q(b)}, {str(b in EVENT_TYPES).lower()})"
        for a, b in sorted(_CANONICAL.items())
    )
    classes = _sql_list(sorted(name.lower() for name in _CLASS_TYPES))
    sub = "$.group.subOrganizationOf"
    at_type = '"@type"'
    ascii_type = f"strlen({s('$.type')}) = length({s('$.type')})"
    event_terms = [
        f"{v['$.id']} IS NOT NULL AND {v['$.actor']} IS NOT NULL",
        f"{v['$.action']} IS NOT NULL AND {v['$.eventTime']} IS NOT NULL",
        f"{v['$.duration']} IS NULL AND {v['$.federatedSession']} IS NULL",
        "coalesce(is_event, false)",
        ascii_type,
        f"{node_ok('$.actor', 'k_actor')} AND actor_id IS NOT NULL",
        matches(s("$.action"), _WORD),
        "coalesce(time_ok, false)",
        f"CASE WHEN starts_with({s('$.id')}, 'urn:uuid:') THEN {matches(s('$.id'), _UUID_ID)} "
        f"ELSE {matches(s('$.id'), _PLAIN_ID)} "
        f"AND lower(left({s('$.id')}, 9)) <> 'urn:uuid:' END",
        node_ok("$.edApp", "k_ed"),
        # object: missing, or an object with a plain id and a short type (or none)
        f"(k_obj IS NULL OR ({v['$.object.id']} IS NOT NULL AND {unique('k_obj')} "
        f"AND {plain(s('$.object.id'))} AND {v['$.object.isPartOf']} IS NULL "
        f"AND CASE WHEN {v['$.object.type']} IS NOT NULL "
        f"THEN {matches(s('$.object.type'), _WORD)} "
        f"ELSE {v['$.object.' + at_type]} IS NULL END "
        "AND (origin <> '' OR NOT (lower(left(object_id, 5)) = 'http:' "
        "OR lower(left(object_id, 6)) = 'https:'))))",
        # group: missing, or a class with a plain id, maybe inside an Organization
        f"(k_group IS NULL OR ({v['$.group.id']} IS NOT NULL AND {unique('k_group')} "
        f"AND {plain(s('$.group.id'))} AND strlen(group_type) = length(group_type) "
        f"AND list_contains({classes}, lower(group_type)) "
        f"AND (k_sub IS NULL OR ({v[sub + '.id']} IS NOT NULL AND {unique('k_sub')} "
        f"AND {plain(s(sub + '.id'))} AND strlen(sub_type) = length(sub_type) "
        f"AND lower(sub_type) = 'organization' "
        f"AND {v[sub + '.subOrganizationOf']} IS NULL))))",
        f"(k_member IS NULL OR ({once('bar_member', 'roles')} "
        f"AND {once('bar_member', 'organization')}))",
        f"({absent('$.membership.organization')} "
        f"OR starts_with({v['$.membership.organization']}, '\"'))",
        f"(action NOT IN ('LoggedOut', 'TimedOut') OR k_session IS NULL "
        f"OR ({once('bar_session', 'duration')} "
        f"AND (NOT coalesce(starts_with({v['$.session.duration']}, '\"'), false) "
        "OR seconds IS NOT NULL)))",
        f"NOT {hinted('k_ext')}",
        f"NOT {hinted('k_obj_ext')}",
    ]
    event_ok = " AND ".join(event_terms)
    d = "duration_text"
    seconds = (
        f"CASE WHEN regexp_matches({d}, {_q(_WHOLE_DURATION)}) AND {d} NOT IN ('P', 'PT') "
        f"AND NOT suffix({d}, 'T') THEN 0.0"
        + "".join(
            f" + coalesce(CAST(nullif(regexp_extract({d}, {_q(_WHOLE_DURATION)}, {i}), '') "
            f"AS DOUBLE) * {factor}, 0.0)"
            for i, factor in enumerate(("604800.0", "86400.0", "3600.0", "60.0", "1.0"), 1)
        )
        + " END"
    )
    depth = (
        f"(strlen(text) < {2 * _DEPTH_SAFE} OR strlen(text) - strlen(replace(replace(text, "
        f"'{{', ''), '[', '')) < {_DEPTH_SAFE})"
    )
    # The regular expression is slow over whole lines: run it only where a substring it needs
    # is there (nan or inf in any case, as DuckDB reads them, or a comma or blank before a
    # closing bracket); `contains` is a fast byte search, lower() would copy every line.
    seeds = [
        "".join(letters)
        for word in ("nan", "inf")
        for letters in itertools.product(*((c, c.upper()) for c in word))
    ]
    seeds += [a + b for a in ", \t" for b in "}]"]
    risky = (
        "CASE WHEN "
        + " OR ".join(f"contains(text, {_q(seed)})" for seed in seeds)
        + f" THEN regexp_matches(text, {_q(_RISKY)}) ELSE false END"
    )
    strings = ", ".join(
        f"CASE WHEN starts_with(v[{i}], '\"') THEN v[{i}][2:-2] END AS s{i}"
        for i in range(1, len(_VALUE_PATHS) + 1)
    )
    strings_out = ", ".join(f"s{i}" for i in range(1, len(_VALUE_PATHS) + 1))
    keys = _sql_list(_KEY_PATHS)
    lists = ", ".join(f"rk[{i + 1}] AS {name}" for i, name in enumerate(names))
    return f"""
    WITH canonical AS (
        SELECT * FROM (VALUES {canonical}) AS t(lower_name, name, is_event)
    ), l AS (
        SELECT line, text,
            CASE WHEN text IS NOT NULL AND starts_with(text, '{{') AND suffix(text, '}}')
                      AND NOT contains(text, '\\') AND {depth} AND NOT {risky}
                 THEN try(json_keys(text, {keys})) END AS lk
        FROM ({numbered_lines_sql(path)})
    ), e AS (
        SELECT *,
            coalesce(list_contains(lk[1], 'data')
                AND list_has_any(lk[1], ['sensor', 'sendTime', 'dataVersion']), false) AS env
        FROM l
    ), r AS (
        SELECT line, text, env, lk,
            -- `data[*]` of an object or a string is [] too: such a line, like an empty
            -- envelope, goes to the exact path
            unnest(CASE WHEN env AND len(lk[1]) = len(list_distinct(lk[1]))
                        THEN coalesce(nullif(json_extract(text, '$.data[*]'), []), [NULL])
                        ELSE [NULL] END) AS rec
        FROM e
    ), x AS (
        SELECT line, text,
            CASE WHEN rec IS NOT NULL THEN json_keys(rec, {keys})
                 WHEN lk IS NOT NULL AND NOT env THEN lk END AS rk,
            CAST(CASE WHEN rec IS NOT NULL THEN json_extract(rec, {_sql_list(_VALUE_PATHS)})
                      WHEN lk IS NOT NULL AND NOT env
                      THEN json_extract(text, {_sql_list(_VALUE_PATHS)}) END AS VARCHAR[]) AS v
        FROM r
    ), y AS (  -- each string once (a slice counts characters: not free)
        SELECT *, {strings} FROM x
    ), f AS (
        SELECT line, text, v, {strings_out}, {lists},
            '|' || array_to_string(k_member, '||') || '|' AS bar_member,
            '|' || array_to_string(k_session, '||') || '|' AS bar_session,
            {s("$.type")} AS type_text,
            types.name AS type_name, types.is_event,
            {node_id("$.actor")} AS actor_id,
            {s("$.action")} AS action,
            {s("$.eventTime")} AS time_text,
            {s("$.id")} AS event_id,
            {node_id("$.edApp")} AS ed_app,
            {s("$.object.id")} AS object_id,
            coalesce(object_types.name, {s("$.object.type")}) AS object_kind,
            {s("$.group.type")} AS group_type, {s(sub + ".type")} AS sub_type,
            {s("$.group.id")} AS group_id, {s(sub + ".id")} AS sub_id,
            {v["$.membership.roles"]} AS roles_json,
            {s("$.session.duration")} AS duration_text
        FROM y
        LEFT JOIN canonical AS types ON lower({s("$.type")}) = types.lower_name
        LEFT JOIN canonical AS object_types ON lower({s("$.object.type")}) = object_types.lower_name
    ), g AS (
        SELECT *, regexp_extract(object_id, {_q(_PLAIN_ORIGIN)}, 1) AS origin,
            CASE WHEN action IN ('LoggedOut', 'TimedOut') THEN {seconds} END AS seconds,
            {matches("time_text", _TIME)}
                AND try_cast(left(time_text, 4) AS INTEGER) BETWEEN 1000 AND 8999
                AND try_cast(left(time_text, 10) AS DATE) IS NOT NULL AS time_ok
        FROM f
    ), h AS (
        SELECT *,
            CASE WHEN top IS NULL OR len(top) = 0 OR len(top) <> len(list_distinct(top)) THEN NULL
                 WHEN {v["$.action"]} IS NULL AND {v["$.eventTime"]} IS NULL
                 THEN CASE WHEN {v["$.type"]} IS NOT NULL AND {matches("type_text", _WORD)}
                           THEN 'entity' END
                 WHEN {event_ok} THEN 'event' END AS outcome
        FROM g
    )
    SELECT line, outcome, CASE WHEN outcome IS NULL THEN text END AS text,
        CASE WHEN outcome = 'event' THEN type_name
             ELSE coalesce(type_name, type_text) END AS event_type,
        actor_id, action, time_text, event_id, ed_app, object_id, object_kind,
        nullif(origin, '') AS origin, group_id, sub_id, roles_json, seconds
    FROM h
    """


def _insert_ordinary(con: duckdb.DuckDBPyConnection, t: str, table: str, config: Config) -> None:
    """Add the ordinary records of ``{t}_ord`` (on lines not staged by :func:`_stage`) to
    ``table``: keys once per actor, roles once per distinct ``membership.roles``."""
    ordinary, lines, keys, roles = f'{t}_ord"', f'{t}_lines"', f'{t}_keys"', f'{t}_roles"'
    _key_table(
        con, keys, f"SELECT DISTINCT actor_id FROM {ordinary} WHERE outcome = 'event'", config
    )
    labels = [
        row[0]
        for row in con.execute(
            f"SELECT DISTINCT roles_json FROM {ordinary} "
            "WHERE outcome = 'event' AND roles_json IS NOT NULL"
        ).fetchall()
    ]
    mapping = pa.table(
        {
            "roles_json": pa.array(labels, pa.string()),
            "role": pa.array([role_from_label(json.loads(x)).value for x in labels], pa.string()),
        }
    )
    con.register("_edtech_caliper_roles", mapping)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {roles} AS SELECT * FROM _edtech_caliper_roles")
    finally:
        con.unregister("_edtech_caliper_roles")
    people = _sql_list(sorted(_PEOPLE))
    event = "o.outcome = 'event'"
    con.execute(
        f"""INSERT INTO {_ident(table)} ({", ".join(STAGE_COLUMNS)})
        SELECT o.line, o.outcome, NULL, NULL,
            CASE WHEN {event} THEN event_id END,
            CASE WHEN {event} THEN CAST(
                CASE WHEN regexp_extract(time_text, {_q(_TIME)}, 2) = ''
                     THEN time_text || '+00:00' ELSE time_text END AS TIMESTAMPTZ) END,
            k.user_key,
            CASE WHEN {event} THEN coalesce(r.role, 'unknown') END,
            CASE WHEN {event} THEN sub_id END,
            CASE WHEN {event} THEN group_id END,
            CASE WHEN {event} THEN action END,
            event_type,
            CASE WHEN {event} THEN seconds END,
            CASE WHEN {event} AND object_kind = 'AssignableDigitalResource' THEN 'assigned' END,
            CASE WHEN {event} THEN list_filter([
                CASE WHEN ed_app IS NOT NULL THEN {{'kind': 'caliper_app_id', 'value': ed_app}} END,
                CASE WHEN object_kind = 'SoftwareApplication' AND object_id IS NOT NULL
                          AND object_id IS DISTINCT FROM ed_app
                     THEN {{'kind': 'caliper_app_id', 'value': object_id}} END,
                CASE WHEN ed_app IS NOT NULL THEN {{'kind': 'url', 'value': ed_app}} END,
                CASE WHEN origin IS NOT NULL
                          AND NOT coalesce(list_contains({people}, object_kind), false)
                          AND origin IS DISTINCT FROM ed_app
                     THEN {{'kind': 'url', 'value': origin}} END
            ], lambda a: a IS NOT NULL) END
        FROM {ordinary} AS o
        LEFT JOIN {keys} AS k ON {event} AND o.actor_id = k.actor_id
        LEFT JOIN {roles} AS r ON {event} AND o.roles_json = r.roles_json
        WHERE o.outcome IS NOT NULL AND o.line NOT IN (SELECT line FROM {lines})"""
    )
