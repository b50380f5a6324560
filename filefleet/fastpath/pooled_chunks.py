"""Reusable chunk buffers for one upload, and cutting a byte stream into them.

An upload holds ``inflight + 1`` buffers of ``chunk_size`` bytes: one being filled from
the request body, the others being sent. Every byte is copied once, from the socket's
piece into a buffer, and no chunk-sized object is allocated per chunk. That keeps the
frontend's memory flat whatever the file size (no heap fragmentation from thousands of
4 MiB allocations) and saves the page faults of fresh allocations. Waiting for a free
buffer is the upload's back-pressure: the body is read no faster than chunks are stored.

Each piece is hashed twice (into its chunk's SHA-256 and the whole file's) right after it
is copied, on the event loop, while it is still in the CPU's cache. Hashing a finished
4 MiB buffer in a worker thread costs markedly more on a small machine: by then its bytes
have to come back from memory, into another core (history of docs/benchmarks.md). The
price is that one frontend's uploads hash on one core; more frontends behind a balancer
use more.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass

from filefleet.fastpath.buffers import BufferPool


@dataclass
class PooledChunk:
    """``view`` is the chunk's bytes inside a pooled buffer; ``release()`` returns it.

    Release only once nothing reads the view any more: hashed, sent and answered."""

    buffer: bytearray
    length: int
    pool: BufferPool
    sha256: str  # of the chunk's bytes

    @property
    def view(self) -> memoryview:
        return memoryview(self.buffer)[: self.length]

    def release(self) -> None:
        self.pool.release(self.buffer)


async def pooled_chunks(
    pieces: AsyncIterable[bytes], pool: BufferPool, whole: hashlib._Hash
) -> AsyncIterator[PooledChunk]:
    """Chunks of exactly ``pool.size`` bytes (the last may be shorter; none for no bytes),
    each with its SHA-256; every byte is also fed, in order, to ``whole``."""
    size = pool.size
    buffer = await pool.acquire()
    landed = memoryview(buffer)
    own = hashlib.sha256()
    filled = 0
    async for piece in pieces:
        view = memoryview(piece)
        while view:
            take = min(len(view), size - filled)
            piece_in_buffer = landed[filled : filled + take]
            piece_in_buffer[:] = view[:take]
            own.update(piece_in_buffer)  # just copied: still in cache
            whole.update(piece_in_buffer)
            filled += take
            view = view[take:]
            if filled == size:
                yield PooledChunk(buffer, size, pool, own.hexdigest())
                buffer = await pool.acquire()
                landed = memoryview(buffer)
                own = hashlib.sha256()
                filled = 0
    if filled:
        yield PooledChunk(buffer, filled, pool, own.hexdigest())
    else:
        pool.release(buffer)
