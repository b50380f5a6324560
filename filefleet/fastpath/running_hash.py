"""The whole-file SHA-256 of a resumable upload, folded in as its chunks arrive.

Completing an upload checks the client's whole-file SHA-256 against the stored bytes, or
computes it when the client gives none. Reading a whole file back from the nodes for that
costs as much as the upload itself, so the frontend folds each chunk into a running hash
as it arrives in order. A chunk that arrives a little early (several are in flight at
once) waits for its turn, for at most ``wait`` seconds, while its request still holds its
bytes: nothing is copied to be hashed later, and its answer waits no longer than its
append batch would anyway. At
completion only the chunks after the folded prefix are read back: none for a client that
sent everything to this frontend in order, all of them after a frontend restart, a chunk
that arrived through another frontend or too far out of order, or chunks claimed by dedup
(their bytes never reach the frontend; a claim ends the fold at once, so no later chunk
waits for it).
"""

from __future__ import annotations

import asyncio
import hashlib

from filefleet.core.chunking import CHUNK_API_INFLIGHT

Bytes = bytes | bytearray | memoryview

# Seconds an early chunk waits for its predecessors before giving up. Giving up costs a
# read-back of every chunk after the gap at completion (seconds for a large file); waiting
# costs a client whose predecessor request is slow (a loaded node) at most this, once.
WAIT = 2.0
# Chunks further ahead than this do not wait: as many as ``filefleet share`` keeps in flight,
# all of which can arrive before the first of them is folded.
AHEAD = CHUNK_API_INFLIGHT


class RunningHash:
    def __init__(self, ahead: int = AHEAD, wait: float = WAIT) -> None:
        self.ahead = ahead
        self.wait = wait
        self._digest = hashlib.sha256()
        self._next = 0  # chunks 0 .. _next-1 are folded in
        self._end: int | None = None  # a chunk whose bytes will not come: the fold ends there
        self._turn = asyncio.Condition()

    async def add(self, index: int, data: Bytes) -> None:
        """Chunk ``index`` (verified and recorded) arrived with these bytes: fold it in if
        its predecessors are folded, or come within the wait; the caller keeps ``data``
        unchanged until this returns."""
        async with self._turn:
            if not 0 <= index - self._next < self.ahead:
                return  # folded already (sent again), or too far ahead to wait for
            if self._stopped(index):
                return  # after a chunk whose bytes will not come
            if index > self._next:
                try:
                    await asyncio.wait_for(
                        self._turn.wait_for(lambda: self._next >= index or self._stopped(index)),
                        self.wait,
                    )
                except TimeoutError:
                    return  # a predecessor did not come: the prefix stops before it
                if self._next != index:
                    return  # folded by another request of the same chunk, or stopped
            # On the event loop, not in a worker thread: the loop's core copied these bytes
            # into their buffer moments ago, and a thread hop costs more than it frees here
            # (~2 ms of hashing per 4 MiB chunk).
            self._digest.update(data)
            self._next += 1
            self._turn.notify_all()

    async def absent(self, index: int) -> None:
        """Chunk ``index`` was recorded without its bytes passing here (claimed by dedup):
        the fold ends before it, and the chunks after it stop waiting for their turn."""
        async with self._turn:
            if index >= self._next and (self._end is None or index < self._end):
                self._end = index
                self._turn.notify_all()

    def _stopped(self, index: int) -> bool:
        return self._end is not None and index > self._end

    def prefix(self) -> tuple[int, hashlib._Hash]:
        """How many chunks are folded in, and a copy of the hash of those."""
        return self._next, self._digest.copy()
