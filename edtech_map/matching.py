"""Match the app identifiers found in usage data to the tools of the inventory.

A usage record names its application in one or more ways (a Caliper ``edApp`` id, an LTI
deployment or client id, an OAuth client id, a URL, a name). :class:`ToolMatcher` tries them
rule by rule, strongest first, and records which rule matched:

1. ``caliper_app_id``, ``lti_deployment_id``, ``lti_client_id``, ``oauth_client_id``: exact
   (Caliper ids compare without a trailing ``/`` and with the scheme and host lower-cased);
2. ``domain``: the host of a URL (or of a Caliper app id) equals an inventory domain or is a
   subdomain of one; when several tools' domains fit, the most specific domain wins
   (``reports.app.mathly.com`` goes to the tool with ``app.mathly.com`` before the one with
   ``mathly.com``);
3. ``tool_id``, ``name``, ``alias``: a name in an export equals a tool's id, name or one of its
   aliases, ignoring case and repeated spaces.

Examples
--------
>>> from edtech_map.model import Tool
>>> matcher = ToolMatcher([
...     Tool(id="mathly", name="Mathly", category="adaptive_practice",
...          identifiers={"domains": ["mathly.com"]}),
...     Tool(id="mathly-reports", name="Mathly Reports", category="data_analytics",
...          identifiers={"domains": ["reports.mathly.com"]})])
>>> found = matcher.match([AppIdentifier(IdentifierKind.URL, "https://x.reports.mathly.com/a")])
>>> found.tool_id, found.rule.value
('mathly-reports', 'domain')
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

from connectors.usage_events import AppIdentifier, IdentifierKind
from edtech_map.model import Ecosystem, Tool

__all__ = [
    "AppIdentifier",
    "IdentifierKind",
    "Match",
    "MatchRule",
    "ToolMatcher",
    "host_of",
    "normalize_app_id",
]


class MatchRule(StrEnum):
    """Which rule tied a usage record to a tool, strongest first."""

    CALIPER_APP_ID = "caliper_app_id"
    LTI_DEPLOYMENT_ID = "lti_deployment_id"
    LTI_CLIENT_ID = "lti_client_id"
    OAUTH_CLIENT_ID = "oauth_client_id"
    DOMAIN = "domain"
    TOOL_ID = "tool_id"
    NAME = "name"
    ALIAS = "alias"


_EXACT_RULES = {
    IdentifierKind.CALIPER_APP: MatchRule.CALIPER_APP_ID,
    IdentifierKind.LTI_DEPLOYMENT: MatchRule.LTI_DEPLOYMENT_ID,
    IdentifierKind.LTI_CLIENT: MatchRule.LTI_CLIENT_ID,
    IdentifierKind.OAUTH_CLIENT: MatchRule.OAUTH_CLIENT_ID,
}


@dataclass(frozen=True, slots=True)
class Match:
    """The tool a usage record belongs to (or None), the identifier that decided, and the rule.

    An unmatched record keeps its first identifier, so unknown apps can be counted and later
    added to the inventory.

    Examples
    --------
    >>> Match(None, "https://unknown.example", None).matched
    False
    """

    tool_id: str | None
    app_identifier: str | None
    rule: MatchRule | None

    @property
    def matched(self) -> bool:
        """True when an inventory tool was found."""
        return self.tool_id is not None


def normalize_app_id(value: str) -> str:
    """An app id as compared: trimmed, no trailing ``/``, scheme and host lower-cased.

    Examples
    --------
    >>> normalize_app_id(" HTTPS://App.Mathly.example/ ")
    'https://app.mathly.example'
    >>> normalize_app_id("10000000000017")
    '10000000000017'
    """
    text = value.strip().rstrip("/")
    parts = urlsplit(text)
    if parts.scheme and parts.netloc:
        rest = text[len(parts.scheme) + 3 + len(parts.netloc) :]
        return f"{parts.scheme.lower()}://{parts.netloc.lower()}{rest}"
    return text


def host_of(value: str) -> str | None:
    """The host name in a URL, or in a bare ``host[:port][/path]``; None when there is none.

    Examples
    --------
    >>> host_of("https://Reports.Mathly.com:8443/x"), host_of("app.mathly.com/login")
    ('reports.mathly.com', 'app.mathly.com')
    >>> host_of("urn:uuid:1234"), host_of("Mathly")
    (None, None)
    """
    text = value.strip()
    if "://" in text:
        host = urlsplit(text).hostname
    elif ":" in text.split("/", 1)[0] and not re.match(r"^[^:]+:\d+", text):
        return None  # a URN or other scheme without a host
    else:
        host = text.split("/", 1)[0].split(":", 1)[0]
    if not host:
        return None
    host = host.lower().rstrip(".")
    if "." not in host or not re.fullmatch(r"[a-z0-9.-]+", host):
        return None
    return host


def _name_key(value: str) -> str:
    return " ".join(value.casefold().split())


class ToolMatcher:
    """Finds the inventory tool for the identifiers of a usage record.

    Examples
    --------
    >>> from edtech_map.model import Tool
    >>> matcher = ToolMatcher([Tool(id="canopy", name="Canopy LMS", category="lms",
    ...     identifiers={"caliper_app_ids": ["https://riverside.canopylms.example/"],
    ...                  "aliases": ["Canopy"]})])
    >>> matcher.match([AppIdentifier(IdentifierKind.CALIPER_APP,
    ...                              "https://riverside.canopylms.example")]).rule
    <MatchRule.CALIPER_APP_ID: 'caliper_app_id'>
    >>> matcher.match([AppIdentifier(IdentifierKind.NAME, " canopy ")]).tool_id
    'canopy'
    >>> matcher.match([AppIdentifier(IdentifierKind.NAME, "Quizzo")])
    Match(tool_id=None, app_identifier='Quizzo', rule=None)
    """

    def __init__(self, tools: Iterable[Tool]) -> None:
        self._exact: dict[MatchRule, dict[str, str]] = {rule: {} for rule in _EXACT_RULES.values()}
        self._domains: dict[str, str] = {}
        self._names: dict[str, tuple[str, MatchRule]] = {}
        for tool in tools:
            ids = tool.identifiers
            for rule, values in (
                (MatchRule.CALIPER_APP_ID, ids.caliper_app_ids),
                (MatchRule.LTI_DEPLOYMENT_ID, ids.lti_deployment_ids),
                (MatchRule.LTI_CLIENT_ID, ids.lti_client_ids),
                (MatchRule.OAUTH_CLIENT_ID, ids.oauth_client_ids),
            ):
                for value in values:
                    self._exact[rule].setdefault(normalize_app_id(value), tool.id)
            for domain in ids.domains:
                self._domains.setdefault(domain.lower().rstrip("."), tool.id)
            # Weakest first, so that a tool's id or name wins over another tool's alias.
            for value, rule in (
                *((alias, MatchRule.ALIAS) for alias in ids.aliases),
                (tool.name, MatchRule.NAME),
                (tool.id, MatchRule.TOOL_ID),
            ):
                current = self._names.get(_name_key(value))
                if current is None or _rank(rule) < _rank(current[1]):
                    self._names[_name_key(value)] = (tool.id, rule)

    @classmethod
    def from_ecosystem(cls, ecosystem: Ecosystem) -> ToolMatcher:
        """A matcher over every tool of an inventory.

        Examples
        --------
        >>> from edtech_map.model import Ecosystem
        >>> eco = Ecosystem(district={"id": "d", "name": "D"}, tools=[{"id": "x", "name": "X",
        ...                 "category": "lms", "identifiers": {"domains": ["x.example"]}}])
        >>> ToolMatcher.from_ecosystem(eco).tool_for_host("www.x.example")
        ('x', 'x.example')
        """
        return cls(ecosystem.tools)

    def tool_for_host(self, host: str) -> tuple[str, str] | None:
        """(tool id, inventory domain) for a host: the most specific domain that covers it.

        Examples
        --------
        >>> from edtech_map.model import Tool
        >>> m = ToolMatcher([Tool(id="a", name="A", category="lms",
        ...                       identifiers={"domains": ["a.example"]})])
        >>> m.tool_for_host("deep.sub.a.example"), m.tool_for_host("nota.example")
        (('a', 'a.example'), None)
        """
        labels = host.lower().rstrip(".").split(".")
        for start in range(len(labels)):
            candidate = ".".join(labels[start:])
            tool_id = self._domains.get(candidate)
            if tool_id is not None:
                return tool_id, candidate
        return None

    def match(self, apps: Sequence[AppIdentifier]) -> Match:
        """The tool for a record's identifiers, trying the strongest rule first.

        Examples
        --------
        >>> ToolMatcher([]).match([])
        Match(tool_id=None, app_identifier=None, rule=None)
        """
        for kind, rule in _EXACT_RULES.items():
            table = self._exact[rule]
            if not table:
                continue
            for app in apps:
                if app.kind is kind:
                    tool_id = table.get(normalize_app_id(app.value))
                    if tool_id is not None:
                        return Match(tool_id, app.value, rule)
        if self._domains:
            for app in apps:
                if app.kind in (IdentifierKind.URL, IdentifierKind.CALIPER_APP):
                    host = host_of(app.value)
                    found = self.tool_for_host(host) if host else None
                    if found is not None:
                        return Match(found[0], app.value, MatchRule.DOMAIN)
        for app in apps:
            if app.kind is IdentifierKind.NAME:
                named = self._names.get(_name_key(app.value))
                if named is not None:
                    return Match(named[0], app.value, named[1])
                host = host_of(app.value)  # a CSV "app" column may hold a domain
                found = self.tool_for_host(host) if host and self._domains else None
                if found is not None:
                    return Match(found[0], app.value, MatchRule.DOMAIN)
        return Match(None, apps[0].value if apps else None, None)

    def match_stored(self, value: str) -> Match:
        """Match an identifier kept without its kind (an unmatched ``app_identifier``).

        Tries it as every kind of identifier, strongest rule first; used to re-match stored
        usage after tools are added to the inventory.

        Examples
        --------
        >>> from edtech_map.model import Tool
        >>> m = ToolMatcher([Tool(id="quizzo", name="Quizzo", category="assessment",
        ...                       identifiers={"domains": ["quizzo.example"]})])
        >>> m.match_stored("https://app.quizzo.example/").rule.value
        'domain'
        """
        kinds = (*_EXACT_RULES, IdentifierKind.URL, IdentifierKind.NAME)
        return self.match([AppIdentifier(kind, value) for kind in kinds])


def _rank(rule: MatchRule) -> int:
    return list(MatchRule).index(rule)
