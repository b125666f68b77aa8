"""Fault injection over pytest-httpserver, for any connector test that talks HTTP.

Faults are small objects whose ``respond`` is a pytest-httpserver handler; :func:`inject`
registers one as one-shot handlers, which pytest-httpserver tries before permanent handlers,
so a fault fires first and the ordinary answer follows. :func:`serve_pages` serves a list of
pages in the shape of one pagination style and returns each page's route, so a fault can be
aimed at "page 2". Counters on each fault say how often it fired, even for answers that never
reach the client (a dropped connection) or arrive late (a slow answer).

Examples
--------
>>> from connectors.http import LinkHeaderPaginator
>>> with threaded_server() as server:
...     routes = serve_pages(server, "/users", [[{"id": "a"}], [{"id": "b"}]], style="link")
...     _ = inject(server, "/users", RateLimited(retry_after="0"), query=routes[1].query)
...     client = fast_client(server)
...     ids = {u["id"] for r in client.pages("/users", paginator=LinkHeaderPaginator())
...            for u in r.json()["data"]}
...     statuses = [response.status_code for _, response in server.log]
>>> sorted(ids), statuses
(['a', 'b'], [200, 429, 200])
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import struct
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, cast
from urllib.parse import urlencode

from oauthlib.oauth1.rfc5849 import signature as oauth1_signature
from oauthlib.oauth1.rfc5849 import utils as oauth1_utils
from pytest_httpserver import HTTPServer
from werkzeug.wrappers import Request, Response

from connectors.http import (
    Auth,
    HttpClient,
    RetryPolicy,
)

__all__ = [
    "FAST_RETRY",
    "CanvasRateLimited",
    "ConnectionDrop",
    "Fault",
    "HtmlErrorPage",
    "PageRoute",
    "RateLimited",
    "ServerFailure",
    "SlowResponse",
    "TruncatedJson",
    "Unauthorized",
    "fast_client",
    "inject",
    "oauth1_signature_valid",
    "require_oauth1",
    "serve_pages",
    "serve_token_endpoint",
    "threaded_server",
]

FAST_RETRY = RetryPolicy(total=3, backoff_factor=0.0, max_retry_time=10.0)
"""Retries that really happen, without sleeping (back-off 0; faults send ``Retry-After: 0``)."""

Handler = Callable[[Request], Response]
PageStyle = Literal["link", "offset", "cursor", "page_token", "body_link"]


@contextmanager
def threaded_server(host: str = "127.0.0.1") -> Iterator[HTTPServer]:
    """Run a threaded pytest-httpserver on 127.0.0.1 (a slow answer then blocks no other).

    Examples
    --------
    >>> with threaded_server() as server:
    ...     server.url_for("/x").startswith("http://127.0.0.1:")
    True
    """
    server = HTTPServer(host=host, port=0, threaded=True)
    server.start()
    try:
        yield server
    finally:
        server.clear()
        if server.is_running():
            server.stop()


def fast_client(server: HTTPServer, *, auth: Auth | None = None, **kwargs: Any) -> HttpClient:
    """An :class:`HttpClient` on ``server`` with :data:`FAST_RETRY` and 2-second timeouts.

    Examples
    --------
    >>> fast_client(HTTPServer(port=8999)).base_url
    'http://localhost:8999'

    """
    kwargs.setdefault("retry", FAST_RETRY)
    kwargs.setdefault("timeout", (2.0, 2.0))
    return HttpClient(server.url_for("/"), auth=auth, **kwargs)


# -- faults ----------------------------------------------------------------------------------


@dataclass(eq=False)
class Fault:
    """Base class: a handler that counts how often it was called.

    Examples
    --------
    >>> fault = RateLimited()
    >>> fault.calls
    0
    """

    calls: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def respond(self, request: Request) -> Response:
        """Count the call, then answer (or misbehave) through :meth:`answer`."""
        with self._lock:
            self.calls += 1
        return self.answer(request)

    def answer(self, request: Request) -> Response:
        """The faulty answer."""
        raise NotImplementedError


@dataclass(eq=False)
class RateLimited(Fault):
    """HTTP 429, with ``Retry-After`` (``None`` leaves the header out).

    Examples
    --------
    >>> RateLimited(retry_after=None).answer(Request.from_values()).headers.get("Retry-After")
    """

    retry_after: str | None = "0"

    def answer(self, request: Request) -> Response:
        headers = {"Retry-After": self.retry_after} if self.retry_after is not None else {}
        return _json({"error": "rate limited"}, status=429, headers=headers)


@dataclass(eq=False)
class CanvasRateLimited(Fault):
    """Canvas's older throttling: HTTP 403, body ``403 Forbidden (Rate Limit Exceeded)``.

    Examples
    --------
    >>> CanvasRateLimited().answer(Request.from_values()).get_data()
    b'403 Forbidden (Rate Limit Exceeded)'
    """

    retry_after: str | None = None
    remaining: str = "0.0"

    def answer(self, request: Request) -> Response:
        headers = {"X-Rate-Limit-Remaining": self.remaining}
        if self.retry_after is not None:
            headers["Retry-After"] = self.retry_after
        return Response(
            "403 Forbidden (Rate Limit Exceeded)",
            status=403,
            headers=headers,
            mimetype="text/plain",
        )


@dataclass(eq=False)
class ServerFailure(Fault):
    """A 5xx answer (inject it ``times=n`` for a burst).

    Examples
    --------
    >>> ServerFailure(502).answer(Request.from_values()).status_code
    502
    """

    status: int = 503

    def answer(self, request: Request) -> Response:
        return _json({"error": "unavailable"}, status=self.status)


@dataclass(eq=False)
class SlowResponse(Fault):
    """A correct answer sent only after ``delay`` seconds (past a short client read timeout).

    A late answer is logged in ``httpserver.log`` only when it is sent: call :meth:`settle`
    before reading the log or ending the test, so it cannot land in the next test's log.

    Examples
    --------
    >>> fault = SlowResponse(delay=0.01, body={"data": []})
    >>> response = fault.respond(Request.from_values())
    >>> fault.settle(timeout=0.01)  # not sent yet
    False
    >>> response.close()  # werkzeug closes an answer once it is written
    >>> response.status_code, fault.settle()
    (200, True)
    """

    delay: float = 1.0
    body: Any = field(default_factory=dict)
    in_flight: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        self._idle = threading.Condition(self._lock)

    def answer(self, request: Request) -> Response:
        with self._lock:
            self.in_flight += 1
        threading.Event().wait(self.delay)
        response = _json(self.body)
        response.call_on_close(self._done)
        return response

    def _done(self) -> None:
        with self._idle:
            self.in_flight -= 1
            self._idle.notify_all()

    def settle(self, timeout: float = 5.0) -> bool:
        """Wait until every late answer has been sent; return whether that happened in time."""
        with self._idle:
            return self._idle.wait_for(lambda: self.in_flight == 0, timeout)


@dataclass(eq=False)
class ConnectionDrop(Fault):
    """Reset the connection without answering.

    It shuts the socket down under werkzeug (``environ["werkzeug.socket"]``) with ``SO_LINGER``
    0, so the client sees its request fail mid-connection. The placeholder answer (status 599)
    never reaches the client; it only marks the drop in ``httpserver.log``.

    Examples
    --------
    >>> ConnectionDrop().calls
    0
    """

    def answer(self, request: Request) -> Response:
        connection = request.environ.get("werkzeug.socket")
        if isinstance(connection, socket.socket):
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            connection.shutdown(socket.SHUT_RDWR)
        return Response(b"", status=599)


@dataclass(eq=False)
class TruncatedJson(Fault):
    """A JSON answer cut short (an honest ``Content-Length`` for the bytes that are sent).

    Examples
    --------
    >>> TruncatedJson({"data": [{"id": "a"}]}, keep=10).answer(Request.from_values()).get_data()
    b'{"data": [{'
    """

    body: Any = field(default_factory=lambda: {"data": [{"id": "1"}, {"id": "2"}]})
    keep: int | None = None
    status: int = 200

    def answer(self, request: Request) -> Response:
        text = json.dumps(self.body)
        cut = self.keep + 1 if self.keep is not None else len(text) // 2
        return Response(text[:cut], status=self.status, mimetype="application/json")


HTML_ERROR_PAGE = (
    "<!DOCTYPE html><html><head><title>Scheduled maintenance</title></head><body>"
    "<h1>We'll be back soon</h1><p>Signed in as Jordan Rivera (jordan.rivera@example.org)</p>"
    "</body></html>"
)
"""An error page that holds personal data, which no error message may repeat."""


@dataclass(eq=False)
class HtmlErrorPage(Fault):
    """An HTML page, by default with status 200 (a login or maintenance page).

    Examples
    --------
    >>> HtmlErrorPage().answer(Request.from_values()).mimetype
    'text/html'
    """

    status: int = 200
    html: str = HTML_ERROR_PAGE

    def answer(self, request: Request) -> Response:
        return Response(self.html, status=self.status, mimetype="text/html")


@dataclass(eq=False)
class Unauthorized(Fault):
    """HTTP 401 (an expired or revoked token).

    Examples
    --------
    >>> Unauthorized().answer(Request.from_values()).status_code
    401
    """

    def answer(self, request: Request) -> Response:
        return _json(
            {"error": "invalid_token"},
            status=401,
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )


def inject(
    server: HTTPServer,
    path: str,
    fault: Fault,
    *,
    query: Mapping[str, str] | str | None = None,
    times: int = 1,
    headers: Mapping[str, str] | None = None,
    method: str = "GET",
) -> Fault:
    """Make the next ``times`` matching requests hit ``fault``; return it for its counter.

    ``query=None`` matches any query string, ``""`` only none, and a mapping exactly those
    parameters in any order.

    Examples
    --------
    >>> server = HTTPServer(port=8999)  # registering needs no running server
    >>> fault = inject(server, "/x", ServerFailure(503), times=2)
    >>> len(server.oneshot_handlers), fault.calls
    (2, 0)
    """
    for _ in range(times):
        server.expect_oneshot_request(
            path, method=method, query_string=_query_matcher(query), headers=dict(headers or {})
        ).respond_with_handler(fault.respond)
    return fault


# -- pages -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PageRoute:
    """Where one served page answers: its path and exact query parameters.

    Examples
    --------
    >>> PageRoute("/users", {"limit": "2", "offset": "2"}).query_string
    'limit=2&offset=2'
    """

    path: str
    query: Mapping[str, str]

    @property
    def query_string(self) -> str:
        """The query as a string, in the order the parameters were given."""
        return urlencode(dict(self.query))


def serve_pages(
    server: HTTPServer,
    path: str,
    pages: Sequence[Sequence[Any]],
    *,
    style: PageStyle,
    items_key: str | None = "data",
    page_size: int | None = None,
    total_count: bool = True,
    loop_to: int | None = None,
    relative_links: bool = False,
    link_path: str = "links.next",
    headers: Mapping[str, str] | None = None,
    cursor_of: Callable[[Any], str] | None = None,
) -> list[PageRoute]:
    """Serve ``pages`` of records at ``path`` the way a source with that ``style`` pages them.

    ======================  =================================================================
    style                   page 1 query / next page / body
    ======================  =================================================================
    ``link``                none / ``page=n`` in a ``Link: <url>; rel="next"`` header
    ``offset``              ``limit&offset=0`` / ``offset`` advanced; ``X-Total-Count`` header
    ``cursor``              ``limit`` / Clever ``links: [{rel: next, uri: ...starting_after}]``
    ``page_token``          none / ``pageToken`` from the body's ``nextPageToken``
    ``body_link``           none / ``page=n`` URL at ``link_path`` in the body (``"more"``...)
    ======================  =================================================================

    Records go under ``items_key`` (``None``: the body is the list). The ``offset`` style also
    answers an empty page just past the end, as a real source does. ``loop_to=k`` makes the
    last page point back to page ``k`` (0-based) instead of ending: a repeating link, or,
    with ``k`` the last page, a cursor that does not advance. ``headers`` are required request
    headers (e.g. ``{"Authorization": "Bearer t2"}``).

    Examples
    --------
    >>> routes = serve_pages(HTTPServer(port=8999), "/v3.0/users", [[{"id": "a"}], [{"id": "b"}]],
    ...                      style="cursor")
    >>> [route.query_string for route in routes]
    ['limit=1', 'limit=1&starting_after=a']
    """
    if not pages:
        raise ValueError("serve_pages needs at least one page")
    if loop_to is not None and style == "offset":
        raise ValueError("an offset loop comes from a server that ignores offset; serve one page")
    if items_key is None and style in ("cursor", "page_token", "body_link"):
        raise ValueError(f"style {style!r} puts paging fields in a JSON object: give items_key")
    size = page_size or max(len(page) for page in pages) or 1
    get_cursor = cursor_of or _record_id
    queries = _page_queries(pages, style, size, get_cursor)
    routes = [PageRoute(path, query) for query in queries]
    total = sum(len(page) for page in pages)
    for index, records in enumerate(pages):
        following: int | None = index + 1 if index + 1 < len(pages) else loop_to
        next_url = None
        if following is not None:
            next_route = routes[following]
            relative = f"{path}?{next_route.query_string}" if next_route.query else path
            next_url = relative if relative_links else server.url_for(relative)
        body: Any = {items_key: list(records)} if items_key else list(records)
        response_headers: dict[str, str] = {}
        if style == "link" and next_url:
            response_headers["Link"] = f'<{next_url}>; rel="next"'
        elif style == "offset" and total_count:
            response_headers["X-Total-Count"] = str(total)
        elif style == "cursor":
            links = [{"rel": "self", "uri": f"{path}?{routes[index].query_string}"}]
            if following is not None:
                links.append({"rel": "next", "uri": f"{path}?{routes[following].query_string}"})
            body["links"] = links
        elif style == "page_token" and following is not None:
            body["nextPageToken"] = routes[following].query["pageToken"]
        elif style == "body_link":
            _set_path(body, link_path, next_url or "")
        server.expect_request(
            path,
            query_string=_query_matcher(routes[index].query),
            headers=dict(headers or {}),
        ).respond_with_json(body, headers=response_headers)
    if style == "offset":  # like a real source, answer an empty page past the end
        past_end = {"limit": str(size), "offset": str(total)}
        server.expect_request(
            path, query_string=past_end, headers=dict(headers or {})
        ).respond_with_json({items_key: []} if items_key else [])
    return routes


def _page_queries(
    pages: Sequence[Sequence[Any]], style: PageStyle, size: int, cursor_of: Callable[[Any], str]
) -> list[dict[str, str]]:
    queries: list[dict[str, str]] = []
    offset = 0
    for index, records in enumerate(pages):
        if style == "offset":
            queries.append({"limit": str(size), "offset": str(offset)})
            offset += len(records)
        elif style == "cursor":
            query = {"limit": str(size)}
            if index:
                query["starting_after"] = cursor_of(pages[index - 1][-1])
            queries.append(query)
        elif style == "page_token":
            queries.append({"pageToken": f"token-{index + 1}"} if index else {})
        else:
            queries.append({"page": str(index + 1)} if index else {})
    return queries


def _record_id(record: Any) -> str:
    inner = record.get("data", record) if isinstance(record, Mapping) else record
    return str(inner["id"] if isinstance(inner, Mapping) else inner)


def _set_path(body: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    target = body
    for step in parents:
        target = target.setdefault(step, {})
    target[last] = value


def _query_matcher(query: Mapping[str, str] | str | None) -> dict[str, str] | str | None:
    if query is None or isinstance(query, str):
        return query
    return dict(query) if query else ""


def _json(body: Any, *, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body), status=status, headers=dict(headers or {}), mimetype="application/json"
    )


# -- auth ------------------------------------------------------------------------------------


def serve_token_endpoint(
    server: HTTPServer,
    path: str = "/oauth2/token",
    *,
    client_id: str,
    client_secret: str,
    tokens: Sequence[str] = ("token-1", "token-2"),
    expires_in: int = 3600,
) -> list[str]:
    """Answer client-credentials token requests with ``tokens``, one per request, in order.

    A request whose HTTP basic credentials are not ``client_id``/``client_secret`` gets
    ``401 {"error": "invalid_client"}``. Returns a list that records each token handed out.

    Examples
    --------
    >>> serve_token_endpoint(HTTPServer(port=8999), client_id="c", client_secret="s")
    []
    """
    issued: list[str] = []
    remaining = list(tokens)
    lock = threading.Lock()
    expected = "Basic " + base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()

    def token(request: Request) -> Response:
        if request.headers.get("Authorization") != expected:
            return _json({"error": "invalid_client"}, status=401)
        if request.form.get("grant_type") != "client_credentials":
            return _json({"error": "unsupported_grant_type"}, status=400)
        with lock:
            if not remaining:
                return _json({"error": "no more tokens in this test"}, status=400)
            value = remaining.pop(0)
            issued.append(value)
        return _json({"access_token": value, "token_type": "Bearer", "expires_in": expires_in})

    server.expect_request(path, method="POST").respond_with_handler(token)
    return issued


def oauth1_signature_valid(request: Request, consumer_secret: str, token_secret: str = "") -> bool:
    """Verify an OAuth 1.0a signature the way a server does, query parameters included.

    The signature base string is rebuilt from the request's method, URL (without query), every
    query parameter and the ``oauth_*`` header parameters (RFC 5849 section 3.4.1), then signed
    with the secret and compared. HMAC-SHA1, HMAC-SHA256 and PLAINTEXT are supported.

    Examples
    --------
    >>> oauth1_signature_valid(Request.from_values("/users"), "secret")
    False
    """
    header = request.headers.get("Authorization", "")
    if not header.startswith("OAuth "):
        return False
    everything = oauth1_signature.collect_parameters(
        uri_query=request.query_string.decode(),
        headers={"Authorization": header},
        exclude_oauth_signature=False,
    )
    oauth = dict(everything)  # values unescaped
    method, sent = oauth.get("oauth_signature_method"), oauth.get("oauth_signature", "")
    if method == "PLAINTEXT":
        expected = oauth1_signature.sign_plaintext(consumer_secret, token_secret)
        return hmac.compare_digest(expected, sent)
    params = [(name, value) for name, value in everything if name != "oauth_signature"]
    base = oauth1_signature.signature_base_string(
        cast(Literal["GET", "POST"], request.method),
        oauth1_signature.base_string_uri(request.base_url),
        # the stub says dict, but oauthlib takes (and needs, for repeated names) a pair list
        oauth1_signature.normalize_parameters(params),  # type: ignore[arg-type]  # stub is wrong
    )
    digest = {"HMAC-SHA1": hashlib.sha1, "HMAC-SHA256": hashlib.sha256}.get(str(method))
    if digest is None:
        return False
    key = f"{oauth1_utils.escape(consumer_secret)}&{oauth1_utils.escape(token_secret)}"
    mac = hmac.new(key.encode(), base.encode(), digest).digest()
    return hmac.compare_digest(base64.b64encode(mac).decode(), sent)


def require_oauth1(consumer_secret: str, respond: Handler) -> Handler:
    """Wrap a handler: answer 401 unless the request's OAuth 1.0a signature verifies.

    Examples
    --------
    >>> guarded = require_oauth1("secret", lambda request: Response("ok"))
    >>> guarded(Request.from_values("/users?limit=2")).status_code
    401
    """

    def handler(request: Request) -> Response:
        if not oauth1_signature_valid(request, consumer_secret):
            return _json({"error": "invalid signature"}, status=401)
        return respond(request)

    return handler
