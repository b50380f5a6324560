"""ArrivingDigest: the SHA-256 of a buffer filled piece by piece, hashed while it fills."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time

import pytest

from filefleet.fastpath.hashing import ArrivingDigest, InOrderDigest


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


# -- InOrderDigest: whole buffers in order, hashed by a worker thread ------------------------


async def test_in_order_digest_is_the_sha256_of_the_buffers_in_the_order_given() -> None:
    buffers = [os.urandom(n) for n in (1, 300_000, 4096, 2_000_000, 7)]
    done: list[int] = []
    digest = InOrderDigest()
    for index, data in enumerate(buffers):
        digest.add(memoryview(data), lambda i=index: done.append(i))  # type: ignore[misc]
    assert await digest.hexdigest() == hashlib.sha256(b"".join(buffers)).hexdigest()
    await asyncio.sleep(0)  # the last call_soon_threadsafe has run by the next loop turn
    assert done == [0, 1, 2, 3, 4]  # each told, in order, after the thread hashed it


async def test_in_order_digest_of_nothing_is_the_empty_digest() -> None:
    assert await InOrderDigest().hexdigest() == hashlib.sha256(b"").hexdigest()


async def test_a_buffer_is_reported_done_only_after_it_was_hashed() -> None:
    """What a pooled chunk's release relies on: once ``done`` ran, the buffer may be
    overwritten without changing the digest."""
    buffer = bytearray(os.urandom(1024 * 1024))
    expected = hashlib.sha256(bytes(buffer)).hexdigest()
    released = asyncio.Event()

    def done() -> None:
        buffer[:] = bytes(len(buffer))  # reused at once, as the pool would
        released.set()

    digest = InOrderDigest()
    digest.add(memoryview(buffer), done)
    await asyncio.wait_for(released.wait(), 10)
    assert await digest.hexdigest() == expected


async def test_adds_after_a_pause_start_the_thread_again() -> None:
    digest = InOrderDigest()
    first, second = os.urandom(100_000), os.urandom(100_000)
    digest.add(memoryview(first), lambda: None)
    await digest.settle()
    digest.add(memoryview(second), lambda: None)
    assert await digest.hexdigest() == hashlib.sha256(first + second).hexdigest()


async def test_a_buffer_that_cannot_be_hashed_fails_the_digest_for_good() -> None:
    """A gap in the stream must not give a digest: the failure is raised and later buffers
    are not hashed, but every ``done`` still runs: the pool gets its buffers back, so the
    upload does not wait for a buffer that never comes."""
    broken = memoryview(b"abc")
    broken.release()  # hashlib refuses a released view
    done: list[str] = []
    digest = InOrderDigest()
    digest.add(broken, lambda: done.append("broken"))
    with pytest.raises(ValueError):
        await digest.hexdigest()
    digest.add(memoryview(b"more"), lambda: done.append("more"))
    with pytest.raises(ValueError):
        await digest.hexdigest()
    await asyncio.sleep(0)  # "more" is handed back on the next turn of the loop
    assert done == ["broken", "more"]
