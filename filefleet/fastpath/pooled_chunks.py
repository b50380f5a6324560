"""Reusable chunk buffers for one upload, and cutting a byte stream into them.

An upload holds ``inflight + 1`` buffers of ``chunk_size`` bytes: one being filled from
the request body, the others being hashed and sent. Every byte is copied once, from the
socket's piece into a buffer, and no chunk-sized object is allocated per chunk. That keeps
the frontend's memory flat whatever the file size (no heap fragmentation from thousands of
4 MiB allocations) and saves the page faults of fresh allocations. Waiting for a free
buffer is the upload's back-pressure: the body is read no faster than chunks are stored.

Each piece is hashed into its chunk's SHA-256 right after it is copied, on the event loop,
while it is still in the CPU's cache: the chunk id is needed before the chunk can be sent.
The whole file's SHA-256 is needed only when the body has ended, so each full chunk is
handed to a worker thread that hashes the chunks in order (``hashing.InOrderDigest``)
while the event loop receives the next one: one upload's two hashes run on two cores. A
chunk's buffer goes back to the pool once it is both sent and hashed.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass

from filefleet.fastpath.buffers import BufferPool
from filefleet.fastpath.hashing import InOrderDigest


@dataclass
class PooledChunk:
    """``view`` is the chunk's bytes inside a pooled buffer; ``release()`` returns it.

    Release only once nothing reads the view any more: sent and answered. The buffer goes
    back to the pool when the whole-file hash is done with it too."""

    buffer: bytearray
    length: int
    pool: BufferPool
    sha256: str  # of the chunk's bytes
    holders: int = 2  # the sender and the whole-file hash

    @property
    def view(self) -> memoryview:
        return memoryview(self.buffer)[: self.length]

    def release(self) -> None:
        self.holders -= 1
        if self.holders == 0:
            self.pool.release(self.buffer)


async def pooled_chunks(
    pieces: AsyncIterable[bytes], pool: BufferPool, whole: InOrderDigest
) -> AsyncIterator[PooledChunk]:
    """Chunks of exactly ``pool.size`` bytes (the last may be shorter; none for no bytes),
    each with its SHA-256; every chunk is also queued, in order, on ``whole``."""
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
            filled += take
            view = view[take:]
            if filled == size:
                yield _queued(PooledChunk(buffer, size, pool, own.hexdigest()), whole)
                buffer = await pool.acquire()
                landed = memoryview(buffer)
                own = hashlib.sha256()
                filled = 0
    if filled:
        yield _queued(PooledChunk(buffer, filled, pool, own.hexdigest()), whole)
    else:
        pool.release(buffer)


def _queued(chunk: PooledChunk, whole: InOrderDigest) -> PooledChunk:
    whole.add(chunk.view, chunk.release)
    return chunk
