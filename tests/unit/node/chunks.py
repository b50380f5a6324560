"""Chunks for the node's tests: their ids, a store filled with some, and rot."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from filefleet.node.chunkstore import ChunkStore


def cid(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def flip_byte(path: Path, offset: int) -> None:
    """Rot one byte of a file in place, as a failing disk would."""
    with open(path, "r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([byte[0] ^ 0xFF]))


async def fill(store: ChunkStore, count: int, size: int = 1000) -> list[str]:
    """``count`` chunks of random bytes stored; their ids in order."""
    stored = []
    for _ in range(count):
        data = os.urandom(size)
        await store.put(cid(data), data)
        stored.append(cid(data))
    return sorted(stored)
