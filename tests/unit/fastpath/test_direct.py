"""``HttpClient.get_into``: a GET whose body lands straight in the caller's buffer, over
kept connections, against a real aiohttp server."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from filefleet.core.errors import NotFound, TimedOut, Unavailable
from filefleet.fastpath.direct import _parse_head, _request_head
from filefleet.http.client import HttpClient
from filefleet.http.deadlines import Deadlines
from tests.unit.fastpath.connections import server_drops_the_kept_connection
from tests.unit.http.serving import served

BODY = os.urandom(3 * 1024 * 1024 + 17)


class Site:
    def __init__(self) -> None:
        self.connections: set[int] = set()
        self.transports: list[asyncio.BaseTransport] = []
        self.seen_headers: list[dict[str, str]] = []

    async def body(self, request: web.Request) -> web.StreamResponse:
        assert request.transport is not None
        self.connections.add(id(request.transport))
        self.transports.append(request.transport)
        self.seen_headers.append(dict(request.headers))
        response = web.StreamResponse(headers={"Content-Length": str(len(BODY))})
        await response.prepare(request)
        await response.write(BODY)
        return response

    async def missing(self, _: web.Request) -> web.Response:
        return web.json_response({"error": "no chunk abc here"}, status=404)

    async def chunked(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(b"x" * 100)
        return response

    async def slow(self, _: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response(body=b"late")

    async def huge_error(self, _: web.Request) -> web.Response:
        return web.Response(status=500, body=b"e" * (2 * 1024 * 1024))

    async def close_after(self, request: web.Request) -> web.Response:
        return web.Response(body=b"bye", headers={"Connection": "close"})


@pytest.fixture
async def site() -> AsyncIterator[tuple[Site, str]]:
    s = Site()
    app = web.Application()
    for path, handler in [("/body", s.body), ("/missing", s.missing),
                          ("/chunked", s.chunked), ("/slow", s.slow),
                          ("/close", s.close_after), ("/huge-error", s.huge_error)]:  # fmt: skip
        app.router.add_get(path, handler)
    async with served(app) as url:
        yield s, url


async def test_the_body_lands_in_the_buffer_and_the_connection_is_kept(
    site: tuple[Site, str],
) -> None:
    s, url = site
    buffer = bytearray(4 * 1024 * 1024)
    async with HttpClient(secret="s3cret") as http:
        for _ in range(3):
            progress: list[int] = []
            data = await http.get_into(url + "/body", buffer, arrived=_recorder(progress))
            assert isinstance(data, memoryview) and data.obj is buffer
            assert bytes(data) == BODY
    assert len(s.connections) == 1  # one connection, kept between the three requests
    assert s.seen_headers[0]["Authorization"] == "Bearer s3cret"
    assert progress[-1] == len(BODY) and progress == sorted(progress)


def _recorder(progress: list[int]) -> Callable[[memoryview, int], None]:
    return lambda _view, n: progress.append(n)


async def test_a_body_larger_than_the_buffer_gets_its_own(site: tuple[Site, str]) -> None:
    _, url = site
    async with HttpClient() as http:
        data = await http.get_into(url + "/body", bytearray(1024))
    assert isinstance(data, bytearray) and data == BODY


async def test_an_error_answer_raises_its_error_with_the_message(site: tuple[Site, str]) -> None:
    _, url = site
    async with HttpClient() as http:
        with pytest.raises(NotFound, match="no chunk abc here"):
            await http.get_into(url + "/missing", bytearray(10))
        assert bytes(await http.get_into(url + "/body", None)) == BODY  # connection still good


async def test_a_connection_the_server_closed_is_replaced() -> None:
    s = Site()
    app = web.Application()
    app.router.add_get("/body", s.body)
    server = TestServer(app)
    await server.start_server()
    try:
        async with HttpClient() as http:
            url = str(server.make_url("/body"))
            assert bytes(await http.get_into(url, None)) == BODY
            await server_drops_the_kept_connection(http, s.transports[0])
            assert bytes(await http.get_into(url, None)) == BODY
    finally:
        await server.close()
    assert len(s.connections) == 2


async def test_connection_close_is_honoured(site: tuple[Site, str]) -> None:
    _, url = site
    async with HttpClient() as http:
        assert bytes(await http.get_into(url + "/close", None)) == b"bye"
        assert not any(http._direct._idle.values())


async def test_what_it_does_not_read_is_unavailable(site: tuple[Site, str]) -> None:
    _, url = site
    async with HttpClient() as http:
        with pytest.raises(Unavailable, match="Transfer-Encoding"):
            await http.get_into(url + "/chunked", None)
        with pytest.raises(Unavailable, match="a 500 answer of 2097152 bytes"):
            await http.get_into(url + "/huge-error", None)
        with pytest.raises(Unavailable, match="not an http:// or https:// URL"):
            await http.get_into("ftp://127.0.0.1:1/x", None)
        with pytest.raises(TimedOut, match=r"no answer within 0\.2s"):
            await http.get_into(url + "/slow", None, deadlines=Deadlines(answer=0.2))
        with pytest.raises(Unavailable):
            await http.get_into("http://127.0.0.1:1/nothing-listens", None)


def test_a_header_with_a_line_break_is_refused() -> None:
    with pytest.raises(ValueError, match="line break"):
        _request_head("GET", "/x", "h:1", {"X-Request-Id": "a\r\nEvil: 1"}, None)


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5", (200, 5, True)),
        (b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\nConnection: close", (404, 2, False)),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 0", (200, 0, False)),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive", (200, 0, True)),
    ],
)
def test_response_heads(head: bytes, expected: tuple[int, int, bool]) -> None:
    parsed = _parse_head(head)
    assert (parsed.status, parsed.length, parsed.keep) == expected


@pytest.mark.parametrize(
    "head", [b"SPDY 200", b"HTTP/1.1 200 OK\r\nbroken", b"HTTP/1.1 200 OK\r\nContent-Length: x"]
)
def test_malformed_heads_are_refused(head: bytes) -> None:
    with pytest.raises(ValueError):
        _parse_head(head)


async def test_an_ipv6_literal_url_is_read() -> None:
    s = Site()
    app = web.Application()
    app.router.add_get("/body", s.body)
    server = TestServer(app, host="::1")
    try:
        await server.start_server()
    except OSError:
        pytest.skip("no IPv6 loopback here")
    port = server.port
    try:
        async with HttpClient() as http:
            url = f"http://[::1]:{port}/body"
            assert bytes(await http.get_into(url, None)) == BODY
    finally:
        await server.close()
    assert s.seen_headers[0]["Host"] == f"[::1]:{port}"
