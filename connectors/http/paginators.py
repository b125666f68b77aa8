"""Paginators: small classes named for how they find the next page.

A paginator is stateless between pulls; :meth:`Paginator.pages` is a generator that asks the
client for one page at a time, so a pull only fetches as far as its caller iterates. The base
class stops a pull that would never end: a next URL, token or cursor seen before, a page whose
content equals the previous page's, or more than ``max_pages`` pages.

Examples
--------
>>> import requests
>>> def fetch(request):
...     response = requests.Response()
...     response.status_code, response.url = 200, request.key
...     token = {"": "t2", "t2": "t3"}.get(request.params.get("pageToken", ""))
...     response._content = b'{"nextPageToken": "%s"}' % (token or "").encode()
...     return response, response.json()
>>> [r.url for r in PageTokenPaginator().pages(fetch, "https://g.example/v1/courses", None)]
['https://g.example/v1/courses', 'https://g.example/v1/courses?pageToken=t2', \
'https://g.example/v1/courses?pageToken=t3']
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urljoin

import requests
from requests.utils import parse_header_links

from .errors import BadResponse, PageLimitExceeded, PaginationLoopError
from .redaction import redact_url

__all__ = [
    "BodyLinkPaginator",
    "CursorPaginator",
    "Fetch",
    "LinkHeaderPaginator",
    "OffsetPaginator",
    "Page",
    "PageRequest",
    "PageTokenPaginator",
    "Paginator",
    "SinglePagePaginator",
    "json_path",
    "query_params",
]

DEFAULT_MAX_PAGES = 10_000


@dataclass(frozen=True)
class PageRequest:
    """Which page to fetch: a URL, the query parameters to add to it, and its 1-based number.

    Examples
    --------
    >>> PageRequest("https://x.org/users?a=1", {"limit": "2"}, 1).key
    'https://x.org/users?a=1&limit=2'
    """

    url: str
    params: Mapping[str, str | list[str]] = field(default_factory=dict)
    number: int = 1

    @property
    def key(self) -> str:
        """The full URL this request will fetch; a repeat of it means a pagination loop."""
        prepared = requests.Request("GET", self.url, params=dict(self.params)).prepare()
        return prepared.url or self.url


def query_params(params: Mapping[str, Any] | None) -> dict[str, str | list[str]]:
    """Caller's query parameters as text; a list or tuple stays a repeated parameter.

    Examples
    --------
    >>> query_params({"limit": 100, "fields": ("sourcedId", "role"), "active": True})
    {'limit': '100', 'fields': ['sourcedId', 'role'], 'active': 'True'}
    """
    return {
        name: [str(item) for item in value] if isinstance(value, list | tuple) else str(value)
        for name, value in (params or {}).items()
    }


Fetch = Callable[[PageRequest], tuple[requests.Response, Any]]
"""Fetch one page: return the checked response and its parsed JSON (``None`` if not JSON)."""


@dataclass(frozen=True)
class Page:
    """One fetched page: the checked response, its JSON body parsed once, and its number.

    The body is the very object the paginator reads to find the next page, so a caller reads
    it and never changes it.

    Examples
    --------
    >>> response = requests.Response()
    >>> response.status_code, response._content = 200, b'{"users": [{"sourcedId": "u1"}]}'
    >>> page = Page(response, response.json(), 1)
    >>> page.body["users"][0]["sourcedId"], page.number
    ('u1', 1)
    """

    response: requests.Response
    body: Any
    number: int


def json_path(body: Any, path: str | None) -> Any:
    """Return the value at a dotted ``path`` in parsed JSON, or ``None`` if any step is missing.

    ``None`` or ``""`` means the body itself; list indices are numbers.

    Examples
    --------
    >>> json_path({"links": {"next": "/p2"}}, "links.next")
    '/p2'
    >>> json_path({"data": [{"data": {"id": "a"}}]}, "data.0.data.id")
    'a'
    >>> json_path({"links": {}}, "links.next") is None
    True
    """
    if not path:
        return body
    current = body
    for step in path.split("."):
        if isinstance(current, Mapping):
            current = current.get(step)
        elif isinstance(current, list) and step.lstrip("-").isdigit():
            index = int(step)
            current = current[index] if -len(current) <= index < len(current) else None
        else:
            return None
        if current is None:
            return None
    return current


class Paginator(ABC):
    """Base class: walks pages and refuses to loop.

    Subclasses implement :meth:`next_request`, and may override :meth:`first_request`.

    Parameters
    ----------
    max_pages
        Safety cap: more pages than this raises :class:`PageLimitExceeded`.

    Examples
    --------
    >>> class FirstPageOnly(Paginator):
    ...     def next_request(self, response, body, request):
    ...         return None
    >>> FirstPageOnly().first_request("https://x.org/a", {"limit": 5})
    PageRequest(url='https://x.org/a', params={'limit': '5'}, number=1)
    """

    needs_json: ClassVar[bool] = True
    """Whether the paginator reads the parsed JSON body to find the next page."""
    finds_next_by: ClassVar[str] = "next page"

    def __init__(self, *, max_pages: int = DEFAULT_MAX_PAGES) -> None:
        if max_pages < 1:
            raise ValueError(f"max_pages must be at least 1, not {max_pages}")
        self.max_pages = max_pages

    def first_request(self, url: str, params: Mapping[str, Any] | None) -> PageRequest:
        """The request for page 1."""
        return PageRequest(url, query_params(params), 1)

    @abstractmethod
    def next_request(
        self, response: requests.Response, body: Any, request: PageRequest
    ) -> PageRequest | None:
        """The request for the page after ``request``, or ``None`` when this was the last."""

    def pages(
        self, fetch: Fetch, url: str, params: Mapping[str, Any] | None
    ) -> Iterator[requests.Response]:
        """Yield each page's response, fetching the next one only when asked for it."""
        for page in self.walk(fetch, url, params):
            yield page.response

    def walk(self, fetch: Fetch, url: str, params: Mapping[str, Any] | None) -> Iterator[Page]:
        """Yield each :class:`Page` (response and the body ``fetch`` parsed), one at a time.

        Like :meth:`pages`, but the caller gets the JSON body the paginator reads, so nobody
        decodes it a second time.

        Examples
        --------
        >>> def fetch(request):
        ...     response = requests.Response()
        ...     response.status_code, response.url = 200, request.key
        ...     response._content = b'{"more": ""}'
        ...     return response, {"more": ""}
        >>> [(p.number, p.body) for p in BodyLinkPaginator("more").walk(fetch, "https://l/x", None)]
        [(1, {'more': ''})]
        """
        request = self.first_request(url, params)
        seen = {request.key}
        previous_digest: bytes | None = None
        while True:
            response, body = fetch(request)
            digest = hashlib.sha256(response.content).digest()
            if digest == previous_digest:
                raise PaginationLoopError(
                    url=response.url or request.key,
                    page=request.number,
                    detail=f"Pagination loop: page {request.number} has the same content as "
                    f"page {request.number - 1}",
                )
            previous_digest = digest
            yield Page(response, body, request.number)
            following = self.next_request(response, body, request)
            if following is None:
                return
            key = following.key
            if key in seen:
                raise PaginationLoopError(
                    url=response.url or request.key,
                    page=request.number,
                    detail=f"Pagination loop: the {self.finds_next_by} after page "
                    f"{request.number} leads back to {redact_url(key)}, fetched before",
                )
            if following.number > self.max_pages:
                raise PageLimitExceeded(
                    url=response.url or request.key,
                    page=request.number,
                    detail=f"More than max_pages={self.max_pages} pages",
                )
            seen.add(key)
            request = following

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({settings})"


