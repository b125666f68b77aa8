"""Typed connector errors and :func:`check_response`, the one map from HTTP status to exception.

Every message says what happened, where (the redacted URL and the page number), and what to do.
Response bodies are never quoted: an error page can hold personal data.

Examples
--------
>>> error = NotFound(url="https://api.clever.com/v3.0/users?limit=100", status=404, page=2)
>>> print(error)
HTTP 404 Not Found at https://api.clever.com/v3.0/users?limit=100 (page 2). Check the base URL \
and path for this source, and that the record or endpoint exists for this district.
>>> isinstance(error, EdtechMapError)
True
"""

from __future__ import annotations

from typing import Any, ClassVar

import requests
from urllib3.exceptions import (
    ConnectTimeoutError,
    MaxRetryError,
    NewConnectionError,
    ReadTimeoutError,
)

from edtech_map.errors import EdtechMapError

from .redaction import redact_text, redact_url

__all__ = [
    "CANVAS_RATE_LIMIT_BODY",
    "AuthenticationError",
    "BadResponse",
    "ConnectionFailed",
    "ConnectorError",
    "NotFound",
    "PageLimitExceeded",
    "PaginationError",
    "PaginationLoopError",
    "PermissionDenied",
    "RateLimitExceeded",
    "ServerError",
    "SourceTimeout",
    "UnexpectedStatus",
    "check_response",
    "is_canvas_rate_limit",
    "map_transport_error",
    "parse_json",
]

CANVAS_RATE_LIMIT_BODY = b"Rate Limit Exceeded"
"""Canvas's older throttling answer is HTTP 403 with body ``403 Forbidden (Rate Limit Exceeded)``."""

_REQUEST_ID_HEADERS = ("X-Request-Id", "X-Request-ID", "Request-Id", "X-Amzn-RequestId")


class ConnectorError(EdtechMapError):
    """A source could not be read. Subclasses say why; the message says where and what to do.

    Parameters
    ----------
    url
        The URL of the request. It is redacted before it is stored or shown.
    status
        The HTTP status, when there was an answer.
    page
        The page number within a paginated pull (1 for the first page), when known.
    detail
        What happened, overriding the class's default sentence.
    fix
        What to do, overriding the class's default advice.

    Examples
    --------
    >>> str(ConnectorError(url="https://x.org/a?token=t", detail="It broke", fix="Retry."))
    'It broke at https://x.org/a?token=***. Retry.'
    """

    what: ClassVar[str] = "The source could not be read"
    advice: ClassVar[str] = "Re-run the pull; if it fails again, check the source's status page."

    def __init__(
        self,
        *,
        url: str,
        status: int | None = None,
        page: int | None = None,
        detail: str | None = None,
        fix: str | None = None,
        request_id: str | None = None,
    ) -> None:
        self.url = redact_url(url)
        self.status = status
        self.page = page
        self.request_id = request_id
        what = detail or (f"HTTP {status} {self.what}" if status is not None else self.what)
        where = f"at {self.url}"
        if page is not None:
            where += f" (page {page})"
        if request_id:
            where += f" [request id {request_id}]"
        sentence = f"{what} {where}"
        sentence += " " if sentence.endswith(".") else ". "
        super().__init__(f"{sentence}{fix or self.advice}")

    def __reduce__(self) -> tuple[Any, ...]:
        # keyword-only __init__: rebuild from the message and attributes (pickling, subprocesses)
        return (_rebuild_error, (type(self), str(self), dict(self.__dict__)))


def _rebuild_error(
    cls: type[ConnectorError], message: str, state: dict[str, Any]
) -> ConnectorError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class AuthenticationError(ConnectorError):
    """HTTP 401, or a token endpoint that refused the client credentials."""

    what = "Unauthorized: the credentials were not accepted"
    advice = (
        "Check the client id and secret (or token) for this source, and that they belong to "
        "this district's instance."
    )


class PermissionDenied(ConnectorError):  # noqa: N818  the issue names it (canvasapi style)
    """HTTP 403: the credentials are valid but may not read this resource."""

    what = "Forbidden: the credentials may not read this resource"
    advice = "Ask the source's administrator to grant the app read access (scopes) to this data."


class RateLimitExceeded(PermissionDenied):
    """HTTP 429, or Canvas's 403 ``Rate Limit Exceeded``, still answered after every retry.

    It subclasses :class:`PermissionDenied`, as canvasapi's ``RateLimitExceeded`` subclasses
    ``Forbidden``.
    """

    what = "Rate limit exceeded, still after the allowed retries"
    advice = (
        "Wait and re-run, pull fewer streams at once, or raise RetryPolicy.max_retry_time; "
        "ask the vendor for a higher quota if it keeps happening."
    )


