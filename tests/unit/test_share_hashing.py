"""`filefleet share` reading and hashing a file: the hashes, and how far ahead of the
sending the hashing may run."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

import pytest

from filefleet.cli import share


async def test_hashing_stays_a_bounded_number_of_chunks_ahead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(share, "WINDOW", 2)
    content = os.urandom(10 * 100 + 7)  # 11 chunks of 100 bytes, the last one 7
    path = tmp_path / "f"
    path.write_bytes(content)
    ahead = asyncio.Semaphore(4)
    handed: list[share.Chunk] = []
    with path.open("rb", buffering=0) as f:
        hashing = asyncio.create_task(share.hash_chunks(f, 100, handed.extend, ahead))
        # 4 chunks may be read before any is done with: two windows are handed on, and
        # the hashing waits for a chunk to be sent or claimed
        async with asyncio.timeout(5):
            while len(handed) < 4:
                await asyncio.sleep(0.01)
        assert ahead.locked() and not hashing.done()
        assert [c.index for c in handed] == [0, 1, 2, 3]
        for _ in range(8):  # the 7 chunks left, and the read that finds the end of the file
            ahead.release()
        await asyncio.wait_for(hashing, 5)
    assert [c.index for c in handed] == list(range(11))
    assert [c.length for c in handed] == [100] * 10 + [7]
    for chunk in handed:
        start = chunk.index * 100
        assert chunk.sha256 == hashlib.sha256(content[start : start + chunk.length]).hexdigest()
