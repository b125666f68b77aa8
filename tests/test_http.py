"""The shared HTTP layer against a real threaded HTTP server on 127.0.0.1 with injected faults.

Back-off is 0 and faults send ``Retry-After: 0``, so retries are fast; ``server.log`` (and each
fault's counter) shows that they really happened.
"""

from __future__ import annotations

import base64
import json
import logging
import pickle
import socket
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr
from pytest_httpserver import HTTPServer
from werkzeug.wrappers import Request, Response

from connectors.http import (
    AuthenticationError,
    BadResponse,
    BasicAuth,
    BearerAuth,
    BodyLinkPaginator,
    ConnectionFailed,
    ConnectorError,
    CursorPaginator,
    HttpClient,
    LinkHeaderPaginator,
    NotFound,
    OAuth1Auth,
    OAuth2ClientCredentials,
    OffsetPaginator,
    PageLimitExceeded,
    PageRequest,
    PageTokenPaginator,
    PaginationLoopError,
    PermissionDenied,
    RateLimitExceeded,
    RetryPolicy,
    ServerError,
    SourceTimeout,
    UnexpectedStatus,
    check_response,
    redact_headers,
    redact_url,
)
from edtech_map.errors import EdtechMapError
from tests.http_faults import (
    HTML_ERROR_PAGE,
    CanvasRateLimited,
    ConnectionDrop,
    HtmlErrorPage,
    RateLimited,
    ServerFailure,
    SlowResponse,
    TruncatedJson,
    Unauthorized,
    fast_client,
    inject,
    oauth1_signature_valid,
    require_oauth1,
    serve_pages,
    serve_token_endpoint,
    threaded_server,
)

USERS = "/v3.0/users"
PAGES = [[{"id": "u1"}, {"id": "u2"}], [{"id": "u3"}, {"id": "u4"}], [{"id": "u5"}]]
ALL_IDS = {"u1", "u2", "u3", "u4", "u5"}


@pytest.fixture(scope="module")
def running_server() -> Iterator[HTTPServer]:
    with threaded_server() as server:
        yield server


@pytest.fixture
def server(running_server: HTTPServer) -> Iterator[HTTPServer]:
    running_server.clear()
    yield running_server
    running_server.clear()


def statuses(server: HTTPServer) -> list[int]:
    return [response.status_code for _, response in server.log]


def queries(server: HTTPServer) -> list[str]:
    return [request.query_string.decode() for request, _ in server.log]


def ids(responses: Iterator[requests.Response], key: str = "data") -> set[str]:
    return {record["id"] for response in responses for record in response.json()[key]}


# -- retries ---------------------------------------------------------------------------------


