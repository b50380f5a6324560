"""``FileRange`` bodies: a stretch of an open file, sent by the kernel over the HTTP
client's own connections (over https, read slice by slice and encrypted: test_tls.py),
and what a file that shrank after it was hashed does."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp import web

from filefleet.core.errors import FileChanged
from filefleet.fastpath import channel as channel_module
from filefleet.fastpath.channel import SEND_SLICE
from filefleet.fastpath.file_range import FileRange
from filefleet.http.client import HttpClient
from filefleet.http.retry import NO_RETRY
from tests.unit.http.serving import served

# Larger than a loopback socket's send buffer: sending it waits for the socket at times.
CONTENT = os.urandom(24 * SEND_SLICE + 12345)


@pytest.fixture
def opened(tmp_path: Path) -> Iterator[int]:
    path = tmp_path / "file"
    path.write_bytes(CONTENT)
    fd = os.open(path, os.O_RDONLY)
    try:
        yield fd
    finally:
        os.close(fd)


@pytest.fixture
async def digest_url() -> AsyncIterator[str]:
    async def digest(request: web.Request) -> web.Response:
        body = await request.read()
        return web.json_response({"sha256": hashlib.sha256(body).hexdigest(), "n": len(body)})

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_put("/digest", digest)
    async with served(app) as url:
        yield url


async def test_a_range_goes_out_as_the_file_holds_it(
    opened: int, digest_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits = 0
    writable = channel_module._writable

    async def counted(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
        nonlocal waits
        waits += 1
        await writable(loop, sock)

    monkeypatch.setattr(channel_module, "_writable", counted)
    start, length = SEND_SLICE - 7, 20 * SEND_SLICE + 100  # across slice boundaries
    async with HttpClient(retry=NO_RETRY) as http:
        for _ in range(2):  # a kept connection changes nothing
            answer = await http.request(
                "PUT", digest_url, "/digest", data=FileRange(opened, start, length)
            )
            assert answer.json() == {
                "sha256": hashlib.sha256(CONTENT[start : start + length]).hexdigest(),
                "n": length,
            }
    assert waits > 0  # the socket was full at times, and waited on


async def test_a_file_shorter_than_its_range_fails_as_changed(opened: int, digest_url: str) -> None:
    past_end = FileRange(opened, len(CONTENT) - 100, SEND_SLICE)
    async with HttpClient(retry=NO_RETRY) as http:
        with pytest.raises(FileChanged, match="changed"):
            await http.request("PUT", digest_url, "/digest", data=past_end)
        # the half-sent request's connection was dropped, not reused out of step
        whole = FileRange(opened, 0, len(CONTENT))
        answer = await http.request("PUT", digest_url, "/digest", data=whole)
        assert answer.json()["sha256"] == hashlib.sha256(CONTENT).hexdigest()
