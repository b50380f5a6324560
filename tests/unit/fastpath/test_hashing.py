"""ArrivingDigest: the SHA-256 of a buffer filled piece by piece, hashed while it fills."""

from __future__ import annotations

import hashlib
import os
import time

import pytest

from filefleet.fastpath.hashing import ArrivingDigest


@pytest.mark.parametrize("pieces", [[1], [7, 3, 100], [4096] * 9, [300_000, 1, 2_000_000, 5]])
async def test_digest_equals_sha256_of_the_bytes_whatever_the_pieces(pieces: list[int]) -> None:
    data = os.urandom(sum(pieces))
    buffer = bytearray(len(data) + 10)
    digest = ArrivingDigest(memoryview(buffer), block=4096)
    filled = 0
    for n in pieces:
        buffer[filled : filled + n] = data[filled : filled + n]
        filled += n
        digest.arrived(filled)
    assert await digest.hexdigest(filled) == hashlib.sha256(data).hexdigest()


async def test_nothing_arrived_is_the_empty_digest() -> None:
    digest = ArrivingDigest(memoryview(bytearray(16)))
    assert await digest.hexdigest(0) == hashlib.sha256(b"").hexdigest()


async def test_settle_waits_for_blocks_handed_over() -> None:
    buffer = bytearray(os.urandom(64 * 1024))
    digest = ArrivingDigest(memoryview(buffer), block=1024)
    digest.arrived(len(buffer))
    await digest.settle()  # afterwards no thread reads the buffer: it may be reused
    assert await digest.hexdigest(len(buffer)) == hashlib.sha256(buffer).hexdigest()


async def test_the_thread_hashes_block_after_block_while_the_loop_is_busy() -> None:
    """Blocks that arrived are hashed without the event loop's help: a loop busy sending
    another chunk does not stall the hash."""
    buffer = bytearray(os.urandom(64 * 1024))
    digest = ArrivingDigest(memoryview(buffer), block=4096)
    digest.arrived(len(buffer))
    deadline = time.monotonic() + 10
    while digest.hashed < len(buffer) and time.monotonic() < deadline:
        time.sleep(0.001)  # noqa: ASYNC251 (the loop is blocked here on purpose)
    assert digest.hashed == len(buffer)
    assert await digest.hexdigest(len(buffer)) == hashlib.sha256(buffer).hexdigest()


async def test_less_than_a_block_waits_for_the_end() -> None:
    buffer = bytearray(os.urandom(10_000))
    digest = ArrivingDigest(memoryview(buffer), block=4096 * 4)
    digest.arrived(len(buffer))
    assert digest.hashed == 0  # not worth a thread yet
    assert await digest.hexdigest(len(buffer)) == hashlib.sha256(buffer).hexdigest()
    assert digest.hashed == len(buffer)
