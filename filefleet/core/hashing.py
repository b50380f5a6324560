"""SHA-256 helpers. hashlib releases the GIL on large buffers, so hashing runs in a thread
to keep the event loop free and to use a second core."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib

# Below this size a thread hop costs more than the hash itself.
THREAD_THRESHOLD = 256 * 1024


def sha256_hex(data: bytes | bytearray | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()


async def sha256_hex_async(data: bytes | bytearray | memoryview) -> str:
    if len(data) < THREAD_THRESHOLD:
        return sha256_hex(data)
    return await asyncio.to_thread(sha256_hex, data)


class ArrivingDigest:
    """The SHA-256 of bytes that arrive in order into one buffer, hashed in a worker thread
    a block at a time while the rest still arrives: once the last byte is in, only the last
    block is left to hash (a 4 MiB chunk hashed after it arrived waits ~3 ms more).

    The buffer's first ``upto`` bytes must not change until ``hexdigest`` returns."""

    def __init__(self, buffer: memoryview, block: int = 1024 * 1024) -> None:
        self._buffer = buffer
        self._block = block
        self._digest = hashlib.sha256()
        self._hashed = 0  # bytes handed to the thread so far
        self._tail: asyncio.Future[None] | None = None

    def arrived(self, upto: int) -> None:
        """The buffer now holds ``upto`` bytes; hand over a block if one is complete."""
        if upto - self._hashed >= self._block:
            self._hand_over(upto)

    async def hexdigest(self, upto: int) -> str:
        """The digest of the first ``upto`` bytes (all of them have arrived)."""
        if upto > self._hashed:
            self._hand_over(upto)
        if self._tail is not None:
            await self._tail
        return self._digest.hexdigest()

    async def settle(self) -> None:
        """Wait for the thread to let go of the buffer (after a failed read)."""
        if self._tail is not None:
            with contextlib.suppress(Exception):
                await self._tail

    def _hand_over(self, upto: int) -> None:
        piece = self._buffer[self._hashed : upto]
        self._hashed = upto
        self._tail = asyncio.ensure_future(self._update_after(self._tail, piece))

    async def _update_after(self, previous: asyncio.Future[None] | None, piece: memoryview) -> None:
        if previous is not None:
            await previous  # in order: SHA-256 is a chain
        await asyncio.to_thread(self._digest.update, piece)
