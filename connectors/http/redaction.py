"""Redaction of secrets in URLs, headers and log lines, and a log filter that applies it.

Everything the HTTP layer logs or puts into an exception message goes through
:func:`redact_url`, :func:`redact_headers` or :func:`redact_text` first.

Examples
--------
>>> redact_url("https://kim:pw@sis.example.org/users?limit=5&access_token=abc")
'https://***@sis.example.org/users?limit=5&access_token=***'
>>> redact_headers({"Authorization": "Bearer abc", "Accept": "application/json"})
{'Authorization': 'Bearer ***', 'Accept': 'application/json'}
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Mapping
from urllib.parse import quote, quote_plus, unquote_plus, urlsplit, urlunsplit

__all__ = [
    "MASK",
    "SCRUBBED_LOGGERS",
    "SCRUBBER",
    "SecretScrubber",
    "is_sensitive_header",
    "is_sensitive_param",
    "redact_headers",
    "redact_text",
    "redact_url",
]

MASK = "***"

_SENSITIVE_PARAMS = frozenset(
    {
        "access_token",
        "api_key",
        "apikey",
        "auth",
        "client_secret",
        "code",
        # Cursors that are a record's id: on Clever's /users that is a person's id.
        "ending_before",
        "id_token",
        "key",
        "oauth_signature",
        "oauth_token",
        "passwd",
        "password",
        "refresh_token",
        "secret",
        "session",
        "sig",
        "signature",
        "starting_after",
        "token",
    }
)
_SENSITIVE_PARAM_SUFFIXES = ("_token", "_secret", "_key", "_password", "-signature", "_signature")

_SENSITIVE_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "api-key"}
)
_SENSITIVE_HEADER_WORDS = ("token", "secret", "password", "api-key", "apikey", "signature")

# key=value pairs in query strings, form bodies and free text: ?access_token=..., &sig=...
_PAIR = re.compile(
    r"(?P<lead>(?:^|[?&;\s,(\"'])(?P<name>[A-Za-z0-9_.\-]+)=)(?P<value>[^&;\s\"',)]*)"
)
# 'access_token': 'abc' (a dict repr), "access_token": "abc" (JSON), ('access_token', 'abc')
_QUOTED = re.compile(
    r"(?P<lead>['\"](?P<name>[A-Za-z0-9_.\-]+)['\"]\s*[:,]\s*['\"])(?P<value>[^'\"]*)(?=['\"])"
)
# access_token%3Dabc%26 inside a percent-encoded OAuth 1.0a signature base string
_ENCODED_PAIR = re.compile(
    r"(?P<lead>(?:^|%26|%3F|&)(?P<name>[A-Za-z0-9_.\-]+)%3D)(?P<value>(?:[^&%\s]|%(?!26)[0-9A-Fa-f]{2})*)"
)
# oauth_signature="abc" inside an OAuth 1.0a Authorization header
_OAUTH_HEADER_PARAM = re.compile(r"(?P<lead>\b(?P<name>oauth_[a-z_]+)=\")(?P<value>[^\"]*)(?=\")")
_AUTH_SCHEME = re.compile(r"\b(?P<scheme>Bearer|Basic|Token)\s+(?P<value>[A-Za-z0-9._~+/=\-]{4,})")
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)[^/@\s]+@")


def is_sensitive_param(name: str) -> bool:
    """Whether a query or form parameter of this name may carry a secret.

    Examples
    --------
    >>> is_sensitive_param("access_token"), is_sensitive_param("X-Amz-Signature")
    (True, True)
    >>> is_sensitive_param("pageToken"), is_sensitive_param("limit")
    (False, False)
    """
    lowered = name.lower()
    return lowered in _SENSITIVE_PARAMS or lowered.endswith(_SENSITIVE_PARAM_SUFFIXES)


def is_sensitive_header(name: str) -> bool:
    """Whether an HTTP header of this name may carry a secret.

    Examples
    --------
    >>> is_sensitive_header("authorization"), is_sensitive_header("X-Auth-Token")
    (True, True)
    >>> is_sensitive_header("X-Rate-Limit-Remaining")
    False
    """
    lowered = name.lower()
    return lowered in _SENSITIVE_HEADERS or any(word in lowered for word in _SENSITIVE_HEADER_WORDS)


def redact_url(url: str) -> str:
    """Return ``url`` with credentials in the userinfo and secret query values masked.

    Everything else, including the order and encoding of the other parameters, is kept.

    Examples
    --------
    >>> redact_url("https://api.example.org/v1/users?key=K&limit=10&oauth_signature=S%3D")
    'https://api.example.org/v1/users?key=***&limit=10&oauth_signature=***'
    >>> redact_url("https://token123@lrs.example.org/xapi/statements")
    'https://***@lrs.example.org/xapi/statements'
    >>> redact_url("/v3.0/users?starting_after=5a25")
    '/v3.0/users?starting_after=***'
    """
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rpartition('@')[2]}"
    query = _redact_query(parts.query)
    fragment = _redact_query(parts.fragment)
    return urlunsplit((parts.scheme, netloc, parts.path, query, fragment))


def _redact_query(query: str) -> str:
    if not query:
        return query
    pairs = []
    for pair in query.split("&"):
        name, sep, _value = pair.partition("=")
        pairs.append(f"{name}={MASK}" if sep and is_sensitive_param(unquote_plus(name)) else pair)
    return "&".join(pairs)


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Return a copy of ``headers`` with secret values masked (the auth scheme is kept).

    Examples
    --------
    >>> redact_headers({"Authorization": 'OAuth oauth_signature="x"', "Cookie": "s=1"})
    {'Authorization': 'OAuth ***', 'Cookie': '***'}
    >>> redact_headers({"X-Api-Key": "k", "User-Agent": "edtech-map"})
    {'X-Api-Key': '***', 'User-Agent': 'edtech-map'}
    """
    redacted: dict[str, str] = {}
    for name, value in headers.items():
        if not is_sensitive_header(name):
            redacted[name] = value
        elif name.lower() in ("authorization", "proxy-authorization") and " " in str(value):
            redacted[name] = f"{str(value).split(' ', 1)[0]} {MASK}"
        else:
            redacted[name] = MASK
    return redacted


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Mask secrets inside free text such as a log line or a third-party error message.

    It masks userinfo in URLs, values of secret parameters (``access_token=...``,
    ``'client_secret': '...'``, ``oauth_signature="..."``), ``Bearer``/``Basic`` credentials,
    and every literal in ``secrets`` (also in its percent-encoded forms).

    Examples
    --------
    >>> redact_text("GET /users?limit=2&access_token=abc HTTP/1.1")
    'GET /users?limit=2&access_token=*** HTTP/1.1'
    >>> redact_text("{'access_token': 'abc', 'expires_in': 3600}")
    "{'access_token': '***', 'expires_in': 3600}"
    >>> redact_text("headers {'Authorization': 'Bearer abcdef'}")
    "headers {'Authorization': 'Bearer ***'}"
    >>> redact_text("sent s3cr3t&", secrets=["s3cr3t"])
    'sent ***&'
    >>> redact_text("[('sig', 'abc'), ('limit', '2')] GET&http%3A%2F%2Fx%2Fu&sig%3Dabc%26limit%3D2")
    "[('sig', '***'), ('limit', '2')] GET&http%3A%2F%2Fx%2Fu&sig%3D***%26limit%3D2"
    """
    for secret in sorted(set(secrets), key=len, reverse=True):
        if len(secret) >= 4:
            for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
                text = text.replace(form, MASK)
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{MASK}@", text)
    text = _AUTH_SCHEME.sub(lambda m: f"{m['scheme']} {MASK}", text)
    for pattern in (_PAIR, _QUOTED, _ENCODED_PAIR, _OAUTH_HEADER_PARAM):
        text = pattern.sub(_mask_if_sensitive, text)
    return text


def _mask_if_sensitive(match: re.Match[str]) -> str:
    if match["name"] == "oauth_signature" or is_sensitive_param(match["name"]):
        return f"{match['lead']}{MASK}"
    return match.group(0)


class SecretScrubber(logging.Filter):
    """A logging filter that rewrites each record's message through :func:`redact_text`.

    The HTTP layer attaches one shared instance to the loggers of urllib3, requests-oauthlib
    and oauthlib (they log URLs, headers and token bodies at DEBUG), and registers the secrets
    of every :class:`~connectors.http.auth.Auth` it uses so that they are masked even where no
    pattern would catch them. It never drops a record and never changes levels or handlers.

    Examples
    --------
    >>> scrubber = SecretScrubber()
    >>> scrubber.register(["hunter2-secret"])
    >>> record = logging.LogRecord("x", logging.DEBUG, __file__, 1, "body %s", ("hunter2-secret",),
    ...                            None)
    >>> scrubber.filter(record), record.getMessage()
    (True, 'body ***')
    """

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def register(self, secrets: Iterable[str]) -> None:
        """Remember literal secrets to mask from now on (empty and tiny strings are ignored)."""
        with self._lock:
            self._secrets.update(s for s in secrets if s and len(s) >= 4)

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite ``record`` in place with its message redacted; always keep it."""
        with self._lock:
            secrets = tuple(self._secrets)
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed third-party record: redact its template
            message = str(record.msg)
        record.msg = redact_text(message, secrets)
        record.args = None
        return True

    def attach(self, logger_names: Iterable[str]) -> None:
        """Add this filter to each named logger once (adding it twice is a no-op)."""
        for name in logger_names:
            logger = logging.getLogger(name)
            if self not in logger.filters:
                logger.addFilter(self)


SCRUBBED_LOGGERS = (
    "urllib3.connectionpool",
    "urllib3.util.retry",
    "requests_oauthlib.oauth1_auth",
    "requests_oauthlib.oauth1_session",
    "requests_oauthlib.oauth2_session",
    "oauthlib",
    "oauthlib.oauth1.rfc5849",
    "oauthlib.oauth1.rfc5849.signature",
    "oauthlib.oauth2.rfc6749",
    "oauthlib.oauth2.rfc6749.parameters",
    "oauthlib.oauth2.rfc6749.clients.base",
    "oauthlib.oauth2.rfc6749.grant_types.client_credentials",
)
"""Third-party loggers known to log URLs, headers or token bodies at DEBUG."""

SCRUBBER = SecretScrubber()
"""The one scrubber shared by every client in the process."""
