"""``HttpClient``: the one place REST connectors talk HTTP.

One ``requests.Session`` with urllib3 ``Retry`` mounted on its adapter does timeouts,
exponential back-off, ``Retry-After`` and the retries of 429/500/502/503/504 for GET, within a
cap on total retry time. The client adds the one case ``Retry`` cannot see (Canvas's HTTP 403
``Rate Limit Exceeded`` body), one credential refresh on a 401, JSON checks, lazy pagination,
typed errors and redacted debug logging.

Examples
--------
>>> from pydantic import SecretStr
>>> from connectors.http import BearerAuth
>>> client = HttpClient("https://api.clever.com", auth=BearerAuth(SecretStr("tok-1234")),
...                     timeout=(5, 30))
>>> client.url_for("/v3.0/users")
'https://api.clever.com/v3.0/users'
>>> client
HttpClient('https://api.clever.com', auth=BearerAuth(token=SecretStr('**********')), \
timeout=(5, 30))
>>> client.close()
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self, TypeVar, cast
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import ConnectionPool
from urllib3.exceptions import InvalidHeader, MaxRetryError, ResponseError
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from .auth import Auth, Timeout
from .errors import (
    AuthenticationError,
    BadResponse,
    check_response,
    is_canvas_rate_limit,
    map_transport_error,
    parse_json,
)
from .paginators import Page, PageRequest, Paginator, SinglePagePaginator, query_params
from .redaction import SCRUBBED_LOGGERS, SCRUBBER, redact_headers, redact_url

__all__ = ["DEFAULT_TIMEOUT", "BudgetedRetry", "HttpClient", "RetryPolicy", "read_ahead"]

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT: tuple[float, float] = (10.0, 60.0)
"""(connect, read) seconds."""
DEFAULT_USER_AGENT = "edtech-map (+https://example.org/edtech-map)"

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How the session retries: counts, back-off and the cap on total retry time.

    Parameters
    ----------
    total
        Most retries of one request (connection errors, read errors and statuses together).
    backoff_factor
        Exponential back-off: ``backoff_factor * 2 ** (n - 1)`` seconds before retry ``n``
        (urllib3 retries the first failure at once). ``0`` in tests.
    backoff_max
        Longest single back-off, and longest ``Retry-After`` honoured.
    max_retry_time
        Cap on the time spent retrying one request: a retry whose wait would end past it is
        not made, and the last answer (or error) is reported instead.
    status_forcelist
        Statuses that are retried (for ``allowed_methods`` only).
    allowed_methods
        Idempotent methods that may be retried.

    Examples
    --------
    >>> retry = RetryPolicy(total=3, backoff_factor=0).to_urllib3()
    >>> retry.total, sorted(retry.status_forcelist), retry.respect_retry_after_header
    (3, [429, 500, 502, 503, 504], True)
    """

    total: int = 5
    backoff_factor: float = 1.0
    backoff_max: float = 60.0
    max_retry_time: float = 300.0
    status_forcelist: frozenset[int] = field(
        default_factory=lambda: frozenset({429, 500, 502, 503, 504})
    )
    allowed_methods: frozenset[str] = field(
        default_factory=lambda: frozenset({"GET", "HEAD", "OPTIONS"})
    )

    def to_urllib3(self) -> BudgetedRetry:
        """The urllib3 ``Retry`` to mount on the session's adapter."""
        return BudgetedRetry(
            total=self.total,
            connect=self.total,
            read=self.total,
            status=self.total,
            other=0,
            redirect=False,
            allowed_methods=self.allowed_methods,
            status_forcelist=self.status_forcelist,
            backoff_factor=self.backoff_factor,
            backoff_max=self.backoff_max,
            retry_after_max=max(1, round(self.backoff_max)),
            raise_on_status=False,
            respect_retry_after_header=True,
            max_retry_time=self.max_retry_time,
        )

    def backoff(self, retry_number: int) -> float:
        """Seconds to wait before retry ``retry_number`` (1-based), as urllib3 computes it.

        Examples
        --------
        >>> [RetryPolicy(backoff_factor=1, backoff_max=5).backoff(n) for n in (1, 2, 3, 4, 5)]
        [0.0, 2.0, 4.0, 5.0, 5.0]
        """
        if retry_number <= 1:
            return 0.0
        return float(min(self.backoff_max, self.backoff_factor * 2 ** (retry_number - 1)))


