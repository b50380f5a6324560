"""``FileRange`` bodies: a stretch of an open file, read slice by slice as it is sent, over
the command-line client's direct connections and over aiohttp, and what a file that
shrank after it was hashed does."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from filefleet.http.client import NO_RETRY, HttpClient
from filefleet.http.direct import SEND_SLICE
from filefleet.http.file_range import FileChanged, FileRange

CONTENT = os.urandom(3 * SEND_SLICE + 12345)


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

    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.router.add_put("/digest", digest)
    server = TestServer(app)
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


def test_slices_cover_the_range_through_one_buffer(opened: int) -> None:
    buffer = bytearray(1000)
    seen = [(len(p), p.obj is buffer) for p in FileRange(opened, 10, 2500).slices(buffer)]
    assert seen == [(1000, True), (1000, True), (500, True)]
    assert FileRange(opened, 10, 2500).read() == CONTENT[10:2510]
    assert FileRange(opened, 5, 0).read() == b""


@pytest.mark.parametrize("direct", [True, False], ids=["direct", "aiohttp"])
async def test_a_range_goes_out_as_the_file_holds_it(
    opened: int, digest_url: str, direct: bool
) -> None:
    start, length = SEND_SLICE - 7, 2 * SEND_SLICE + 100  # across slice boundaries
    async with HttpClient(direct=direct, retry=NO_RETRY) as http:
        for _ in range(2):  # a reused slice buffer and a kept connection change nothing
            answer = await http.request(
                "PUT", digest_url, "/digest", data=FileRange(opened, start, length)
            )
            assert answer.json() == {
                "sha256": hashlib.sha256(CONTENT[start : start + length]).hexdigest(),
                "n": length,
            }


async def test_a_file_shorter_than_its_range_fails_as_changed(opened: int, digest_url: str) -> None:
    past_end = FileRange(opened, len(CONTENT) - 100, SEND_SLICE)
    with pytest.raises(FileChanged, match="changed"):
        past_end.read()
    async with HttpClient(direct=True, retry=NO_RETRY) as http:
        with pytest.raises(FileChanged, match="changed"):
            await http.request("PUT", digest_url, "/digest", data=past_end)
        # the half-sent request's connection was dropped, not reused out of step
        whole = FileRange(opened, 0, len(CONTENT))
        answer = await http.request("PUT", digest_url, "/digest", data=whole)
        assert answer.json()["sha256"] == hashlib.sha256(CONTENT).hexdigest()
