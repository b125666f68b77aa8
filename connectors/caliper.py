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
>>> from edtech_map.privacy import KeyMaker
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

import logging
import re
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from connectors.usage_events import (
    AppIdentifier,
    EntityRecord,
    IdentifierKind,
    InitiatedBy,
    Parsed,
    Rejection,
    UsageEvent,
    content_hash,
    iri_tail,
    parse_iso_duration,
    parse_timestamp,
    read_json_documents,
    role_from_label,
)
from edtech_map.model import Role, StrictModel
from edtech_map.privacy import KeyMaker

__all__ = [
    "ENTITY_TYPES",
    "EVENT_TYPES",
    "SOURCE",
    "Config",
    "is_envelope",
    "is_event",
    "read_caliper",
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
        if document.error is not None:
            yield Rejection(document.line, "(record)", document.error)
            continue
        value = document.value
        if is_envelope(value):
            for index, item in enumerate(value["data"]):
                yield _classify(item, keys, document.line, f"data[{index}].", config)
        elif isinstance(value, list):  # an array of events on one line
            for index, item in enumerate(value):
                yield _classify(item, keys, document.line, f"[{index}].", config)
        else:
            yield _classify(value, keys, document.line, "", config)
