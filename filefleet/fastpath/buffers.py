"""Reusable chunk-sized buffers, handed out and given back.

Reusing chunk-sized buffers instead of allocating a fresh 4 MiB object per chunk saves the
page faults of new memory and keeps a process's memory flat whatever the file size. Two
kinds, for two situations:

- ``BufferPool``: a fixed number for one job; waiting for a free one is the back-pressure
  that bounds the chunks in flight. The frontend cuts upload bodies into them
  (``pooled_chunks.py``), drawing them from the stock its downloads use too.
- ``Buffers``: made on demand, a few kept for reuse; taking never waits, so a burst of
  requests to a server is never held up by a slow one (``http/bodies.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import mmap
from collections.abc import Callable
from typing import Generic, TypeVar


class BufferPool:
    """At most ``count`` buffers of ``size`` bytes for one job (an upload); waiting for a
    free one is that job's back-pressure.

    The buffers are taken from ``stock`` as they are first needed and given back to it by
    ``close()``, so jobs that follow one another (an upload, then a download) share the
    same memory instead of each holding its own."""

    def __init__(self, size: int, count: int, stock: Buffers[bytearray] | None = None) -> None:
        self.size = size
        self._stock = stock if stock is not None else byte_buffers(size, keep=0)
        self._count = count
        self._taken = 0
        self._free: asyncio.Queue[bytearray] = asyncio.Queue()

    async def acquire(self) -> bytearray:
        if self._free.empty() and self._taken < self._count:
            self._taken += 1
            return self._stock.take()
        return await self._free.get()

    def release(self, buffer: bytearray) -> None:
        """Back to the pool: nothing reads or writes ``buffer`` any more."""
        self._free.put_nowait(buffer)

    def close(self) -> None:
        """Give the released buffers back to the stock (one never released is not: the
        garbage collector frees it)."""
        while not self._free.empty():
            self._stock.give(self._free.get_nowait())


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
    """Page-aligned buffers (anonymous maps) a whole number of pages long: what ``O_DIRECT``
    reads and writes need."""
    pages = -(-size // mmap.PAGESIZE)
    return Buffers(size, keep, lambda n: mmap.mmap(-1, max(pages, 1) * mmap.PAGESIZE))


def byte_buffers(size: int, keep: int) -> Buffers[bytearray]:
    return Buffers(size, keep, bytearray)
