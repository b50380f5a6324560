"""Reading request bodies: whole, or a chunk straight into a reused buffer.

A chunk body (4 MiB) arrives as the pieces aiohttp's parser hands over. Reading it with
``readexactly`` joins those pieces into a fresh 4 MiB object (one copy, plus the page
faults of new memory for every chunk), and the node then copied that object again into a
page-aligned buffer for its ``O_DIRECT`` write. ``chunk_body`` instead copies each piece,
as it comes, into a buffer taken from a ``Buffers`` set and given back when the handler is
done: one copy, no allocation per chunk, memory bounded by the chunks in flight. On a
2-core machine where the client and every service share the cores, those copies are CPU
the hashing needs (docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import mmap
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Generic, TypeVar

from aiohttp import web

from filefleet.core.errors import InvalidInput, PayloadTooLarge

B = TypeVar("B", bytearray, mmap.mmap)


class Buffers(Generic[B]):
    """Buffers of at least ``size`` bytes, made on demand and kept (up to ``keep``) for reuse.

    Taking never waits: a burst of requests gets new buffers, and only ``keep`` of them
    stay allocated afterwards."""

    def __init__(self, size: int, keep: int, make: Callable[[int], B]) -> None:
        self.size = size
        self.keep = keep
        self._make: Callable[[int], B] = make
        self._idle: list[B] = []

    def take(self) -> B:
        return self._idle.pop() if self._idle else self._make(self.size)

    def give(self, buffer: B) -> None:
        if len(self._idle) < self.keep:
            self._idle.append(buffer)
        elif isinstance(buffer, mmap.mmap):
            with contextlib.suppress(BufferError):  # still viewed somewhere: the GC frees it
                buffer.close()


def aligned_buffers(size: int, keep: int) -> Buffers[mmap.mmap]:
    """Page-aligned buffers (anonymous maps): what ``O_DIRECT`` writes need."""
    return Buffers(size, keep, lambda n: mmap.mmap(-1, n))


def byte_buffers(size: int, keep: int) -> Buffers[bytearray]:
    return Buffers(size, keep, bytearray)


def _check_length(request: web.Request, limit: int) -> int | None:
    length = request.content_length
    if length is not None and length > limit:
        raise PayloadTooLarge(f"body of {length} bytes exceeds the limit of {limit} bytes")
    return length


async def body_pieces(request: web.Request) -> AsyncIterator[bytes]:
    """The body's bytes as they arrive, without joining pieces (no copy here)."""
    content = request.content
    while not content.at_eof():  # (an empty body's reader is at its end from the start)
        piece, _ = await content.readchunk()  # (b"", True) marks a chunked body's boundaries
        if piece:
            yield piece


async def read_body(request: web.Request, limit: int) -> bytes | bytearray:
    """The raw request body, refused (413) as soon as it is known to exceed ``limit`` bytes:
    from Content-Length before reading, or while reading a chunked body."""
    length = _check_length(request, limit)
    if length is not None:
        try:
            return await request.content.readexactly(length)  # one copy: join of the reads
        except asyncio.IncompleteReadError as exc:
            raise InvalidInput("request body ended before its Content-Length") from exc
    body = bytearray()
    async for block in body_pieces(request):
        body += block
        if len(body) > limit:
            raise PayloadTooLarge(f"body exceeds the limit of {limit} bytes")
    return body


@asynccontextmanager
async def chunk_body(
    request: web.Request, limit: int, buffers: Buffers[B]
) -> AsyncIterator[tuple[memoryview, bool]]:
    """The body of at most ``limit`` bytes, and whether it lies in one of ``buffers`` (from
    offset 0, so page-aligned for aligned buffers). The buffer goes back on exit: nothing
    may keep the view. A body without Content-Length, or longer than the buffers, is read
    the plain way (``read_body``) and yielded with ``False``."""
    length = _check_length(request, limit)
    if length is None or length > buffers.size:
        yield memoryview(await read_body(request, limit)), False
        return
    buffer = buffers.take()
    try:
        view = memoryview(buffer)
        filled = 0
        async for piece in body_pieces(request):
            end = filled + len(piece)
            if end > length:  # the parser stops at Content-Length; never trust it blindly
                raise InvalidInput(f"body longer than its Content-Length of {length}")
            view[filled:end] = piece
            filled = end
        if filled != length:
            raise InvalidInput("request body ended before its Content-Length")
        yield view[:length], True
    finally:
        buffers.give(buffer)
