"""Chunk bodies read into reused buffers: bytes intact, buffers given back, limits kept."""

from __future__ import annotations

import hashlib
import mmap
import os
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from filefleet.core.errors import FilefleetError
from filefleet.fastpath.buffers import Buffers, aligned_buffers, byte_buffers
from filefleet.http.bodies import chunk_body

LIMIT = 1024 * 1024


def test_buffers_are_reused_and_only_keep_are_kept() -> None:
    made: list[int] = []

    def make(size: int) -> bytearray:
        made.append(size)
        return bytearray(size)

    buffers = Buffers(16, keep=1, make=make)
    first, second = buffers.take(), buffers.take()  # a burst: never waits, makes a second
    buffers.give(first)
    buffers.give(second)  # beyond keep: dropped
    assert buffers.take() is first
    assert made == [16, 16]


def test_aligned_buffers_are_maps() -> None:
    buffer = aligned_buffers(4096, keep=1).take()
    assert isinstance(buffer, mmap.mmap) and len(buffer) == 4096
    odd = aligned_buffers(4096 + 5, keep=1)  # whole pages, as O_DIRECT reads need
    length = len(odd.take())
    assert odd.size == 4096 + 5 and length >= 4096 + 5 and length % mmap.PAGESIZE == 0


@pytest.fixture
async def client() -> AsyncIterator[TestClient[web.Request, web.Application]]:
    buffers = byte_buffers(LIMIT, keep=2)

    async def handler(request: web.Request) -> web.Response:
        try:
            followed = hashlib.sha256()
            async with chunk_body(request, LIMIT, buffers, followed) as data:
                digest = hashlib.sha256(data).hexdigest()
                pooled = isinstance(data.obj, bytearray) and len(data.obj) == LIMIT
                # the digest fed as the body arrived covers exactly the bytes read
                assert followed.hexdigest() == digest
                return web.json_response({"sha256": digest, "size": len(data), "pooled": pooled})
        except FilefleetError as exc:
            return web.json_response({"error": exc.message}, status=exc.status)

    app = web.Application()
    app.router.add_post("/", handler)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


@pytest.mark.parametrize("size", [0, 1, 65536 + 3, LIMIT])
async def test_a_body_with_length_lands_in_a_buffer_intact(
    client: TestClient[web.Request, web.Application], size: int
) -> None:
    data = os.urandom(size)
    for _ in range(3):  # the same buffers again: no bytes of an earlier body show through
        resp = await client.post("/", data=data)
        body = await resp.json()
        assert body == {"sha256": hashlib.sha256(data).hexdigest(), "size": size, "pooled": True}
        data = os.urandom(size)


async def test_a_chunked_body_is_read_the_plain_way(
    client: TestClient[web.Request, web.Application],
) -> None:
    data = os.urandom(300_000)

    async def pieces() -> AsyncIterator[bytes]:
        for start in range(0, len(data), 100_000):
            yield data[start : start + 100_000]

    body = await (await client.post("/", data=pieces())).json()
    assert body == {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "pooled": False}


async def test_too_long_is_413_before_reading(
    client: TestClient[web.Request, web.Application],
) -> None:
    resp = await client.post("/", data=b"x" * (LIMIT + 1))
    assert resp.status == 413
    assert "exceeds the limit" in (await resp.json())["error"]
