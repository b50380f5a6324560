"""Reusable chunk buffers for one upload, and cutting a byte stream into them.

An upload holds ``inflight + 1`` buffers of ``chunk_size`` bytes: one being filled from
the request body, the others being hashed and sent. Every byte is copied once, from the
socket's piece into a buffer, and no chunk-sized object is allocated per chunk. That keeps
the frontend's memory flat whatever the file size (no heap fragmentation from thousands
of 4 MiB allocations) and saves the page faults of fresh allocations. Waiting for a free
buffer is the upload's back-pressure: the body is read no faster than chunks are stored.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass

from filefleet.core.buffers import BufferPool


@dataclass
class PooledChunk:
    """``view`` is the chunk's bytes inside a pooled buffer; ``release()`` returns it.

    Release only once nothing reads the view any more: hashed, sent and answered."""

    buffer: bytearray
    length: int
    pool: BufferPool

    @property
    def view(self) -> memoryview:
        return memoryview(self.buffer)[: self.length]

    def release(self) -> None:
        self.pool.release(self.buffer)


async def pooled_chunks(
    pieces: AsyncIterable[bytes], pool: BufferPool
) -> AsyncIterator[PooledChunk]:
    """Chunks of exactly ``pool.size`` bytes (the last may be shorter; none for no bytes)."""
    size = pool.size
    buffer = await pool.acquire()
    filled = 0
    async for piece in pieces:
        view = memoryview(piece)
        while view:
            take = min(len(view), size - filled)
            buffer[filled : filled + take] = view[:take]
            filled += take
            view = view[take:]
            if filled == size:
                yield PooledChunk(buffer, size, pool)
                buffer = await pool.acquire()
                filled = 0
    if filled:
        yield PooledChunk(buffer, filled, pool)
    else:
        pool.release(buffer)