class SinglePagePaginator(Paginator):
    """No pagination: one request, one page.

    Examples
    --------
    >>> SinglePagePaginator().next_request(requests.Response(), None, PageRequest("u")) is None
    True
    """

    needs_json = False

    def next_request(
        self, response: requests.Response, body: Any, request: PageRequest
    ) -> PageRequest | None:
        return None


class LinkHeaderPaginator(Paginator):
    """Follow the ``Link: <...>; rel="next"`` header (RFC 8288): OneRoster REST, Canvas.

    The header name is case-insensitive, the next URL is opaque (used exactly as given, the
    first request's parameters are not added again), and a relative URL is resolved against the
    URL of the page that carried it.

    Examples
    --------
    >>> response = requests.Response()
    >>> response.url = "https://canvas.example.org/api/v1/courses?per_page=2"
    >>> response.headers["link"] = '</api/v1/courses?page=2&per_page=2>; rel="next", <...>; rel="last"'
    >>> LinkHeaderPaginator().next_request(response, None, PageRequest(response.url)).url
    'https://canvas.example.org/api/v1/courses?page=2&per_page=2'
    """

    needs_json = False
    finds_next_by = "Link header's next URL"

    def next_request(
        self, response: requests.Response, body: Any, request: PageRequest
    ) -> PageRequest | None:
        header = response.headers.get("Link")
        if not header:
            return None
        for link in parse_header_links(header):
            if "next" in link.get("rel", "").lower().split() and link.get("url"):
                return PageRequest(urljoin(response.url, link["url"]), {}, request.number + 1)
        return None


