"""SHA-256 helpers. hashlib releases the GIL on large buffers, so hashing runs in a thread
to keep the event loop free and to use a second core."""

from __future__ import annotations

import asyncio
import hashlib

# Below this size a thread hop costs more than the hash itself.
THREAD_THRESHOLD = 256 * 1024


def sha256_hex(data: bytes | bytearray | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()


async def sha256_hex_async(data: bytes | bytearray | memoryview) -> str:
    if len(data) < THREAD_THRESHOLD:
        return sha256_hex(data)
    return await asyncio.to_thread(sha256_hex, data)