@pytest.mark.parametrize("retry_after", ["0", None])
def test_a_429_is_retried_with_and_without_retry_after(
    server: HTTPServer, retry_after: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    routes = serve_pages(server, USERS, PAGES, style="link")
    fault = inject(server, USERS, RateLimited(retry_after=retry_after), query=routes[1].query)

    with caplog.at_level(logging.WARNING, logger="connectors.http"):
        pulled = ids(fast_client(server).pages(USERS, paginator=LinkHeaderPaginator()))

    assert pulled == ALL_IDS
    assert statuses(server) == [200, 429, 200, 200]
    assert fault.calls == 1
    assert any("HTTP 429; retry 1" in record.getMessage() for record in caplog.records)


def test_a_retry_after_of_one_second_is_what_the_retry_waits_for(
    server: HTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    inject(server, USERS, RateLimited(retry_after="1"))
    server.expect_request(USERS).respond_with_json({"data": []})

    with caplog.at_level(logging.WARNING, logger="connectors.http"):
        fast_client(server).get(USERS)

    assert statuses(server) == [429, 200]
    assert [r.getMessage() for r in caplog.records if "retry 1" in r.getMessage()] == [
        f"GET {server.url_for(USERS)} answered HTTP 429; retry 1 in 1.0 s (Retry-After)"
    ]


def test_a_5xx_burst_is_retried_until_the_page_comes(server: HTTPServer) -> None:
    routes = serve_pages(server, USERS, PAGES, style="link")
    for status in (500, 502, 504):
        inject(server, USERS, ServerFailure(status), query=routes[2].query)

    client = fast_client(server, retry=RetryPolicy(total=3, backoff_factor=0))
    pulled = ids(client.pages(USERS, paginator=LinkHeaderPaginator()))

    assert pulled == ALL_IDS
    assert statuses(server) == [200, 200, 500, 502, 504, 200]


def test_a_5xx_that_persists_fails_as_server_error_after_the_retries(server: HTTPServer) -> None:
    inject(server, USERS, ServerFailure(503), times=4)

    with pytest.raises(ServerError) as caught:
        fast_client(server, retry=RetryPolicy(total=3, backoff_factor=0)).get(USERS)

    assert statuses(server) == [503, 503, 503, 503]
    message = str(caught.value)
    assert "HTTP 503" in message and "after 3 retries" in message
    assert server.url_for(USERS) in message and "re-run later" in message


def test_a_429_that_persists_fails_as_rate_limit_exceeded(server: HTTPServer) -> None:
    inject(server, USERS, RateLimited(retry_after="0"), times=3)

    with pytest.raises(RateLimitExceeded) as caught:
        fast_client(server, retry=RetryPolicy(total=2, backoff_factor=0)).get(USERS)

    assert isinstance(caught.value, PermissionDenied)  # as canvasapi's RateLimitExceeded
    assert statuses(server) == [429, 429, 429]


def test_a_retry_after_longer_than_the_retry_budget_is_not_waited_for(
    server: HTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    inject(server, USERS, RateLimited(retry_after="120"))
    server.expect_request(USERS).respond_with_json({"data": []})
    client = fast_client(server, retry=RetryPolicy(total=3, backoff_max=300, max_retry_time=5))

    with caplog.at_level(logging.WARNING), pytest.raises(RateLimitExceeded):
        client.get(USERS)

    assert statuses(server) == [429]
    assert any("max_retry_time" in record.getMessage() for record in caplog.records)


def test_canvas_403_rate_limit_is_backed_off_and_retried(
    server: HTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    serve_pages(server, "/api/v1/courses", [[{"id": "c1"}]], style="link")
    fault = inject(server, "/api/v1/courses", CanvasRateLimited(retry_after="0"), times=2)

    with caplog.at_level(logging.WARNING, logger="connectors.http"):
        pulled = ids(fast_client(server).pages("/api/v1/courses"))

    assert pulled == {"c1"}
    assert statuses(server) == [403, 403, 200]
    assert fault.calls == 2
    warnings = [r.getMessage() for r in caplog.records if "Rate Limit Exceeded" in r.getMessage()]
    assert len(warnings) == 2 and "X-Rate-Limit-Remaining 0.0" in warnings[0]


def test_canvas_403_rate_limit_that_persists_fails_as_rate_limit_exceeded(
    server: HTTPServer,
) -> None:
    inject(server, "/api/v1/courses", CanvasRateLimited(), times=4)

    with pytest.raises(RateLimitExceeded):
        fast_client(server, retry=RetryPolicy(total=2, backoff_factor=0)).get("/api/v1/courses")

    assert statuses(server) == [403, 403, 403]


def test_a_plain_403_is_not_retried(server: HTTPServer) -> None:
    server.expect_request(USERS).respond_with_json({"error": "forbidden"}, status=403)

    with pytest.raises(PermissionDenied) as caught:
        fast_client(server).get(USERS)

    assert not isinstance(caught.value, RateLimitExceeded)
    assert statuses(server) == [403]
    assert "grant the app read access" in str(caught.value)


def test_a_slow_answer_times_out_and_the_retry_gets_the_page(server: HTTPServer) -> None:
    slow = inject(server, USERS, SlowResponse(delay=1.0, body={"data": [{"id": "late"}]}))
    server.expect_request(USERS).respond_with_json({"data": [{"id": "u1"}]})

    pulled = ids(fast_client(server, timeout=(2.0, 0.3)).pages(USERS))

    assert pulled == {"u1"}
    assert isinstance(slow, SlowResponse) and slow.settle()
    assert slow.calls == 1 and sorted(statuses(server)) == [200, 200]


def test_an_answer_that_is_always_slow_fails_as_source_timeout(server: HTTPServer) -> None:
    slow = inject(server, USERS, SlowResponse(delay=1.0), times=2)
    client = fast_client(server, timeout=(2.0, 0.2), retry=RetryPolicy(total=1, backoff_factor=0))

    with pytest.raises(SourceTimeout) as caught:
        client.get(USERS, params={"limit": 5})

    assert isinstance(slow, SlowResponse) and slow.settle()
    assert slow.calls == 2 and statuses(server) == [200, 200]  # sent, but too late
    assert "Timed out waiting for the answer" in str(caught.value)
    assert f"{server.url_for(USERS)}?limit=5" in str(caught.value)


def test_a_dropped_connection_is_retried(server: HTTPServer) -> None:
    drop = inject(server, USERS, ConnectionDrop())
    server.expect_request(USERS).respond_with_json({"data": [{"id": "u1"}]})

    assert ids(fast_client(server).pages(USERS)) == {"u1"}
    assert drop.calls == 1
    assert sorted(statuses(server)) == [200, 599]  # 599 marks the answer that was never sent


def test_a_connection_that_always_drops_fails_as_connection_failed(server: HTTPServer) -> None:
    drop = inject(server, USERS, ConnectionDrop(), times=3)

    with pytest.raises(ConnectionFailed) as caught:
        fast_client(server, retry=RetryPolicy(total=2, backoff_factor=0)).get(USERS)

    assert drop.calls == 3
    assert server.url_for(USERS) in str(caught.value)


def test_a_refused_connection_fails_as_connection_failed() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again when the block ends: nothing listens
    client = HttpClient(f"http://127.0.0.1:{port}", retry=RetryPolicy(total=1, backoff_factor=0))

    with pytest.raises(ConnectionFailed) as caught:
        client.get("/users")

    assert f"127.0.0.1:{port}/users" in str(caught.value)
    assert "Check the host name" in str(caught.value)


def test_truncated_json_fails_as_bad_response_without_retrying(server: HTTPServer) -> None:
    routes = serve_pages(server, USERS, PAGES, style="link")
    inject(server, USERS, TruncatedJson(), query=routes[1].query)

    pulled: list[requests.Response] = []
    with pytest.raises(BadResponse) as caught:
        pulled.extend(fast_client(server).pages(USERS, paginator=LinkHeaderPaginator()))

    assert len(pulled) == 1 and statuses(server) == [200, 200]
    message = str(caught.value)
    assert "truncated or malformed" in message and "application/json" in message
    assert "(page 2)" in message and f"{server.url_for(USERS)}?page=2" in message


def test_an_html_page_with_status_200_fails_as_bad_response_without_its_content(
    server: HTTPServer,
) -> None:
    inject(server, USERS, HtmlErrorPage())

    with pytest.raises(BadResponse) as caught:
        list(fast_client(server).pages(USERS))

    message = str(caught.value)
    assert "Expected JSON but got text/html" in message
    assert f"{len(HTML_ERROR_PAGE)} bytes" in message and "(page 1)" in message
    assert "Jordan" not in message and "example.org" not in message
    assert "login or maintenance page" in message


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (400, b"{}", UnexpectedStatus),
        (401, b"{}", AuthenticationError),
        (403, b"{}", PermissionDenied),
        (403, b"403 Forbidden (Rate Limit Exceeded)", RateLimitExceeded),
        (404, b"{}", NotFound),
        (409, b"{}", UnexpectedStatus),
        (429, b"{}", RateLimitExceeded),
        (500, b"{}", ServerError),
        (503, b"{}", ServerError),
    ],
)
def test_check_response_maps_each_status_to_one_typed_error(
    status: int, body: bytes, error: type[ConnectorError]
) -> None:
    response = requests.Response()
    response.status_code, response._content = status, body
    response.url = "https://sis.example.org/users?access_token=FAKE-TOKEN-IN-URL"
    response.headers["X-Request-Id"] = "req-42"

    with pytest.raises(error) as caught:
        check_response(response, page=7)

    assert type(caught.value) is error and isinstance(caught.value, EdtechMapError)
    message = str(caught.value)
    assert f"HTTP {status}" in message and "(page 7)" in message and "req-42" in message
    assert "https://sis.example.org/users?access_token=***" in message
    assert "FAKE-TOKEN-IN-URL" not in message


def test_errors_survive_pickling_with_their_fields() -> None:
    error = RateLimitExceeded(url="https://x.org/a?token=t", status=429, page=3)

    copy = pickle.loads(pickle.dumps(error))

    assert type(copy) is RateLimitExceeded and str(copy) == str(error)
    assert (copy.url, copy.status, copy.page) == ("https://x.org/a?token=***", 429, 3)


def test_full_urls_are_accepted_only_on_the_base_origin_or_a_trusted_host() -> None:
    client = HttpClient("https://canvas.example.org", trusted_hosts=["files.example.org"])

    assert (
        client.url_for("https://files.example.org/f?page=2") == "https://files.example.org/f?page=2"
    )
    for url in (
        "http://canvas.example.org/x",
        "https://canvas.example.org:8443/x",
        "https://evil.org/x",
    ):
        with pytest.raises(BadResponse, match="Refusing to send credentials"):
            client.url_for(url)
    with pytest.raises(ValueError, match="base_url"):
        HttpClient("canvas.example.org")


def test_a_404_names_the_url_and_what_to_check(server: HTTPServer) -> None:
    server.expect_request("/v3.0/sections").respond_with_json({"error": "nope"}, status=404)

    with pytest.raises(NotFound) as caught:
        fast_client(server).get("/v3.0/sections")

    assert statuses(server) == [404]
    assert server.url_for("/v3.0/sections") in str(caught.value)
    assert "Check the base URL and path" in str(caught.value)


# -- paginators ------------------------------------------------------------------------------


def test_link_header_pages_are_followed_lazily_with_relative_opaque_links(
    server: HTTPServer,
) -> None:
    serve_pages(server, USERS, PAGES, style="link", relative_links=True)
    pages = fast_client(server).pages(USERS, paginator=LinkHeaderPaginator())

    assert server.log == []  # nothing fetched before iterating
    first = next(pages)
    assert {r["id"] for r in first.json()["data"]} == {"u1", "u2"}
    assert len(server.log) == 1
    assert ids(pages) == {"u3", "u4", "u5"}
    assert queries(server) == ["", "page=2", "page=3"]


def test_link_header_name_is_case_insensitive(server: HTTPServer) -> None:
    server.expect_request(USERS, query_string="").respond_with_json(
        {"data": [{"id": "u1"}]}, headers={"link": f'<{server.url_for(USERS)}?p=2>; rel="next"'}
    )
    server.expect_request(USERS, query_string="p=2").respond_with_json({"data": [{"id": "u2"}]})

    assert ids(fast_client(server).pages(USERS, paginator=LinkHeaderPaginator())) == {"u1", "u2"}


@pytest.mark.parametrize("total_count", [True, False])
def test_offset_pages_stop_at_the_total_or_a_short_page(
    server: HTTPServer, total_count: bool
) -> None:
    serve_pages(server, "/users", PAGES, style="offset", items_key="users", total_count=total_count)

    paginator = OffsetPaginator(items_path="users", page_size=2)
    assert ids(fast_client(server).pages("/users", paginator=paginator), "users") == ALL_IDS
    assert set(queries(server)) == {"limit=2&offset=0", "limit=2&offset=2", "limit=2&offset=4"}
    assert len(server.log) == 3


def test_offset_pages_of_full_size_end_on_the_empty_page_past_the_end(server: HTTPServer) -> None:
    serve_pages(server, "/users", PAGES[:2], style="offset", total_count=False)

    paginator = OffsetPaginator(items_path="data", page_size=2)
    assert ids(fast_client(server).pages("/users", paginator=paginator)) == {"u1", "u2", "u3", "u4"}
    assert queries(server)[-1] == "limit=2&offset=4" and statuses(server) == [200, 200, 200]


def test_offset_pages_stop_on_an_empty_page(server: HTTPServer) -> None:
    serve_pages(server, "/users", [*PAGES[:2], []], style="offset", total_count=False)

    pulled = ids(
        fast_client(server).pages(
            "/users", paginator=OffsetPaginator(items_path="data", page_size=2)
        )
    )

    assert pulled == {"u1", "u2", "u3", "u4"} and len(server.log) == 3


def test_cursor_pages_follow_clever_next_links(server: HTTPServer) -> None:
    clever_pages = [
        [{"data": {"id": i}, "uri": f"{USERS}/{i}"} for i in page]
        for page in (["a", "b"], ["c", "d"], ["e"])
    ]
    serve_pages(server, USERS, clever_pages, style="cursor")

    responses = fast_client(server).pages(USERS, {"limit": 2}, paginator=CursorPaginator())
    pulled = {record["data"]["id"] for r in responses for record in r.json()["data"]}

    assert pulled == {"a", "b", "c", "d", "e"}
    assert queries(server) == ["limit=2", "limit=2&starting_after=b", "limit=2&starting_after=d"]


def test_cursor_pages_can_use_the_last_record_id(server: HTTPServer) -> None:
    server.expect_request(USERS, query_string={"limit": "2"}).respond_with_json(
        {"data": [{"id": "a"}, {"id": "b"}]}
    )
    server.expect_request(
        USERS, query_string={"limit": "2", "starting_after": "b"}
    ).respond_with_json({"data": [{"id": "c"}]})
    server.expect_request(
        USERS, query_string={"limit": "2", "starting_after": "c"}
    ).respond_with_json({"data": []})

    paginator = CursorPaginator(id_path="id")
    assert ids(fast_client(server).pages(USERS, {"limit": 2}, paginator=paginator)) == {
        "a",
        "b",
        "c",
    }
    assert len(server.log) == 3


def test_page_tokens_are_followed(server: HTTPServer) -> None:
    serve_pages(server, "/v1/courses", PAGES, style="page_token", items_key="courses")

    pulled = ids(
        fast_client(server).pages("/v1/courses", paginator=PageTokenPaginator()), "courses"
    )

    assert pulled == ALL_IDS
    assert queries(server) == ["", "pageToken=token-2", "pageToken=token-3"]


@pytest.mark.parametrize(
    ("link_path", "items_key"), [("links.next", "section"), ("more", "statements")]
)
def test_body_links_are_followed_until_empty(
    server: HTTPServer, link_path: str, items_key: str
) -> None:
    serve_pages(
        server,
        "/feed",
        PAGES,
        style="body_link",
        link_path=link_path,
        items_key=items_key,
        relative_links=True,
    )

    paginator = BodyLinkPaginator(link_path)
    assert ids(fast_client(server).pages("/feed", paginator=paginator), items_key) == ALL_IDS
    assert len(server.log) == 3


@pytest.mark.parametrize(
    ("style", "paginator", "loop_to"),
    [
        ("link", LinkHeaderPaginator(), 0),
        ("cursor", CursorPaginator(), 2),  # the last page's cursor does not advance
        ("page_token", PageTokenPaginator(), 1),
        ("body_link", BodyLinkPaginator(), 1),
    ],
)
def test_a_repeating_next_page_stops_the_pull(
    server: HTTPServer, style: Any, paginator: Any, loop_to: int
) -> None:
    serve_pages(server, USERS, PAGES, style=style, loop_to=loop_to)

    pulled: list[requests.Response] = []
    with pytest.raises(PaginationLoopError) as caught:
        params = {"limit": 2} if style == "cursor" else None
        pulled.extend(fast_client(server).pages(USERS, params, paginator=paginator))

    assert len(pulled) == 3 and len(server.log) == 3
    assert "(page 3)" in str(caught.value) and server.url_for(USERS) in str(caught.value)
    assert "fetched before" in str(caught.value)


def test_a_server_that_ignores_the_offset_is_caught_by_the_page_hash(server: HTTPServer) -> None:
    server.expect_request("/users").respond_with_json({"data": [{"id": "u1"}, {"id": "u2"}]})

    pulled: list[requests.Response] = []
    with pytest.raises(PaginationLoopError) as caught:
        pulled.extend(
            fast_client(server).pages(
                "/users", paginator=OffsetPaginator(page_size=2, items_path="data")
            )
        )

    assert len(pulled) == 1 and len(server.log) == 2
    assert "page 2 has the same content as page 1" in str(caught.value)


def in_memory_source(records: list[str], style: str) -> Any:
    """A Fetch over a list of ids, paged like a real source (for properties without a server)."""

    def fetch(request: PageRequest) -> tuple[requests.Response, Any]:
        limit = int(str(request.params.get("limit", "3")))
        if style == "offset":
            start = int(str(request.params["offset"]))
        elif style == "cursor":
            after = request.params.get("starting_after")
            start = records.index(str(after)) + 1 if after else 0
        else:
            start = int(str(request.params.get("pageToken", "0")))
        chunk = records[start : start + limit]
        body: dict[str, Any] = {"data": [{"id": i} for i in chunk]}
        if style == "page_token" and start + limit < len(records):
            body["nextPageToken"] = str(start + limit)
        response = requests.Response()
        response.status_code, response.url = 200, request.key
        response._content = json.dumps(body).encode()
        if style == "offset":
            response.headers["X-Total-Count"] = str(len(records))
        return response, body

    return fetch


@given(
    count=st.integers(min_value=0, max_value=40),
    limit=st.integers(min_value=1, max_value=7),
    style=st.sampled_from(["offset", "cursor", "page_token"]),
)
def test_every_record_is_pulled_exactly_once(count: int, limit: int, style: str) -> None:
    records = [f"r{i}" for i in range(count)]
    paginator = {
        "offset": OffsetPaginator(items_path="data", page_size=limit),
        "cursor": CursorPaginator(id_path="id"),
        "page_token": PageTokenPaginator(),
    }[style]

    pages = paginator.pages(in_memory_source(records, style), "https://x.org/r", {"limit": limit})
    pulled = [record["id"] for page in pages for record in page.json()["data"]]

    assert sorted(pulled) == sorted(records)  # as multisets: no record lost or pulled twice


def test_max_pages_caps_a_pull(server: HTTPServer) -> None:
    serve_pages(server, USERS, PAGES, style="link")

    pulled: list[requests.Response] = []
    with pytest.raises(PageLimitExceeded) as caught:
        pulled.extend(fast_client(server).pages(USERS, paginator=LinkHeaderPaginator(max_pages=2)))

    assert len(pulled) == 2 and len(server.log) == 2
    assert "max_pages=2" in str(caught.value)


def test_a_next_link_to_another_host_is_refused(server: HTTPServer) -> None:
    server.expect_request(USERS).respond_with_json(
        {"data": []}, headers={"Link": '<https://collector.example.com/steal?page=2>; rel="next"'}
    )

    with pytest.raises(BadResponse) as caught:
        list(
            fast_client(server, auth=BearerAuth(SecretStr("tok-1234"))).pages(
                USERS, paginator=LinkHeaderPaginator()
            )
        )

    assert len(server.log) == 1 and "trusted_hosts" in str(caught.value)


def test_clever_demo_district_users_pull_through_cursor_pages(
    server: HTTPServer, fixtures_dir: Path
) -> None:
    users = json.loads((fixtures_dir / "clever-go/tests/mocks/users.json").read_bytes())["data"]
    pages = [users[start : start + 500] for start in range(0, len(users), 500)]
    serve_pages(server, USERS, pages, style="cursor")

    paginator = CursorPaginator()
    responses = fast_client(server).pages(USERS, {"limit": 500}, paginator=paginator)
    pulled = {record["data"]["id"] for r in responses for record in r.json()["data"]}

    assert pulled == {user["data"]["id"] for user in users}
    assert len(pulled) == 2098 and len(server.log) == 5


# -- auth ------------------------------------------------------------------------------------

CONSUMER_SECRET = "FAKE-CONSUMER-SECRET-5c2e"
CLIENT_SECRET = "FAKE-CLIENT-SECRET-9f3a"


@pytest.mark.parametrize("method", ["HMAC-SHA1", "HMAC-SHA256"])
def test_oauth1_signs_every_query_parameter_of_every_page(server: HTTPServer, method: Any) -> None:
    path = "/ims/oneroster/v1p1/users"
    signed: list[Request] = []

    def page(number: int, next_query: str | None) -> Any:
        def respond(request: Request) -> Response:
            signed.append(request)
            headers = (
                {"Link": f'<{server.url_for(path)}?{next_query}>; rel="next"'} if next_query else {}
            )
            return Response(
                json.dumps({"users": [{"id": f"u{number}"}]}),
                headers=headers,
                mimetype="application/json",
            )

        return require_oauth1(CONSUMER_SECRET, respond)

    page_2 = "limit=1&offset=1&filter=role%3D%27student%27&fields=sourcedId%2Crole"
    server.expect_request(path, query_string="limit=1").respond_with_handler(page(1, page_2))
    server.expect_request(path, query_string=page_2).respond_with_handler(page(2, None))
    auth = OAuth1Auth("ck-riverside", SecretStr(CONSUMER_SECRET), signature_method=method)

    responses = fast_client(server, auth=auth).pages(
        path, {"limit": 1}, paginator=LinkHeaderPaginator()
    )

    assert ids(responses, "users") == {"u1", "u2"}
    assert statuses(server) == [200, 200]
    second = signed[1]
    assert f'oauth_signature_method="{method}"' in second.headers["Authorization"]
    assert oauth1_signature_valid(second, CONSUMER_SECRET)
    # the verification is real: the same header fails for another query or another secret
    tampered = Request.from_values(
        path,
        query_string=page_2.replace("student", "teacher"),
        headers=dict(second.headers),
        base_url=second.host_url,
    )
    assert not oauth1_signature_valid(tampered, CONSUMER_SECRET)
    assert not oauth1_signature_valid(second, "another-secret")


def test_oauth1_plaintext_two_legged_signs_schoology_requests(server: HTTPServer) -> None:
    def sections(request: Request) -> Response:
        return Response(
            json.dumps({"section": [{"id": "s1"}], "links": {}}), mimetype="application/json"
        )

    server.expect_request("/v1/sections").respond_with_handler(
        require_oauth1(CONSUMER_SECRET, sections)
    )
    auth = OAuth1Auth(
        "ck-schoology",
        SecretStr(CONSUMER_SECRET),
        signature_method="PLAINTEXT",
        realm="Schoology API",
    )

    pulled = ids(
        fast_client(server, auth=auth).pages("/v1/sections", paginator=BodyLinkPaginator()),
        "section",
    )

    assert pulled == {"s1"} and statuses(server) == [200]
    header = server.log[0][0].headers["Authorization"]
    assert 'oauth_signature_method="PLAINTEXT"' in header and 'realm="Schoology API"' in header


def test_oauth1_with_a_wrong_secret_fails_after_one_fresh_signature(server: HTTPServer) -> None:
    server.expect_request(USERS).respond_with_handler(
        require_oauth1(CONSUMER_SECRET, lambda r: Response("{}"))
    )
    auth = OAuth1Auth("ck", SecretStr("a-wrong-secret"))

    with pytest.raises(AuthenticationError) as caught:
        fast_client(server, auth=auth).get(USERS)

    assert statuses(server) == [401, 401]
    assert "consumer key and secret" in str(caught.value)


@pytest.fixture
def insecure_oauth2_on_localhost(monkeypatch: pytest.MonkeyPatch) -> None:
    """oauthlib refuses http:// token URLs unless told; the test server is plain http."""
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


def oauth2(server: HTTPServer, secret: str = CLIENT_SECRET) -> OAuth2ClientCredentials:
    return OAuth2ClientCredentials(server.url_for("/oauth2/token"), "client-7", SecretStr(secret))


@pytest.mark.usefixtures("insecure_oauth2_on_localhost")
def test_oauth2_fetches_one_token_for_a_whole_pull(server: HTTPServer) -> None:
    issued = serve_token_endpoint(server, client_id="client-7", client_secret=CLIENT_SECRET)
    serve_pages(server, USERS, PAGES, style="link", headers={"Authorization": "Bearer token-1"})
    auth = oauth2(server)

    assert (
        ids(fast_client(server, auth=auth).pages(USERS, paginator=LinkHeaderPaginator())) == ALL_IDS
    )
    assert issued == ["token-1"] and auth.fetch_count == 1
    assert [request.path for request, _ in server.log] == ["/oauth2/token", USERS, USERS, USERS]


@pytest.mark.usefixtures("insecure_oauth2_on_localhost")
def test_oauth2_token_expiring_mid_pull_is_fetched_again_once(
    server: HTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    issued = serve_token_endpoint(server, client_id="client-7", client_secret=CLIENT_SECRET)
    token_1, token_2 = {"Authorization": "Bearer token-1"}, {"Authorization": "Bearer token-2"}
    routes = serve_pages(server, USERS, PAGES, style="link", headers=token_1)
    serve_pages(server, USERS, PAGES, style="link", headers=token_2)
    inject(server, USERS, Unauthorized(), query=routes[1].query, headers=token_1)

    with caplog.at_level(logging.WARNING):
        pulled = ids(
            fast_client(server, auth=oauth2(server)).pages(USERS, paginator=LinkHeaderPaginator())
        )

    assert pulled == ALL_IDS and issued == ["token-1", "token-2"]
    assert [(request.path, response.status_code) for request, response in server.log] == [
        ("/oauth2/token", 200),
        (USERS, 200),
        (USERS, 401),
        ("/oauth2/token", 200),
        (USERS, 200),
        (USERS, 200),
    ]
    last_two = [request.headers["Authorization"] for request, _ in server.log[-2:]]
    assert last_two == ["Bearer token-2", "Bearer token-2"]
    assert any("fetching a new one" in record.getMessage() for record in caplog.records)


@pytest.mark.usefixtures("insecure_oauth2_on_localhost")
def test_oauth2_token_past_its_expiry_is_fetched_before_the_request(server: HTTPServer) -> None:
    issued = serve_token_endpoint(
        server, client_id="client-7", client_secret=CLIENT_SECRET, expires_in=10
    )  # inside the 30 s expiry margin
    server.expect_request(USERS).respond_with_json({"data": [{"id": "u1"}]})
    client = fast_client(server, auth=oauth2(server))

    client.get(USERS)
    client.get(USERS)

    assert issued == ["token-1", "token-2"]


@pytest.mark.usefixtures("insecure_oauth2_on_localhost")
def test_oauth2_token_rejected_twice_fails_clearly(server: HTTPServer) -> None:
    serve_token_endpoint(server, client_id="client-7", client_secret=CLIENT_SECRET)
    inject(server, USERS, Unauthorized(), times=2)

    with pytest.raises(AuthenticationError) as caught:
        fast_client(server, auth=oauth2(server)).get(USERS)

    message = str(caught.value)
    assert "rejected twice" in message and server.url_for(USERS) in message
    assert "check the client id/secret" in message
    assert statuses(server) == [200, 401, 200, 401]


@pytest.mark.usefixtures("insecure_oauth2_on_localhost")
def test_oauth2_wrong_client_secret_fails_at_the_token_endpoint(server: HTTPServer) -> None:
    serve_token_endpoint(server, client_id="client-7", client_secret=CLIENT_SECRET)

    with pytest.raises(AuthenticationError) as caught:
        fast_client(server, auth=oauth2(server, secret="not-the-secret")).get(USERS)

    message = str(caught.value)
    assert "invalid_client" in message and server.url_for("/oauth2/token") in message
    assert [request.path for request, _ in server.log] == ["/oauth2/token"]


@pytest.mark.usefixtures("insecure_oauth2_on_localhost")
def test_a_failing_token_endpoint_is_retried_then_reported_as_failing(server: HTTPServer) -> None:
    inject(server, "/oauth2/token", ServerFailure(503), method="POST")
    serve_token_endpoint(server, client_id="client-7", client_secret=CLIENT_SECRET)
    server.expect_request(USERS, headers={"Authorization": "Bearer token-1"}).respond_with_json(
        {"data": [{"id": "u1"}]}
    )

    assert ids(fast_client(server, auth=oauth2(server)).pages(USERS)) == {"u1"}
    assert statuses(server) == [503, 200, 200]

    server.clear()
    inject(server, "/oauth2/token", ServerFailure(503), method="POST", times=2)
    client = fast_client(server, auth=oauth2(server), retry=RetryPolicy(total=1, backoff_factor=0))
    with pytest.raises(ServerError) as caught:
        client.get(USERS)
    assert statuses(server) == [503, 503]
    assert server.url_for("/oauth2/token") in str(caught.value)


@pytest.mark.usefixtures("insecure_oauth2_on_localhost")
def test_an_html_token_answer_is_a_bad_response(server: HTTPServer) -> None:
    inject(server, "/oauth2/token", HtmlErrorPage(), method="POST")

    with pytest.raises(BadResponse) as caught:
        fast_client(server, auth=oauth2(server)).get(USERS)

    assert "text/html" in str(caught.value) and "Jordan" not in str(caught.value)


def test_oauth2_over_plain_http_says_why_it_is_refused(
    server: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OAUTHLIB_INSECURE_TRANSPORT", raising=False)
    serve_token_endpoint(server, client_id="client-7", client_secret=CLIENT_SECRET)

    with pytest.raises(AuthenticationError) as caught:
        fast_client(server, auth=oauth2(server)).get(USERS)

    assert "not https" in str(caught.value) and "OAUTHLIB_INSECURE_TRANSPORT" in str(caught.value)
    assert server.log == []


def test_a_rejected_static_bearer_token_is_not_retried(server: HTTPServer) -> None:
    inject(server, USERS, Unauthorized(), times=2)

    with pytest.raises(AuthenticationError) as caught:
        fast_client(server, auth=BearerAuth(SecretStr("tok-1234"))).get(USERS)

    assert statuses(server) == [401]
    assert "current and belongs to this district" in str(caught.value)


def test_basic_auth_sends_the_lrs_key_and_secret(server: HTTPServer) -> None:
    expected = "Basic " + base64.b64encode(b"lrs-key:lrs-secret").decode()
    server.expect_request(
        "/xapi/statements", headers={"Authorization": expected}
    ).respond_with_json({"statements": [{"id": "s1"}], "more": ""})
    auth = BasicAuth("lrs-key", SecretStr("lrs-secret"))

    pulled = ids(
        fast_client(server, auth=auth).pages(
            "/xapi/statements", paginator=BodyLinkPaginator("more")
        ),
        "statements",
    )

    assert pulled == {"s1"}


PLAIN: Any = "a plain str where a SecretStr belongs"


@pytest.mark.parametrize(
    "build",
    [
        lambda: BearerAuth(PLAIN),
        lambda: BasicAuth("user", PLAIN),
        lambda: OAuth1Auth("ck", PLAIN),
        lambda: OAuth2ClientCredentials("https://x.org/token", "id", PLAIN),
    ],
)
def test_credentials_must_be_secret_str(build: Any) -> None:
    with pytest.raises(TypeError, match="SecretStr"):
        build()


# -- redaction -------------------------------------------------------------------------------


def test_redact_url_masks_userinfo_and_secret_parameters_only() -> None:
    url = (
        "https://kim:hunter2@sis.example.org/users?limit=5&access_token=A1&client_secret=B2"
        "&oauth_signature=C3%3D&pageToken=keep&api_key=D4&sig=E5"
    )

    redacted = redact_url(url)

    assert redacted == (
        "https://***@sis.example.org/users?limit=5&access_token=***&client_secret=***"
        "&oauth_signature=***&pageToken=keep&api_key=***&sig=***"
    )


@given(
    name=st.sampled_from(["access_token", "token", "client_secret", "key", "password", "sig"]),
    secret=st.text(alphabet="klmnopqrstuvwxyz0123456789-_.~", min_size=6, max_size=40),
    keep=st.text(alphabet="abcdefghij", min_size=1, max_size=10),
)
def test_redact_url_never_leaks_a_secret_value(name: str, secret: str, keep: str) -> None:
    url = f"https://user:{secret}@h.example.org/p?limit={keep}&{name}={secret}#frag"

    redacted = redact_url(url)

    assert secret not in redacted
    assert f"limit={keep}" in redacted


def test_redact_headers_masks_credentials_and_keeps_the_rest() -> None:
    headers = {
        "Authorization": "Bearer abc",
        "Cookie": "sid=1",
        "X-Api-Key": "k",
        "X-Auth-Token": "t",
        "Accept": "application/json",
        "X-Rate-Limit-Remaining": "5",
    }

    assert redact_headers(headers) == {
        "Authorization": "Bearer ***",
        "Cookie": "***",
        "X-Api-Key": "***",
        "X-Auth-Token": "***",
        "Accept": "application/json",
        "X-Rate-Limit-Remaining": "5",
    }


@pytest.mark.usefixtures("insecure_oauth2_on_localhost")
def test_no_secret_reaches_logs_errors_or_reprs(
    server: HTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    bearer, basic_secret = "FAKE-BEARER-TOKEN-41d0", "FAKE-LRS-SECRET-8e1b"
    in_url = "FAKE-TOKEN-IN-URL-2a7c"
    secrets = {CONSUMER_SECRET, CLIENT_SECRET, bearer, basic_secret, in_url, "token-1", "token-2"}
    serve_token_endpoint(server, client_id="client-7", client_secret=CLIENT_SECRET)
    server.expect_request(USERS).respond_with_json({"data": [{"id": "u1"}]})
    server.expect_request("/denied").respond_with_handler(Unauthorized().respond)
    auths = [
        OAuth1Auth("ck", SecretStr(CONSUMER_SECRET), signature_method="PLAINTEXT"),
        OAuth1Auth("ck", SecretStr(CONSUMER_SECRET)),
        oauth2(server),
        BearerAuth(SecretStr(bearer)),
        BasicAuth("lrs-key", SecretStr(basic_secret)),
    ]
    texts: list[str] = []

    with caplog.at_level(logging.DEBUG):
        for auth in auths:
            client = fast_client(server, auth=auth)
            client.get(USERS, params={"access_token": in_url})
            with pytest.raises(AuthenticationError) as caught:
                client.get("/denied", params={"access_token": in_url})
            texts += [str(caught.value), repr(caught.value), repr(client), repr(auth)]
            texts += traceback.format_exception(caught.value)

    client_side = [r for r in caplog.records if r.name != "werkzeug"]  # werkzeug: the test server
    logged = "\n".join(f"{r.name} {r.getMessage()}" for r in client_side)
    loggers = {record.name for record in client_side}
    # the test can fail: third-party loggers that print URLs, headers and tokens did log
    assert {"urllib3.connectionpool", "requests_oauthlib.oauth2_session"} <= loggers
    assert "oauthlib.oauth1.rfc5849" in loggers or "requests_oauthlib.oauth1_auth" in loggers
    assert "access_token=***" in logged
    leaks = {secret for secret in secrets if secret in logged or any(secret in t for t in texts)}
    assert leaks == set()


# -- decoded once, read ahead ---------------------------------------------------------------


@pytest.mark.parametrize("ahead", [0, 1, 3])
def test_json_pages_give_each_body_once_and_in_order_with_or_without_read_ahead(
    server: HTTPServer, ahead: int
) -> None:
    serve_pages(server, USERS, PAGES, style="offset", page_size=2)
    paginator = OffsetPaginator(items_path="data", page_size=2)

    with fast_client(server) as client:
        pages = list(client.json_pages(USERS, paginator=paginator, ahead=ahead))

    assert [page.number for page in pages] == [1, 2, 3]
    assert [[r["id"] for r in page.body["data"]] for page in pages] == [
        [r["id"] for r in records] for records in PAGES
    ]


@pytest.mark.parametrize("ahead", [0, 1])
def test_an_error_on_page_2_reaches_the_caller_after_page_1_with_or_without_read_ahead(
    server: HTTPServer, ahead: int
) -> None:
    routes = serve_pages(server, USERS, PAGES, style="offset", page_size=2)
    inject(server, USERS, ServerFailure(500), query=routes[1].query, times=4)
    paginator = OffsetPaginator(items_path="data", page_size=2)
    seen: list[int] = []

    with fast_client(server) as client, pytest.raises(ServerError) as raised:
        for page in client.json_pages(USERS, paginator=paginator, ahead=ahead):
            seen.append(page.number)

    assert seen == [1]
    assert raised.value.page == 2


def test_a_caller_that_stops_early_stops_the_read_ahead(server: HTTPServer) -> None:
    serve_pages(server, USERS, PAGES, style="offset", page_size=2)
    paginator = OffsetPaginator(items_path="data", page_size=2)

    with fast_client(server) as client:
        pages = client.json_pages(USERS, paginator=paginator, ahead=1)
        first = next(pages)
        pages.close()  # what a for loop that breaks, or an error in the caller, does

    assert first.number == 1
    assert len(server.log) <= 2  # page 1, and at most the one page read ahead