class NotFound(ConnectorError):  # noqa: N818  the issue names it (canvasapi style)
    """HTTP 404."""

    what = "Not Found"
    advice = (
        "Check the base URL and path for this source, and that the record or endpoint exists "
        "for this district."
    )


class ServerError(ConnectorError):
    """HTTP 5xx, still answered after every retry."""

    what = "Server error, still after the allowed retries"
    advice = "The source is failing; re-run later and check the vendor's status page."


class UnexpectedStatus(ConnectorError):  # noqa: N818  the issue names it (canvasapi style)
    """Any other status that is not a success (400, 405, 409, 410, 422, an unfollowed 3xx...)."""

    what = "Unexpected answer"
    advice = "Check the request parameters against the source's API documentation."


class SourceTimeout(ConnectorError):  # noqa: N818  the issue names it (canvasapi style)
    """The source did not connect or answer within the timeout, after the allowed retries."""

    what = "Timed out"
    advice = "Re-run later, or raise the client's timeout=(connect, read) for this source."


class ConnectionFailed(ConnectorError):  # noqa: N818  the issue names it (canvasapi style)
    """No usable connection: refused, reset, DNS or TLS failure, or a body that ended early."""

    what = "Connection failed"
    advice = "Check the host name, the network and any proxy settings, then re-run."


class BadResponse(ConnectorError):  # noqa: N818  the issue names it (canvasapi style)
    """A success status whose body is not what was expected (an HTML page, truncated JSON)."""

    what = "The answer was not the JSON expected"
    advice = (
        "The source may have answered with a login or maintenance page: check the base URL and "
        "credentials, then re-run."
    )


class PaginationError(ConnectorError):
    """Following pages went wrong."""


class PaginationLoopError(PaginationError):
    """A next URL, token or cursor repeated, or a page repeated the previous page's content."""

    what = "Pagination loop"
    advice = (
        "The source keeps sending the same page; report it to the vendor. The pull stopped "
        "instead of looping forever."
    )


class PageLimitExceeded(PaginationError):  # noqa: N818  the issue names it (canvasapi style)
    """More pages than the paginator's ``max_pages`` safety cap."""

    what = "Too many pages"
    advice = "If the source really is this large, raise the paginator's max_pages."


def is_canvas_rate_limit(response: requests.Response) -> bool:
    """Whether ``response`` is Canvas's older throttling answer (403 with a rate-limit body).

    Examples
    --------
    >>> response = requests.Response()
    >>> response.status_code, response._content = 403, b"403 Forbidden (Rate Limit Exceeded)"
    >>> is_canvas_rate_limit(response)
    True
    """
    return response.status_code == 403 and CANVAS_RATE_LIMIT_BODY in response.content[:200]


def check_response(response: requests.Response, *, page: int | None = None) -> requests.Response:
    """Return ``response`` if its status is a success, else raise the matching typed error.

    ======  =========================  ==============================================
    status  exception                  what to do
    ======  =========================  ==============================================
    401     AuthenticationError        check client id/secret or token
    403     PermissionDenied           ask for read access (scopes)
    403*    RateLimitExceeded          Canvas's ``Rate Limit Exceeded`` body: wait
    404     NotFound                   check base URL and path
    429     RateLimitExceeded          wait, pull less at once
    5xx     ServerError                re-run later
    other   UnexpectedStatus           check the request parameters
    ======  =========================  ==============================================

    Examples
    --------
    >>> response = requests.Response()
    >>> response.status_code, response.url = 429, "https://canvas.example.org/api/v1/courses"
    >>> check_response(response, page=3)
    Traceback (most recent call last):
    ...
    connectors.http.errors.RateLimitExceeded: HTTP 429 Rate limit exceeded, ... (page 3). ...
    >>> response.status_code = 200
    >>> check_response(response) is response
    True
    """
    status = response.status_code
    if 200 <= status < 300:
        return response
    error: type[ConnectorError]
    if status == 401:
        error = AuthenticationError
    elif status == 429 or is_canvas_rate_limit(response):
        error = RateLimitExceeded
    elif status == 403:
        error = PermissionDenied
    elif status == 404:
        error = NotFound
    elif status >= 500:
        error = ServerError
    else:
        error = UnexpectedStatus
    detail = None
    retries = _retries_made(response)
    if retries and error in (RateLimitExceeded, ServerError):
        detail = f"HTTP {status} {error.what.split(',')[0]}, still after {retries} retries"
    raise error(
        url=response.url or "(unknown URL)",
        status=status,
        page=page,
        detail=detail,
        request_id=_request_id(response),
    )


