"""Reading request bodies: whole, or a chunk straight into a reused buffer.

A chunk body (4 MiB) arrives as the pieces aiohttp's parser hands over. Reading it with
``readexactly`` joins those pieces into a fresh 4 MiB object (one copy, plus the page
faults of new memory for every chunk), and the node then copied that object again into a
page-aligned buffer for its ``O_DIRECT`` write. ``chunk_body`` instead copies each piece,
as it comes, into a buffer taken from a ``Buffers`` set (``fastpath/buffers.py``) and given
back when the handler is done: one copy, no allocation per chunk, memory bounded by the
chunks in flight. On a 2-core machine where the client and every service share the cores,
those copies are CPU the hashing needs (history of docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from filefleet.core.errors import InvalidInput, PayloadTooLarge
from filefleet.fastpath.buffers import B, Buffers


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
    request: web.Request, limit: int, buffers: Buffers[B], digest: hashlib._Hash | None = None
) -> AsyncIterator[memoryview]:
    """The body of at most ``limit`` bytes, in one of ``buffers`` (from offset 0, so
    page-aligned for aligned buffers). The buffer goes back on exit: nothing may keep the
    view. A body without Content-Length, or longer than the buffers, is read the plain way
    (``read_body``).

    ``digest``, if given, is fed the body's bytes: each piece right after it is copied
    into the buffer, on the event loop, while it is still in the CPU's cache (a 4 MiB
    chunk is ~2 ms of hashing, spread over its pieces). Hashing the buffer afterwards in
    a worker thread costs more CPU on a small machine: the bytes have to come back from
    memory into another core (history of docs/benchmarks.md)."""
    length = _check_length(request, limit)
    if length is None or length > buffers.size:
        body = memoryview(await read_body(request, limit))
        if digest is not None:
            await asyncio.to_thread(digest.update, body)
        yield body
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
            if digest is not None:
                digest.update(view[filled:end])
            filled = end
        if filled != length:
            raise InvalidInput("request body ended before its Content-Length")
        yield view[:length]
    finally:
        buffers.give(buffer)
