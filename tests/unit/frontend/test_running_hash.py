import hashlib
import os

import pytest

from filefleet.frontend.running_hash import RunningHash

CHUNKS = [os.urandom(1000 + i) for i in range(8)]


def whole(upto: int) -> str:
    return hashlib.sha256(b"".join(CHUNKS[:upto])).hexdigest()


async def fold(order: list[int], max_held: int = 4) -> tuple[int, str]:
    running = RunningHash(max_held=max_held)
    for index in order:
        await running.add(index, CHUNKS[index])
    folded, digest = running.prefix()
    running.discard()
    return folded, digest.hexdigest()


async def test_in_order() -> None:
    assert await fold(list(range(8))) == (8, whole(8))


async def test_early_chunks_are_held_until_their_predecessors_come() -> None:
    assert await fold([1, 0, 3, 2, 6, 5, 4, 7]) == (8, whole(8))


async def test_duplicates_fold_once() -> None:
    assert await fold([0, 0, 1, 1, 0, 2]) == (3, whole(3))


async def test_a_chunk_that_cannot_be_held_stops_the_prefix() -> None:
    # With room for one early chunk, 3 is dropped: the prefix stops before it.
    assert await fold([1, 3, 0, 2, 4], max_held=1) == (3, whole(3))


async def test_the_held_budget_is_shared_and_given_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RunningHash, "HELD_BUDGET", 2500)
    monkeypatch.setattr(RunningHash, "_held_total", 0)
    first, second = RunningHash(), RunningHash()
    await first.add(1, CHUNKS[1])  # held: 1001 bytes
    await second.add(1, CHUNKS[1])  # held: 2002 bytes
    await second.add(2, CHUNKS[2])  # over the budget: not held
    assert RunningHash._held_total == 2002
    first.discard()
    await second.add(0, CHUNKS[0])
    assert second.prefix()[0] == 2 and RunningHash._held_total == 0