def _retries_made(response: requests.Response) -> int:
    retries = getattr(response.raw, "retries", None)
    history = getattr(retries, "history", ())
    return len(history) if isinstance(history, tuple) else 0


def _request_id(response: requests.Response) -> str | None:
    for name in _REQUEST_ID_HEADERS:
        value = response.headers.get(name)
        if value:
            return str(value)[:100]
    return None


def parse_json(response: requests.Response, *, page: int | None = None) -> Any:
    """Parse a response's JSON body, or raise :class:`BadResponse` saying what came instead.

    The message names the URL, page, status, content type and size, never the body.

    Examples
    --------
    >>> response = requests.Response()
    >>> response.status_code, response.url = 200, "https://sis.example.org/users"
    >>> response.headers["Content-Type"] = "text/html; charset=utf-8"
    >>> response._content = b"<html><body>Please sign in</body></html>"
    >>> parse_json(response, page=2)
    Traceback (most recent call last):
    ...
    connectors.http.errors.BadResponse: Expected JSON but got text/html; charset=utf-8 \
(40 bytes, HTTP 200) at https://sis.example.org/users (page 2). The source may have ...
    """
    try:
        return response.json()
    except ValueError as error:  # requests.JSONDecodeError is a ValueError
        content_type = response.headers.get("Content-Type") or "no Content-Type"
        size = len(response.content)
        if "json" in content_type.lower() and size:
            position = getattr(error, "pos", None)
            at = f", invalid at byte {position}" if isinstance(position, int) else ""
            detail = (
                f"The JSON answer is truncated or malformed ({size} bytes of {content_type}"
                f"{at}, HTTP {response.status_code})"
            )
            fix = "Re-run the pull; if it repeats, the source or a proxy is cutting answers short."
        else:
            detail = (
                f"Expected JSON but got {content_type} ({size} bytes, HTTP {response.status_code})"
            )
            fix = None
        raise BadResponse(
            url=response.url, status=response.status_code, page=page, detail=detail, fix=fix
        ) from None


def map_transport_error(
    error: requests.RequestException, url: str, *, page: int | None = None
) -> ConnectorError:
    """Turn a ``requests`` transport exception into the matching typed error (to ``raise``).

    The original exception text can contain an unredacted URL, so only its class name and a
    redacted reason are kept; raise the result ``from None``.

    Examples
    --------
    >>> error = requests.ConnectTimeout("connect timed out")
    >>> print(map_transport_error(error, "https://sis.example.org/users?token=t", page=1))
    Timed out connecting (ConnectTimeout: connect timed out) at \
https://sis.example.org/users?token=*** (page 1). Re-run later, or raise the client's \
timeout=(connect, read) for this source.
    """
    reason = _root_reason(error)
    why = f"{type(reason).__name__}: {redact_text(str(reason))[:300]}"
    if isinstance(error, requests.ConnectTimeout) or (
        isinstance(reason, ConnectTimeoutError) and not isinstance(reason, NewConnectionError)
    ):
        return SourceTimeout(url=url, page=page, detail=f"Timed out connecting ({why})")
    if isinstance(error, requests.ReadTimeout) or isinstance(reason, ReadTimeoutError):
        return SourceTimeout(url=url, page=page, detail=f"Timed out waiting for the answer ({why})")
    if isinstance(error, requests.exceptions.SSLError):
        return ConnectionFailed(
            url=url,
            page=page,
            detail=f"TLS failed ({why})",
            fix="Check the host name and the certificate chain (a district proxy may intercept "
            "TLS; set REQUESTS_CA_BUNDLE to its CA).",
        )
    if isinstance(
        error, requests.exceptions.ChunkedEncodingError | requests.exceptions.ContentDecodingError
    ):
        return ConnectionFailed(url=url, page=page, detail=f"The answer ended early ({why})")
    if isinstance(error, requests.exceptions.RetryError):
        return ServerError(url=url, page=page, detail=f"Still failing after the retries ({why})")
    if isinstance(error, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema):
        return ConnectionFailed(
            url=url, page=page, detail=f"Invalid URL ({why})", fix="Check the base URL."
        )
    return ConnectionFailed(url=url, page=page, detail=f"Connection failed ({why})")


def _root_reason(error: BaseException) -> BaseException:
    """The innermost urllib3 reason of a requests exception (MaxRetryError.reason and so on)."""
    seen: set[int] = set()
    current: BaseException = error
    while id(current) not in seen:
        seen.add(id(current))
        inner: object = None
        if isinstance(current, MaxRetryError):
            inner = current.reason
        elif current.args and isinstance(current.args[0], BaseException):
            inner = current.args[0]
        if not isinstance(inner, BaseException):
            break
        current = inner
    return current
