"""`filefleet share` reading and hashing a file: the hashes, how far ahead of the
sending the hashing may run, and the order chunks go out in."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

import pytest

from filefleet.cli import share
from filefleet.cli.transfer import progress_bar


async def test_hashing_stays_a_bounded_number_of_chunks_ahead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(share, "WINDOW", 2)
    content = os.urandom(10 * 100 + 7)  # 11 chunks of 100 bytes, the last one 7
    path = tmp_path / "f"
    path.write_bytes(content)
    ahead = asyncio.Semaphore(4)
    handed: list[share.Chunk] = []
    windows: list[int] = []

    def hand_on(window: list[share.Chunk]) -> None:
        windows.append(len(window))
        handed.extend(window)

    with path.open("rb", buffering=0) as f:
        hashing = asyncio.create_task(share.hash_chunks(f, 100, hand_on, ahead))
        # 4 chunks may be read before any is done with: windows of 1 and 2 are handed on
        # (the first windows are small), and the hashing waits for a chunk to be sent or
        # claimed before it reads a fifth to complete the next window
        async with asyncio.timeout(5):
            while len(handed) < 3 or not ahead.locked():
                await asyncio.sleep(0.01)
        assert not hashing.done()
        assert [c.index for c in handed] == [0, 1, 2]
        for _ in range(8):  # the 7 chunks left, and the read that finds the end of the file
            ahead.release()
        await asyncio.wait_for(hashing, 5)
    assert [c.index for c in handed] == list(range(11))
    assert windows == [1, 2, 2, 2, 2, 2]
    assert [c.length for c in handed] == [100] * 10 + [7]
    for chunk in handed:
        start = chunk.index * 100
        assert chunk.sha256 == hashlib.sha256(content[start : start + chunk.length]).hexdigest()


class _OutOfOrderServer:
    """Stands where ``Share`` talks to a frontend: the claim of the window starting at
    chunk 1 is answered last (nothing is ever claimed), and chunk PUTs are recorded in the
    order they go out."""

    server = "http://frontend.invalid"

    def __init__(self) -> None:
        self.progress = progress_bar(False)
        self.http = self
        self.sent: list[int] = []

    async def claim(self, upload_id: str, wanted: list[tuple[int, str]]) -> set[int]:
        if wanted and wanted[0][0] == 1:
            await asyncio.sleep(0.2)
        return set()

    async def request(self, method: str, server: str, path: str, **_: object) -> None:
        self.sent.append(int(path.rsplit("/", 1)[1]))


async def test_chunks_go_out_in_order_when_claims_come_back_out_of_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The frontend folds chunks into the whole-file hash in order and gives up on one
    too far ahead of its predecessors, so a later window must not be sent first."""
    monkeypatch.setattr(share, "WINDOW", 4)
    path = tmp_path / "f"
    path.write_bytes(os.urandom(10 * 100))
    server = _OutOfOrderServer()
    status = {"id": "u", "chunk_size": 100, "size": 1000, "chunk_count": 10,
              "missing": list(range(10))}  # fmt: skip
    upload = share._FileUpload(server, path, status)  # type: ignore[arg-type]
    await asyncio.wait_for(upload.send_chunks(), 10)
    assert server.sent == list(range(10))
    assert upload.counters.sent_chunks == 10 and upload.counters.sent_bytes == 1000
