"""The scrubber, one pass at a time: bounded per pass, walking the store in id order.
(What it does with a corrupt chunk: test_quarantine.py.)"""

from __future__ import annotations

from filefleet.node.chunkstore import ChunkStore
from filefleet.node.scrub import Scrubber, scrub_all
from tests.unit.node.chunks import fill


async def test_scrub_is_bounded_per_pass_and_walks_in_id_order(store: ChunkStore) -> None:
    chunks = await fill(store, 6, size=300 * 1024)
    scrubber = Scrubber(store, None, rate_mib=0.5)  # 512 KiB per pass: two chunks
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


async def test_scrub_disabled_at_rate_zero(store: ChunkStore) -> None:
    await fill(store, 2)
    scrubber = Scrubber(store, None, rate_mib=0)
    assert not scrubber.enabled
    assert (await scrubber.run_once())["scanned"] == 0


async def test_scrub_all_finds_nothing_on_a_healthy_store(store: ChunkStore) -> None:
    await fill(store, 4)
    scrubber = await scrub_all(store)
    assert (scrubber.scanned, scrubber.corrupt) == (4, 0)
