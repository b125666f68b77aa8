"""The shared HTTP layer every REST connector uses.

``HttpClient`` wraps one ``requests.Session`` with urllib3 ``Retry`` (timeouts, back-off,
``Retry-After``, 429/5xx for GET, a cap on total retry time), plus Canvas's 403 rate limit, one
credential refresh on 401, paginators, typed errors and redaction. See ``docs/connectors/http.md``.

Examples
--------
>>> from pydantic import SecretStr
>>> client = HttpClient("https://api.clever.com", auth=BearerAuth(SecretStr("tok-1234")),
...                     timeout=(5, 30), retry=RetryPolicy(total=3))
>>> paginator = CursorPaginator()
>>> pages = client.pages("/v3.0/users", params={"limit": 100}, paginator=paginator)
>>> type(pages).__name__  # nothing is fetched until the caller iterates
'generator'
>>> client.close()
"""

from .auth import Auth, BasicAuth, BearerAuth, OAuth1Auth, OAuth2ClientCredentials
from .client import DEFAULT_TIMEOUT, HttpClient, RetryPolicy, read_ahead
from .errors import (
    AuthenticationError,
    BadResponse,
    ConnectionFailed,
    ConnectorError,
    NotFound,
    PageLimitExceeded,
    PaginationError,
    PaginationLoopError,
    PermissionDenied,
    RateLimitExceeded,
    ServerError,
    SourceTimeout,
    UnexpectedStatus,
    check_response,
    is_canvas_rate_limit,
    map_transport_error,
    parse_json,
)
from .paginators import (
    BodyLinkPaginator,
    CursorPaginator,
    LinkHeaderPaginator,
    OffsetPaginator,
    Page,
    PageRequest,
    PageTokenPaginator,
    Paginator,
    SinglePagePaginator,
    json_path,
)
from .redaction import redact_headers, redact_text, redact_url

__all__ = [
    "DEFAULT_TIMEOUT",
    "Auth",
    "AuthenticationError",
    "BadResponse",
    "BasicAuth",
    "BearerAuth",
    "BodyLinkPaginator",
    "ConnectionFailed",
    "ConnectorError",
    "CursorPaginator",
    "HttpClient",
    "LinkHeaderPaginator",
    "NotFound",
    "OAuth1Auth",
    "OAuth2ClientCredentials",
    "OffsetPaginator",
    "Page",
    "PageLimitExceeded",
    "PageRequest",
    "PageTokenPaginator",
    "PaginationError",
    "PaginationLoopError",
    "Paginator",
    "PermissionDenied",
    "RateLimitExceeded",
    "RetryPolicy",
    "ServerError",
    "SinglePagePaginator",
    "SourceTimeout",
    "UnexpectedStatus",
    "check_response",
    "is_canvas_rate_limit",
    "json_path",
    "map_transport_error",
    "parse_json",
    "read_ahead",
    "redact_headers",
    "redact_text",
    "redact_url",
]