class OffsetPaginator(Paginator):
    """``limit``/``offset`` paging: OneRoster 1.1 REST and most SIS APIs.

    The offset advances by the number of records the page really held (a server may cap the
    limit). It stops on an empty page, at the ``X-Total-Count`` header when the source sends it,
    and otherwise on a page shorter than the limit.

    Parameters
    ----------
    items_path
        Dotted path of the record list in the JSON body (``"users"`` for OneRoster);
        ``None`` when the body itself is the list.
    page_size
        The ``limit`` sent when the caller's ``params`` do not set one.
    limit_param, offset_param, total_header
        Names the source uses.

    Examples
    --------
    >>> paginator = OffsetPaginator(items_path="users", page_size=2)
    >>> first = paginator.first_request("https://sis.example.org/users", None)
    >>> first.params
    {'limit': '2', 'offset': '0'}
    >>> response = requests.Response()
    >>> paginator.next_request(response, {"users": [{}, {}]}, first).params
    {'limit': '2', 'offset': '2'}
    >>> paginator.next_request(response, {"users": [{}]}, first) is None
    True
    """

    finds_next_by = "offset"

    def __init__(
        self,
        *,
        items_path: str | None = None,
        page_size: int = 100,
        limit_param: str = "limit",
        offset_param: str = "offset",
        total_header: str = "X-Total-Count",
        max_pages: int = DEFAULT_MAX_PAGES,
    ) -> None:
        super().__init__(max_pages=max_pages)
        self.items_path = items_path
        self.page_size = page_size
        self.limit_param = limit_param
        self.offset_param = offset_param
        self.total_header = total_header

    def first_request(self, url: str, params: Mapping[str, Any] | None) -> PageRequest:
        request = super().first_request(url, params)
        merged: dict[str, str | list[str]] = {
            self.limit_param: str(self.page_size),
            self.offset_param: "0",
        }
        merged.update(request.params)
        return PageRequest(url, merged, 1)

    def next_request(
        self, response: requests.Response, body: Any, request: PageRequest
    ) -> PageRequest | None:
        items = _record_list(response, body, self.items_path, request)
        count = len(items)
        if count == 0:
            return None
        offset = _int_param(request, self.offset_param, 0) + count
        total = _int_header(response, self.total_header)
        if total is not None:
            if offset >= total:
                return None
        elif count < _int_param(request, self.limit_param, self.page_size):
            return None
        return PageRequest(
            request.url, {**request.params, self.offset_param: str(offset)}, request.number + 1
        )


class CursorPaginator(Paginator):
    """Cursor paging, Clever v3 style.

    First it looks for a ``links`` list in the body and follows the entry with
    ``rel: next`` (its ``uri`` is resolved against the page URL); a links list without one
    ends the pull. Without a links list, when ``id_path`` is set, it sends the last record's
    id as ``starting_after`` and stops on an empty page.

    Parameters
    ----------
    items_path
        Dotted path of the record list (``"data"`` for Clever).
    id_path
        Dotted path of a record's id (``"data.id"`` for Clever's wrapped records), for
        sources that only take ``starting_after``.
    cursor_param
        The query parameter carrying the cursor.
    links_path
        Dotted path of the ``[{rel, uri}]`` list.

    Examples
    --------
    >>> body = {"data": [{"data": {"id": "u2"}}],
    ...         "links": [{"rel": "next", "uri": "/v3.0/users?limit=1&starting_after=u2"}]}
    >>> request = PageRequest("https://api.clever.com/v3.0/users", {"limit": "1"})
    >>> response = requests.Response()
    >>> response.url = "https://api.clever.com/v3.0/users?limit=1"
    >>> CursorPaginator().next_request(response, body, request).url
    'https://api.clever.com/v3.0/users?limit=1&starting_after=u2'
    >>> CursorPaginator(id_path="data.id").next_request(response, {"data": body["data"]},
    ...                                                 request).params
    {'limit': '1', 'starting_after': 'u2'}
    """

    finds_next_by = "cursor"

    def __init__(
        self,
        *,
        items_path: str = "data",
        id_path: str | None = None,
        cursor_param: str = "starting_after",
        links_path: str = "links",
        max_pages: int = DEFAULT_MAX_PAGES,
    ) -> None:
        super().__init__(max_pages=max_pages)
        self.items_path = items_path
        self.id_path = id_path
        self.cursor_param = cursor_param
        self.links_path = links_path

    def next_request(
        self, response: requests.Response, body: Any, request: PageRequest
    ) -> PageRequest | None:
        links = json_path(body, self.links_path)
        if isinstance(links, list):
            for link in links:
                target = _link_target(link)
                if target:
                    return PageRequest(urljoin(response.url, target), {}, request.number + 1)
            return None
        if self.id_path is None:
            return None
        items = _record_list(response, body, self.items_path, request)
        if not items:
            return None
        cursor = json_path(items[-1], self.id_path)
        if cursor is None or isinstance(cursor, dict | list):
            raise BadResponse(
                url=response.url or request.key,
                page=request.number,
                detail=f"The last record has no usable id at {self.id_path!r}",
                fix="Check the paginator's id_path against the source's records.",
            )
        return PageRequest(
            request.url, {**request.params, self.cursor_param: str(cursor)}, request.number + 1
        )


