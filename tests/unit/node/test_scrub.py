"""The scrubber, one pass at a time: bounded per pass, walking the store in id order.
(What it does with a corrupt chunk: test_quarantine.py.)"""

from __future__ import annotations

from filefleet.node.chunkstore import ChunkStore
from filefleet.node.scrub import Scrubber, scrub_all
from tests.unit.node.chunks import fill


async def test_scrub_is_bounded_per_pass_and_walks_in_id_order(store: ChunkStore) -> None:
    chunks = await fill(store, 6, size=300 * 1024)
    # 1.5 MiB per pass; a chunk costs 300 KiB + PER_CHUNK (512 KiB): two chunks
    scrubber = Scrubber(store, None, rate_mib=1.5)
    seen = []
    for _ in range(3):
        counts = await scrubber.run_once()
        assert counts["scanned"] == 2
        seen.append(scrubber._cursor)
    assert seen == [chunks[1], chunks[3], chunks[5]]
    assert scrubber.interval >= 1.0  # paced to the rate
    assert (await scrubber.run_once())["scanned"] == 0  # end of the walk
    assert scrubber.walks == 1
    assert (await scrubber.run_once())["scanned"] == 2  # starts over


async def test_small_chunks_cost_the_scrub_more_than_their_bytes(store: ChunkStore) -> None:
    """Each re-hash of a file costs its open and read whatever its size: 1 kB chunks are
    taken about as few a second as 512 KiB ones, not 8,000 a second at 8 MiB/s."""
    await fill(store, 40, size=1000)
    scrubber = Scrubber(store, None, rate_mib=8)
    counts = await scrubber.run_once()
    assert counts["scanned"] == 16, counts  # 8 MiB / (1000 B + 512 KiB), rounded up
    assert 1.0 <= scrubber.interval < 1.01  # and the next pass waits for it


async def test_scrub_disabled_at_rate_zero(store: ChunkStore) -> None:
    await fill(store, 2)
    scrubber = Scrubber(store, None, rate_mib=0)
    assert not scrubber.enabled
    assert (await scrubber.run_once())["scanned"] == 0


async def test_scrub_all_finds_nothing_on_a_healthy_store(store: ChunkStore) -> None:
    await fill(store, 4)
    scrubber = await scrub_all(store)
    assert (scrubber.scanned, scrubber.corrupt) == (4, 0)
