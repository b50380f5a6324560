import asyncio
import hashlib
import os
import time

from filefleet.fastpath.running_hash import RunningHash

CHUNKS = [os.urandom(1000 + i) for i in range(8)]


def whole(upto: int) -> str:
    return hashlib.sha256(b"".join(CHUNKS[:upto])).hexdigest()


async def fold(order: list[int], ahead: int = 8, wait: float = 5.0) -> tuple[int, str]:
    """The chunks arrive at once, as concurrent requests, in ``order``."""
    running = RunningHash(ahead=ahead, wait=wait)
    await asyncio.gather(*(running.add(index, CHUNKS[index]) for index in order))
    folded, digest = running.prefix()
    return folded, digest.hexdigest()


async def test_in_order() -> None:
    assert await fold(list(range(8))) == (8, whole(8))


async def test_early_chunks_wait_for_their_predecessors() -> None:
    assert await fold([1, 0, 3, 2, 6, 5, 4, 7]) == (8, whole(8))


async def test_duplicates_fold_once() -> None:
    assert await fold([0, 0, 1, 1, 0, 2, 2]) == (3, whole(3))


async def test_a_chunk_too_far_ahead_does_not_wait_and_stops_the_prefix() -> None:
    # With 2 allowed ahead, chunk 3 arrives 3 ahead of the prefix: it is not folded.
    assert await fold([3, 1, 2, 0, 4], ahead=3) == (3, whole(3))


async def test_a_missing_predecessor_is_waited_for_only_so_long() -> None:
    running = RunningHash(wait=0.2)
    start = time.monotonic()
    await running.add(1, CHUNKS[1])  # chunk 0 never comes
    assert time.monotonic() - start < 2
    await running.add(0, CHUNKS[0])
    await running.add(2, CHUNKS[2])  # 1 was given up: the prefix stops at 1
    folded, digest = running.prefix()
    assert (folded, digest.hexdigest()) == (1, whole(1))


async def test_a_claimed_chunk_ends_the_fold_and_nothing_waits_for_it() -> None:
    running = RunningHash(wait=30)
    await running.add(0, CHUNKS[0])
    waiting = asyncio.create_task(running.add(3, CHUNKS[3]))  # waits for chunks 1 and 2
    await running.absent(2)  # claimed: its bytes never come here
    await asyncio.wait_for(waiting, 1)  # gave up at once, not after 30 s
    await asyncio.wait_for(running.add(4, CHUNKS[4]), 1)
    await running.add(1, CHUNKS[1])  # before the claimed chunk: still folded
    folded, digest = running.prefix()
    assert (folded, digest.hexdigest()) == (2, whole(2))
