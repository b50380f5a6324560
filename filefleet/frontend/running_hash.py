"""The whole-file SHA-256 of a resumable upload, folded in as its chunks arrive.

Completing an upload checks the client's whole-file SHA-256 against the stored bytes.
Reading a whole file back from the nodes for that costs as much as the upload itself, so
the frontend folds each chunk into a running hash when it arrives in order, holding a
few that arrive early (several are in flight at once) until their predecessors come.
At completion only the chunks after the folded prefix are read back: none for a client
that sent everything to this frontend, all of them after a frontend restart, a chunk
that arrived through another frontend, or chunks claimed by dedup (their bytes never
reach the frontend).

Memory is bounded: at most ``max_held`` early chunks per upload (``filefleet share`` keeps
8 in flight, so at most 7 arrive early), and at most
``HELD_BUDGET`` bytes held over all uploads of the process; a chunk that does not fit is
simply not folded (the read-back covers it).
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import ClassVar

Bytes = bytes | bytearray | memoryview


class RunningHash:
    HELD_BUDGET: ClassVar[int] = 64 * 1024 * 1024
    _held_total: ClassVar[int] = 0

    def __init__(self, max_held: int = 8) -> None:
        self.max_held = max_held
        self._digest = hashlib.sha256()
        self._next = 0  # chunks 0 .. _next-1 are folded in
        self._held: dict[int, bytes] = {}
        self._lock = asyncio.Lock()

    async def add(self, index: int, data: Bytes) -> None:
        """Chunk ``index`` (verified and recorded) arrived with these bytes."""
        async with self._lock:
            if index < self._next or index in self._held:
                return
            if index > self._next:
                self._hold(index, data)
                return
            await asyncio.to_thread(self._digest.update, data)
            self._next += 1
            while self._next in self._held:
                chunk = self._release(self._next)
                await asyncio.to_thread(self._digest.update, chunk)
                self._next += 1

    def prefix(self) -> tuple[int, hashlib._Hash]:
        """How many chunks are folded in, and a copy of the hash of those."""
        return self._next, self._digest.copy()

    def discard(self) -> None:
        """Forget held chunks (the upload is completed or abandoned)."""
        for index in list(self._held):
            self._release(index)

    def _hold(self, index: int, data: Bytes) -> None:
        size = len(data)
        if len(self._held) >= self.max_held or RunningHash._held_total + size > self.HELD_BUDGET:
            return
        self._held[index] = bytes(data)
        RunningHash._held_total += size

    def _release(self, index: int) -> bytes:
        chunk = self._held.pop(index)
        RunningHash._held_total -= len(chunk)
        return chunk