class PageTokenPaginator(Paginator):
    """Page tokens, Google style: ``nextPageToken`` in the body becomes ``pageToken``.

    Examples
    --------
    >>> request = PageRequest("https://classroom.googleapis.com/v1/courses", {"pageSize": "2"})
    >>> PageTokenPaginator().next_request(requests.Response(), {"nextPageToken": "t2"},
    ...                                   request).params
    {'pageSize': '2', 'pageToken': 't2'}
    >>> PageTokenPaginator().next_request(requests.Response(), {"courses": []}, request) is None
    True
    """

    finds_next_by = "page token"

    def __init__(
        self,
        *,
        token_path: str = "nextPageToken",
        token_param: str = "pageToken",
        max_pages: int = DEFAULT_MAX_PAGES,
    ) -> None:
        super().__init__(max_pages=max_pages)
        self.token_path = token_path
        self.token_param = token_param

    def next_request(
        self, response: requests.Response, body: Any, request: PageRequest
    ) -> PageRequest | None:
        token = json_path(body, self.token_path)
        if not token:
            return None
        return PageRequest(
            request.url, {**request.params, self.token_param: str(token)}, request.number + 1
        )


class BodyLinkPaginator(Paginator):
    """A next URL inside the JSON body: Schoology ``links.next``, xAPI ``more``.

    An absent, ``null`` or empty value ends the pull (xAPI sends ``"more": ""``). A relative
    URL is resolved against the URL of the page that carried it.

    Examples
    --------
    >>> response = requests.Response()
    >>> response.url = "https://lrs.example.org/xapi/statements?limit=2"
    >>> BodyLinkPaginator("more").next_request(
    ...     response, {"more": "/xapi/statements?more=abc"}, PageRequest(response.url)).url
    'https://lrs.example.org/xapi/statements?more=abc'
    >>> BodyLinkPaginator("more").next_request(response, {"more": ""}, PageRequest("u")) is None
    True
    """

    finds_next_by = "next link"

    def __init__(self, path: str = "links.next", *, max_pages: int = DEFAULT_MAX_PAGES) -> None:
        super().__init__(max_pages=max_pages)
        self.path = path

    def next_request(
        self, response: requests.Response, body: Any, request: PageRequest
    ) -> PageRequest | None:
        link = json_path(body, self.path)
        if not link:
            return None
        if not isinstance(link, str):
            raise BadResponse(
                url=response.url or request.key,
                page=request.number,
                detail=f"The next link at {self.path!r} is a {type(link).__name__}, not a URL",
                fix="Check the paginator's path against the source's answers.",
            )
        return PageRequest(urljoin(response.url, link), {}, request.number + 1)


def _link_target(link: object) -> str | None:
    if not isinstance(link, Mapping) or str(link.get("rel", "")).lower() != "next":
        return None
    for key in ("uri", "url", "href"):
        value = link.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _record_list(
    response: requests.Response, body: Any, path: str | None, request: PageRequest
) -> list[Any]:
    items = json_path(body, path)
    if not isinstance(items, list):
        raise BadResponse(
            url=response.url or request.key,
            page=request.number,
            detail=f"Expected a list of records at {path or '(the body)'!r}, "
            f"got {type(items).__name__ if items is not None else 'nothing'}",
            fix="Check the paginator's items_path against the source's answers.",
        )
    return items


def _int_param(request: PageRequest, name: str, default: int) -> int:
    value = request.params.get(name)
    try:
        return int(value) if isinstance(value, str) else default
    except ValueError:
        return default


def _int_header(response: requests.Response, name: str) -> int | None:
    value = response.headers.get(name)
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None
