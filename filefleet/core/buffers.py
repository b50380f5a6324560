"""A fixed set of reusable byte buffers, handed out and returned.

Reusing chunk-sized buffers instead of allocating a fresh 4 MiB object per chunk saves the
page faults of new memory and keeps a process's memory flat whatever the file size; waiting
for a free buffer is the back-pressure that bounds the chunks in flight. The frontend cuts
upload bodies into them (``frontend/buffers.py``); ``filefleet share`` reads files into them.
"""

from __future__ import annotations

import asyncio


class BufferPool:
    def __init__(self, size: int, count: int) -> None:
        self.size = size
        self._free: asyncio.Queue[bytearray] = asyncio.Queue()
        for _ in range(count):
            self._free.put_nowait(bytearray(size))

    async def acquire(self) -> bytearray:
        return await self._free.get()

    def release(self, buffer: bytearray) -> None:
        self._free.put_nowait(buffer)
