"""The client's failover between several controllers (``--controller URL1,URL2``): a dead
or failing URL is skipped within the same attempt, and the URL that answered is tried
first from then on, so a dead controller costs each call nothing once found out."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from filefleet.core.errors import NotFound, Unavailable
from filefleet.http.client import HttpClient
from filefleet.http.deadlines import Deadlines
from filefleet.http.retry import RetryPolicy
from filefleet.runtime.ports import free_port


class Counting:
    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.hits = 0

    async def handle(self, _: web.Request) -> web.Response:
        self.hits += 1
        if self.status >= 400:
            return web.json_response({"error": f"status {self.status}"}, status=self.status)
        return web.json_response({"ok": True})


@pytest.fixture
async def servers() -> AsyncIterator[list[tuple[Counting, str]]]:
    started = []
    for status in (200, 503, 404):
        counting = Counting(status)
        app = web.Application()
        app.router.add_get("/x", counting.handle)
        server = TestServer(app)
        await server.start_server()
        started.append((counting, server))
    try:
        yield [(c, str(s.make_url("")).rstrip("/")) for c, s in started]
    finally:
        for _, server in started:
            await server.close()


FAST = RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.01)


async def test_a_dead_url_is_skipped_and_the_good_one_stays_first(
    servers: list[tuple[Counting, str]],
) -> None:
    good, good_url = servers[0]
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    async with HttpClient(retry=FAST) as http:
        assert (await http.get_json([dead, good_url], "/x")) == {"ok": True}
        assert http.calls.retries == 0  # the failover happened within the first attempt
        for _ in range(3):
            await http.get_json([dead, good_url], "/x")
        assert good.hits == 4
        assert http.failover.ordered([dead, good_url]) == [good_url, dead]
        assert http.failover.ordered([good_url]) == [good_url]


async def test_5xx_fails_over_and_4xx_does_not(servers: list[tuple[Counting, str]]) -> None:
    (good, good_url), (failing, failing_url), (missing, missing_url) = servers
    assert missing.hits == 0
    async with HttpClient(retry=FAST) as http:
        assert (await http.get_json([failing_url, good_url], "/x")) == {"ok": True}
        assert (failing.hits, good.hits) == (1, 1)
        with pytest.raises(NotFound):  # the request is wrong: asking another gives the same
            await http.get_json([missing_url, good_url], "/x")
        assert (missing.hits, good.hits) == (1, 1)
        with pytest.raises(Unavailable):
            await http.get_json([f"http://127.0.0.1:{free_port()}"], "/x")


async def test_stream_passes_the_callers_own_errors_through(
    servers: list[tuple[Counting, str]],
) -> None:
    """A full disk while saving a download is the caller's error, not a network one."""
    (_, good), _, _ = servers
    async with HttpClient(retry=FAST) as http:
        with pytest.raises(OSError, match="No space left"):
            async with http.stream("GET", f"{good}/x") as resp:
                await resp.read()
                raise OSError(28, "No space left on device")
        with pytest.raises(Unavailable):  # nothing listens there: that one is the network's
            async with http.stream("GET", f"http://127.0.0.1:{free_port()}/x"):
                pass


async def _trickle(pause: float, pieces: int) -> tuple[TestServer, str]:
    async def handle(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Length": str(pieces)})
        await response.prepare(request)
        for _ in range(pieces):
            await asyncio.sleep(pause)
            await response.write(b"x")
        return response

    app = web.Application()
    app.router.add_get("/slow", handle)
    server = TestServer(app)
    await server.start_server()
    return server, str(server.make_url("/slow"))


async def test_a_stream_may_last_longer_than_the_timeout_but_not_stall_for_it() -> None:
    """A large download over a slow link outlasts any sensible timeout; the timeout bounds
    each wait for more bytes instead."""
    server, url = await _trickle(pause=0.15, pieces=8)  # 1.2 s in all, a byte per 0.15 s
    try:
        async with (
            HttpClient(deadlines=Deadlines(answer=0.5, min_rate=0), retry=FAST) as http,
            http.stream("GET", url) as resp,
        ):
            assert await resp.read() == b"x" * 8
    finally:
        await server.close()
    server, url = await _trickle(pause=1.5, pieces=2)  # silent for longer than the timeout
    try:
        async with HttpClient(deadlines=Deadlines(answer=0.5, min_rate=0), retry=FAST) as http:
            with pytest.raises(Unavailable):
                async with http.stream("GET", url) as resp:
                    await resp.read()
    finally:
        await server.close()