class BudgetedRetry(Retry):
    """urllib3 ``Retry`` plus a cap on total retry time and a WARNING log line per retry.

    Examples
    --------
    >>> retry = BudgetedRetry(total=2, max_retry_time=30).new(total=1)
    >>> retry.total, retry.max_retry_time
    (1, 30)
    """

    def __init__(
        self,
        *args: Any,
        max_retry_time: float = 300.0,
        started_at: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.max_retry_time = max_retry_time
        self.started_at = started_at

    def new(self, **kw: Any) -> Self:
        kw.setdefault("max_retry_time", self.max_retry_time)
        kw.setdefault("started_at", self.started_at)
        return super().new(**kw)

    def get_retry_after(self, response: BaseHTTPResponse) -> float | None:
        try:
            return super().get_retry_after(response)
        except InvalidHeader:
            log.warning("Ignoring an unreadable Retry-After header; using exponential back-off")
            return None

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> Self:
        retried = super().increment(method, url, response, error, _pool, _stacktrace)
        now = time.monotonic()
        if retried.started_at is None:
            retried.started_at = now
        wait, why = retried.planned_wait(response)
        where = redact_url(_full_url(_pool, url))
        what = f"HTTP {response.status}" if response is not None else type(error).__name__
        if now - retried.started_at + wait > self.max_retry_time:
            log.warning(
                "%s %s answered %s; not retrying: waiting %.1f s would pass max_retry_time=%.0f s",
                method,
                where,
                what,
                wait,
                self.max_retry_time,
            )
            reason = error or ResponseError(f"max_retry_time {self.max_retry_time} s reached")
            # urllib3 only reads the pool for its message; it is None when no pool was involved
            raise MaxRetryError(cast(ConnectionPool, _pool), url or "", reason) from error
        log.warning(
            "%s %s answered %s; retry %d in %.1f s (%s)",
            method,
            where,
            what,
            len(retried.history),
            wait,
            why,
        )
        return retried

    def planned_wait(self, response: BaseHTTPResponse | None) -> tuple[float, str]:
        """The seconds urllib3 will sleep before the next retry, and why."""
        if (
            response is not None
            and self.respect_retry_after_header
            and response.status in self.RETRY_AFTER_STATUS_CODES
        ):
            retry_after = self.get_retry_after(response)
            if retry_after:
                return retry_after, "Retry-After"
        return self.get_backoff_time(), "back-off"


def read_ahead(items: Iterator[T], depth: int = 1) -> Iterator[T]:
    """Yield what ``items`` yields, with up to ``depth`` items fetched ahead in a worker thread.

    A pull spends part of each page waiting for the source and part working on what came;
    with one page read ahead, the two overlap. Nothing is fetched until the caller first asks.
    An exception from ``items`` is raised to the caller when it asks for the item that failed,
    after every item before it. When the caller stops early, the worker finishes the request
    it is in and stops.

    Examples
    --------
    >>> list(read_ahead(iter(range(5)), depth=2))
    [0, 1, 2, 3, 4]
    >>> def failing():
    ...     yield "page 1"
    ...     raise ValueError("page 2 is broken")
    >>> pages = read_ahead(failing())
    >>> next(pages)
    'page 1'
    >>> next(pages)
    Traceback (most recent call last):
    ...
    ValueError: page 2 is broken
    """
    if depth < 1:
        raise ValueError(f"depth must be at least 1, not {depth}")
    slots: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(kind: str, value: Any) -> bool:
        while not stop.is_set():
            try:
                slots.put((kind, value), timeout=0.1)
            except queue.Full:
                continue
            return True
        return False

    def work() -> None:
        try:
            for item in items:
                if not offer("item", item):
                    return
        except BaseException as error:  # handed over: the caller raises it in its own thread
            offer("error", error)
        else:
            offer("done", None)

    worker: threading.Thread | None = None
    try:
        while True:
            if worker is None:
                worker = threading.Thread(target=work, name="edtech-map-read-ahead", daemon=True)
                worker.start()
            kind, value = slots.get()
            if kind == "item":
                yield cast(T, value)
            elif kind == "error":
                raise cast(BaseException, value)
            else:
                return
    finally:
        stop.set()


class _Session(requests.Session):
    """A ``requests.Session`` that reads the environment's proxy and CA settings once per origin.

    ``requests`` reads them (``HTTPS_PROXY``, ``NO_PROXY``, ``REQUESTS_CA_BUNDLE``, ...) on
    every request, walking all of ``os.environ`` each time; a pull of thousands of pages asks
    the same question thousands of times. The answer is kept per scheme, host and port, for
    requests that set none of those things themselves (the client never does).
    """

    def __init__(self) -> None:
        super().__init__()
        self._environment: dict[tuple[str, str, int | None], dict[str, Any]] = {}

    def merge_environment_settings(
        self, url: str | bytes | None, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> Any:  # requests' own return type is a TypedDict private to its stubs
        text = url.decode() if isinstance(url, bytes) else url or ""
        if proxies or stream is not None or verify is not None or cert is not None:
            return dict(super().merge_environment_settings(text, proxies, stream, verify, cert))
        origin = _origin(text)
        settings = self._environment.get(origin)
        if settings is None:
            settings = dict(super().merge_environment_settings(text, {}, None, None, None))
            self._environment[origin] = settings
        return {**settings, "proxies": dict(settings["proxies"])}


def _full_url(pool: ConnectionPool | None, url: str | None) -> str:
    if pool is None:
        return url or ""
    scheme = getattr(pool, "scheme", "http")
    return f"{scheme}://{pool.host}:{pool.port}{url or ''}"


class HttpClient:
    """One source's HTTP session: retries, timeouts, auth, pagination, typed errors.

    Parameters
    ----------
    base_url
        Root of the API. A path given to :meth:`get` or :meth:`pages` is appended to it
        (``"https://sis.example.org/ims/oneroster/v1p1"`` + ``"/users"``); a full URL is used
        as is, but only on the base URL's scheme, host and port or a ``trusted_hosts`` host.
    auth
        One of :class:`BearerAuth`, :class:`BasicAuth`, :class:`OAuth1Auth`,
        :class:`OAuth2ClientCredentials`, or ``None``.
    timeout
        ``(connect, read)`` seconds, or one number for both.
    retry
        The :class:`RetryPolicy`.
    headers
        Extra headers sent with every request (e.g. ``X-Experience-API-Version``).
    trusted_hosts
        Other host names that next-page links may point to.

    Examples
    --------
    >>> with HttpClient("https://sis.example.org/ims/oneroster/v1p1/") as client:
    ...     client.url_for("users")
    'https://sis.example.org/ims/oneroster/v1p1/users'
    """

    def __init__(
        self,
        base_url: str,
        *,
        auth: Auth | None = None,
        timeout: Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        headers: Mapping[str, str] | None = None,
        trusted_hosts: Iterable[str] = (),
        user_agent: str = DEFAULT_USER_AGENT,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"base_url must be an http(s) URL with a host, not {redact_url(base_url)!r}"
            )
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.trusted_hosts = frozenset(h.lower() for h in trusted_hosts)
        self._origin = _origin(self.base_url)
        self.session: requests.Session = _Session()
        self.adapter = HTTPAdapter(max_retries=self.retry.to_urllib3())
        self.session.mount("https://", self.adapter)
        self.session.mount("http://", self.adapter)
        self.session.headers.update({"User-Agent": user_agent, "Accept": "application/json"})
        self.session.headers.update(headers or {})
        SCRUBBER.attach(SCRUBBED_LOGGERS)
        if auth is not None:
            auth.bind(self.adapter, timeout)
            SCRUBBER.register(auth.secrets())
            self.session.auth = auth

    def url_for(self, path_or_url: str) -> str:
        """The absolute URL for a path under ``base_url``, or a checked absolute URL.

        Examples
        --------
        >>> client = HttpClient("https://canvas.example.org")
        >>> client.url_for("api/v1/courses"), client.url_for("https://canvas.example.org/x")
        ('https://canvas.example.org/api/v1/courses', 'https://canvas.example.org/x')
        >>> client.url_for("https://elsewhere.example.com/x?token=t")
        Traceback (most recent call last):
        ...
        connectors.http.errors.BadResponse: Refusing to send credentials to another host ...
        """
        if not urlsplit(path_or_url).scheme:
            return f"{self.base_url}/{path_or_url.lstrip('/')}"
        origin = _origin(path_or_url)
        host = (urlsplit(path_or_url).hostname or "").lower()
        if origin != self._origin and not (
            host in self.trusted_hosts and origin[0] == self._origin[0]
        ):
            raise BadResponse(
                url=path_or_url,
                detail="Refusing to send credentials to another host or scheme than "
                f"{redact_url(self.base_url)}",
                fix="If the source really serves pages from that host, pass it in "
                "HttpClient(trusted_hosts=[...]).",
            )
        return path_or_url

    def get(
        self,
        path_or_url: str,
        params: Mapping[str, Any] | None = None,
        *,
        expect_json: bool = True,
        page: int | None = None,
    ) -> requests.Response:
        """GET one resource and return the checked response.

        Raises the typed errors of :func:`check_response`, :class:`SourceTimeout`,
        :class:`ConnectionFailed`, and :class:`BadResponse` when ``expect_json`` and the
        body is not JSON.
        """
        response, _body = self._get(self.url_for(path_or_url), params, page, expect_json)
        return response

    def get_json(self, path_or_url: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET one resource and return its parsed JSON body."""
        return self._get(self.url_for(path_or_url), params, None, True)[1]

    def pages(
        self,
        path_or_url: str,
        params: Mapping[str, Any] | None = None,
        *,
        paginator: Paginator | None = None,
        expect_json: bool = True,
    ) -> Iterator[requests.Response]:
        """Yield the checked response of each page, fetching only as far as the caller iterates.

        Without a ``paginator``, the one response of a :class:`SinglePagePaginator`.
        """
        chosen = paginator or SinglePagePaginator()
        if chosen.needs_json and not expect_json:
            raise ValueError(f"{type(chosen).__name__} reads JSON bodies; use expect_json=True")
        url = self.url_for(path_or_url)

        def fetch(request: PageRequest) -> tuple[requests.Response, Any]:
            return self._get(self.url_for(request.url), request.params, request.number, expect_json)

        return chosen.pages(fetch, url, params)

    def json_pages(
        self,
        path_or_url: str,
        params: Mapping[str, Any] | None = None,
        *,
        paginator: Paginator | None = None,
        ahead: int = 0,
    ) -> Iterator[Page]:
        """Yield each page as a :class:`Page` with its JSON body, decoded once, lazily.

        Like :meth:`pages` with ``expect_json=True``, but the caller gets the body the client
        already parsed (and the paginator read) instead of decoding ``response.json()`` again.
        With ``ahead`` > 0 the next pages are fetched in a worker thread while the caller works
        on this one (:func:`read_ahead`); errors still reach the caller at the page they
        belong to.

        Examples
        --------
        >>> from connectors.http import OffsetPaginator
        >>> with HttpClient("https://sis.example.org/ims/oneroster/v1p1") as client:
        ...     pages = client.json_pages("users", paginator=OffsetPaginator(items_path="users"))
        ...     type(pages).__name__  # nothing is fetched until the caller iterates
        'generator'
        """
        chosen = paginator or SinglePagePaginator()

        def fetch(request: PageRequest) -> tuple[requests.Response, Any]:
            return self._get(self.url_for(request.url), request.params, request.number, True)

        pages = chosen.walk(fetch, self.url_for(path_or_url), params)
        return read_ahead(pages, ahead) if ahead > 0 else pages

    def close(self) -> None:
        """Close the session, its connection pool and the auth's token connections."""
        self.session.close()
        if self.auth is not None:
            self.auth.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"HttpClient({redact_url(self.base_url)!r}, auth={self.auth!r}, timeout={self.timeout!r})"

    # -- internals -------------------------------------------------------------------------

    def _get(
        self, url: str, params: Mapping[str, Any] | None, page: int | None, expect_json: bool
    ) -> tuple[requests.Response, Any]:
        response = self._send(url, params, page)
        response = self._wait_out_canvas_rate_limit(response, url, params, page)
        if response.status_code == 401 and self.auth is not None:
            refreshed = self.auth.refresh()
            if refreshed:
                log.warning(
                    "GET %s answered HTTP 401; retrying once with fresh credentials",
                    redact_url(response.url),
                )
                response = self._send(url, params, page)
            if response.status_code == 401:
                raise AuthenticationError(
                    url=response.url,
                    status=401,
                    page=page,
                    detail="HTTP 401: credentials rejected twice" if refreshed else None,
                    fix=self.auth.rejected_advice(),
                )
        check_response(response, page=page)
        return response, (parse_json(response, page=page) if expect_json else None)

    def _send(
        self, url: str, params: Mapping[str, Any] | None, page: int | None
    ) -> requests.Response:
        try:
            response = self.session.get(url, params=params, timeout=self.timeout)
        except requests.RequestException as error:
            full = PageRequest(url, query_params(params)).key
            raise map_transport_error(error, full, page=page) from None
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "GET %s (page %s) headers %s -> HTTP %d, %d bytes, headers %s",
                redact_url(response.url),
                page,
                redact_headers(response.request.headers),
                response.status_code,
                len(response.content),
                redact_headers(response.headers),
            )
        return response

    def _wait_out_canvas_rate_limit(
        self,
        response: requests.Response,
        url: str,
        params: Mapping[str, Any] | None,
        page: int | None,
    ) -> requests.Response:
        """Retry Canvas's 403 ``Rate Limit Exceeded``, which urllib3 cannot see (it is a body)."""
        started = time.monotonic()
        retries = 0
        while is_canvas_rate_limit(response) and retries < self.retry.total:
            retries += 1
            wait = _retry_after(response)
            why = "Retry-After"
            if wait is None:
                wait, why = self.retry.backoff(retries + 1), "back-off"  # never at once: 2, 4, 8 s
            if time.monotonic() - started + wait > self.retry.max_retry_time:
                log.warning(
                    "GET %s answered 403 Rate Limit Exceeded; not retrying: waiting %.1f s "
                    "would pass max_retry_time=%.0f s",
                    redact_url(response.url),
                    wait,
                    self.retry.max_retry_time,
                )
                break
            log.warning(
                "GET %s answered 403 Rate Limit Exceeded (X-Rate-Limit-Remaining %s); "
                "retry %d in %.1f s (%s)",
                redact_url(response.url),
                response.headers.get("X-Rate-Limit-Remaining", "not sent"),
                retries,
                wait,
                why,
            )
            time.sleep(wait)
            response = self._send(url, params, page)
        return response


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return (
        scheme,
        (parts.hostname or "").lower(),
        parts.port or {"http": 80, "https": 443}.get(scheme),
    )
