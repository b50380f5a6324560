"""Telling "nothing listens there" from "something answered 503": the client raises
``Unreachable`` (or ``ConnectTimedOut``) only while connecting, over both of its paths."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from filefleet.core.errors import ConnectTimedOut, TimedOut, Unavailable, Unreachable
from filefleet.http.client import HttpClient
from filefleet.http.deadlines import Deadlines
from filefleet.http.retry import NO_RETRY


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def busy_server() -> AsyncIterator[str]:
    async def busy(_: web.Request) -> web.Response:
        return web.json_response({"error": "no active storage node"}, status=503)

    app = web.Application()
    app.router.add_get("/busy", busy)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        await server.close()


async def test_a_refused_connection_is_unreachable() -> None:
    async with HttpClient() as http:
        with pytest.raises(Unreachable) as raised:
            await http.request("GET", f"http://127.0.0.1:{closed_port()}", "/x", retry=NO_RETRY)
    assert isinstance(raised.value, Unavailable)  # still retryable, still a 503 to callers
    assert raised.value.retryable


async def test_a_503_answer_is_not_unreachable(busy_server: str) -> None:
    async with HttpClient() as http:
        with pytest.raises(Unavailable) as raised:
            await http.request("GET", busy_server, "/busy", retry=NO_RETRY)
    assert not isinstance(raised.value, Unreachable)
    assert raised.value.message == "no active storage node"


async def test_an_unknown_host_is_unreachable() -> None:
    async with HttpClient() as http:
        with pytest.raises(Unreachable):
            await http.request("GET", "http://no-such-host.invalid:80", "/", retry=NO_RETRY)


async def test_no_connection_within_the_deadline_is_a_connect_timeout() -> None:
    """A listening socket whose backlog is full never completes a new handshake: the
    connect phase passes its deadline."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers = []
        try:
            for _ in range(8):  # fill the accept queue (never accepted)
                filler = socket.socket()
                filler.setblocking(False)
                filler.connect_ex(("127.0.0.1", port))
                fillers.append(filler)
            quick = Deadlines(connect=0.3, answer=1.0, min_rate=0.0)
            async with HttpClient(deadlines=quick) as http:
                with pytest.raises(TimedOut) as raised:
                    await http.request("GET", f"http://127.0.0.1:{port}", "/", retry=NO_RETRY)
        finally:
            for filler in fillers:
                filler.close()
    assert isinstance(raised.value, ConnectTimedOut), raised.value.message
    assert "no connection within" in raised.value.message


async def test_https_refused_is_unreachable_too() -> None:
    async with HttpClient() as http:
        with pytest.raises(Unreachable):
            await http.request("GET", f"https://127.0.0.1:{closed_port()}", "/", retry=NO_RETRY)
