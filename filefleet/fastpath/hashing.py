"""SHA-256 off the event loop. hashlib releases the GIL on large buffers, so hashing a
chunk in a worker thread keeps the event loop serving other requests and uses a second
core (README.md in this package: what it buys)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import threading
from collections.abc import Callable

from filefleet.core.hashing import sha256_hex

# Below this size a thread hop costs more than the hash itself.
THREAD_THRESHOLD = 256 * 1024


async def sha256_hex_async(data: bytes | bytearray | memoryview) -> str:
    if len(data) < THREAD_THRESHOLD:
        return sha256_hex(data)
    return await asyncio.to_thread(sha256_hex, data)


class ArrivingDigest:
    """The SHA-256 of bytes that arrive in order into one buffer, hashed in a worker thread
    while the rest still arrives: once the last byte is in, only what came since the
    thread's last pass is left to hash.

    One thread at a time hashes a digest, and it keeps going as long as a block or more has
    arrived, without a trip through the event loop between blocks: a loop busy sending
    another chunk does not hold the hashing up. It returns when it has caught up; the next
    block to arrive starts it again.

    The buffer's first ``upto`` bytes must not change until ``hexdigest`` returns."""

    def __init__(self, buffer: memoryview, block: int = 1024 * 1024) -> None:
        self._buffer = buffer
        self._block = block
        self._digest = hashlib.sha256()
        self._lock = threading.Lock()  # guards the four fields below
        self._arrived = 0  # bytes in the buffer, as the loop last said
        self._hashed = 0  # bytes the thread has hashed
        self._finishing = False  # every byte has arrived: hash down to the last one
        self._worker: asyncio.Future[None] | None = None  # the thread, while it runs

    @property
    def hashed(self) -> int:
        """Bytes hashed so far."""
        with self._lock:
            return self._hashed

    def arrived(self, upto: int) -> None:
        """The buffer now holds ``upto`` bytes; start the thread if a block is waiting."""
        with self._lock:
            self._arrived = upto
            if self._worker is None and upto - self._hashed >= self._block:
                self._start()

    async def hexdigest(self, upto: int) -> str:
        """The digest of the first ``upto`` bytes (all of them have arrived)."""
        with self._lock:
            self._arrived = upto
            self._finishing = True
            if self._worker is None and upto > self._hashed:
                self._start()
            worker = self._worker
        if worker is not None:
            await worker
        return self._digest.hexdigest()

    async def settle(self) -> None:
        """Wait for the thread to let go of the buffer (after a failed read)."""
        with self._lock:
            worker = self._worker
        if worker is not None:
            with contextlib.suppress(Exception):
                await worker

    def _start(self) -> None:
        self._worker = asyncio.get_running_loop().run_in_executor(None, self._hash_arrived)

    def _hash_arrived(self) -> None:
        """In the thread: hash what has arrived until caught up."""
        while True:
            with self._lock:
                start, end = self._hashed, self._arrived
                if end == start or (end - start < self._block and not self._finishing):
                    self._worker = None
                    return
            self._digest.update(self._buffer[start:end])
            with self._lock:
                self._hashed = end


class InOrderDigest:
    """The SHA-256 of a stream given as whole buffers in order, hashed by a worker thread
    while the event loop goes on: an upload's whole-file hash, one chunk after another,
    on a second core.

    ``add(view, done)`` queues a buffer; ``done`` is called on the event loop once the
    thread has hashed it (the buffer may be reused from then on, not before). One thread at
    a time works on a digest, taking the queued buffers in order without a trip through the
    event loop between them; it returns when the queue is empty and the next ``add`` starts
    it again."""

    def __init__(self) -> None:
        self._digest = hashlib.sha256()
        self._lock = threading.Lock()  # guards the three fields below
        self._queued: list[tuple[memoryview, Callable[[], None]]] = []
        self._running = False  # a thread is taking from the queue
        self._failed = False  # a buffer could not be hashed: no digest, ever
        self._worker: asyncio.Future[None] | None = None  # the latest thread started
        self._loop: asyncio.AbstractEventLoop | None = None

    def add(self, view: memoryview, done: Callable[[], None]) -> None:
        """Queue ``view`` for hashing after every buffer queued before it."""
        with self._lock:
            if self._failed:  # nothing more is hashed; the buffer is free at once
                asyncio.get_running_loop().call_soon(done)
                return
            self._queued.append((view, done))
            if not self._running:
                self._running = True
                self._loop = asyncio.get_running_loop()
                self._worker = self._loop.run_in_executor(None, self._hash_queued)

    async def hexdigest(self) -> str:
        """The digest of every buffer queued so far, once the thread has hashed them."""
        await self.settle()
        failure = self._worker.exception() if self._worker is not None else None
        if failure is not None:
            raise failure
        return self._digest.hexdigest()

    async def settle(self) -> None:
        """Wait until the thread has hashed every queued buffer (or failed) and every
        ``done`` it owes has run."""
        while (worker := self._worker) is not None and not worker.done():
            # A thread's ``done`` calls reach the loop before its future completes.
            with contextlib.suppress(Exception):
                await asyncio.shield(worker)

    def _hash_queued(self) -> None:
        """In the thread: hash the queued buffers in order until none is left."""
        assert self._loop is not None
        loop = self._loop
        while True:
            with self._lock:
                if not self._queued:
                    self._running = False
                    return
                view, done = self._queued.pop(0)
            try:
                self._digest.update(view)
            except BaseException:
                with self._lock:
                    # Stop for good: hashing on would digest a stream with a gap.
                    self._failed = True
                    left, self._queued = self._queued, []
                for _, left_done in left:
                    loop.call_soon_threadsafe(left_done)
                raise
            finally:
                loop.call_soon_threadsafe(done)
