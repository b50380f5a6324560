"""``HttpClient``: every request to an ``http://`` URL over the client's own kept
connections (``direct.py``), as every service and the command-line tools use it, against
real servers: aiohttp's, and a raw socket server for what aiohttp does not send."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web

from filefleet.core.errors import NotFound, PayloadTooLarge, TimedOut, Unavailable
from filefleet.http.client import HttpClient
from filefleet.http.deadlines import Deadlines
from filefleet.http.retry import NO_RETRY
from tests.unit.fastpath.connections import server_drops_the_kept_connection
from tests.unit.http.serving import served

BODY = bytearray(os.urandom(4 * 1024 * 1024 + 5))


class Site:
    def __init__(self) -> None:
        self.transports: list[asyncio.BaseTransport] = []
        self.received: list[tuple[str, str, dict[str, str]]] = []

    async def digest(self, request: web.Request) -> web.Response:
        assert request.transport is not None
        self.transports.append(request.transport)
        sha = hashlib.sha256()
        async for piece in request.content.iter_chunked(64 * 1024):
            sha.update(piece)
        self.received.append((request.method, sha.hexdigest(), dict(request.query)))
        return web.json_response({"sha256": sha.hexdigest()}, headers={"X-Seen": "yes"})

    async def chunked(self, _: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(_)
        for piece in (b'{"parts": ', b"[1, 2, ", b"3]}"):
            await response.write(piece)
        await response.write_eof()
        return response

    async def head(self, _: web.Request) -> web.Response:
        return web.Response(body=b"x" * 1000, headers={"ETag": '"abc"'})

    async def missing(self, _: web.Request) -> web.Response:
        return web.json_response({"error": "no upload u1 here"}, status=404)


@pytest.fixture
async def site() -> AsyncIterator[tuple[Site, str]]:
    s = Site()
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.router.add_route("*", "/digest", s.digest)
    app.router.add_get("/chunked", s.chunked)
    app.router.add_get("/head", s.head)
    app.router.add_get("/missing", s.missing)
    async with served(app) as url:
        yield s, url


async def test_bodies_go_out_whole_over_one_kept_connection(site: tuple[Site, str]) -> None:
    s, url = site
    async with HttpClient() as http:
        for method in ("PUT", "POST"):
            answer = await http.request(
                method, url, "/digest", params={"sha256": "abc", "n": 3}, data=memoryview(BODY)
            )
            assert answer.json() == {"sha256": hashlib.sha256(BODY).hexdigest()}
            assert answer.headers["x-seen"] == answer.headers["X-Seen"] == "yes"
        assert await http.post_json(url, "/digest", {"a": 1}) == {
            "sha256": hashlib.sha256(b'{"a": 1}').hexdigest()
        }
    assert [(m, q) for m, _, q in s.received] == [
        ("PUT", {"sha256": "abc", "n": "3"}),
        ("POST", {"sha256": "abc", "n": "3"}),
        ("POST", {}),
    ]
    assert len({id(t) for t in s.transports}) == 1  # the one connection, kept


async def test_chunked_head_and_error_answers(site: tuple[Site, str]) -> None:
    _, url = site
    async with HttpClient() as http:
        assert await http.get_json(url, "/chunked") == {"parts": [1, 2, 3]}
        head = await http.request("HEAD", url, "/head")
        assert head.body == b"" and head.headers["etag"] == '"abc"'
        with pytest.raises(NotFound, match="no upload u1 here"):
            await http.request("GET", url, "/missing")
        assert await http.get_json(url, "/chunked") == {"parts": [1, 2, 3]}  # still in step


async def test_a_kept_connection_the_server_closed_is_replaced_for_a_put(
    site: tuple[Site, str],
) -> None:
    s, url = site
    async with HttpClient() as http:
        await http.request("PUT", url, "/digest", data=memoryview(BODY))
        await server_drops_the_kept_connection(http, s.transports[0])
        await http.request("PUT", url, "/digest", data=memoryview(BODY))
    assert http.calls.retries == 0  # replaced at once, not retried after a backoff
    assert [sha for _, sha, _ in s.received] == [hashlib.sha256(BODY).hexdigest()] * 2


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


async def test_an_answer_that_ends_when_the_server_closes() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b'HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{"ok": ')
        await writer.drain()
        writer.write(b"true}")
        writer.close()

    async with raw_server(handler) as url, HttpClient() as http:
        assert await http.get_json(url, "/x") == {"ok": True}
        assert not any(http._direct._idle.values())


async def test_an_answer_sent_before_the_body_was_read_is_reported() -> None:
    """A server refusing a body by its headers answers at once and stops reading: the
    client reports that answer, not the broken pipe."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        message = json.dumps({"error": "chunk too large: at most 4194304 bytes"}).encode()
        writer.write(
            b"HTTP/1.1 413 Payload Too Large\r\nConnection: close\r\n"
            + f"Content-Length: {len(message)}\r\n\r\n".encode()
            + message
        )
        await writer.drain()
        writer.transport.get_extra_info("socket").shutdown(socket.SHUT_WR)
        with contextlib.suppress(ConnectionError):  # read on, as servers do before closing
            while await asyncio.wait_for(reader.read(1 << 20), 5):
                pass
        writer.close()

    big = bytearray(32 * 1024 * 1024)
    async with raw_server(handler) as url, HttpClient() as http:
        with pytest.raises(PayloadTooLarge, match="at most 4194304 bytes"):
            await http.request("PUT", url, "/chunk", data=memoryview(big))


async def test_malformed_and_oversized_answers_are_unavailable() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
        await writer.drain()
        writer.close()

    async with raw_server(handler) as url, HttpClient(retry=NO_RETRY) as http:
        with pytest.raises(Unavailable, match="bad chunk size"):
            await http.request("GET", url, "/x")


def test_the_client_commands_do_not_load_aiohttp() -> None:
    """Loading aiohttp costs every run of ``filefleet share`` about a third of a second;
    the commands talk plain HTTP without it."""
    code = (
        "import sys, filefleet.cli.share, filefleet.cli.get, filefleet.cli.delete\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'aiohttp'))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout


async def test_the_timeout_bounds_a_stretch_without_progress_not_the_whole_exchange() -> None:
    """Over a slow link a chunk takes longer to send than any fixed bound would allow; the
    command-line client fails a request only when it makes no progress for the timeout."""
    received: list[int] = []

    async def slow_reader(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        length = int(head.lower().split("content-length:")[1].split("\r\n")[0])
        got = 0
        while got < length:  # 256 KiB per 50 ms: ~2.5 s for 16 MiB, progress all along
            got += len(await reader.read(min(256 * 1024, length - got)))
            await asyncio.sleep(0.05)
        received.append(got)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
        await writer.drain()
        writer.close()

    body = bytearray(16 * 1024 * 1024)
    async with (
        raw_server(slow_reader) as url,
        HttpClient(deadlines=Deadlines(answer=1.0, min_rate=0)) as http,
    ):
        start = time.monotonic()
        assert (await http.request("PUT", url, "/chunk", data=memoryview(body))).json() == {}
        assert time.monotonic() - start > 1.0  # longer than the timeout, and it went through
    assert received == [len(body)]

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{")
        await writer.drain()
        await asyncio.sleep(3)  # half an answer, then nothing for longer than the timeout
        writer.close()

    async with (
        raw_server(silent) as url,
        HttpClient(deadlines=Deadlines(answer=0.5, min_rate=0), retry=NO_RETRY) as http,
    ):
        with pytest.raises(TimedOut, match=r"paused for over 0\.5s"):
            await http.request("GET", url, "/x")
