"""Quarantine: a corrupt chunk moved aside, listed, and reported to the controller (a
fake one that records what it is told), whoever found it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from filefleet.core.errors import NotFound
from filefleet.http.controller_api import ControllerClient
from filefleet.node import quarantine
from filefleet.node.chunkstore import ChunkStore
from filefleet.node.quarantine import Quarantine
from filefleet.node.scrub import Scrubber
from tests.unit.node.chunks import cid, fill, flip_byte
from tests.unit.node.conftest import FakeController


def test_move_aside_takes_the_first_free_name_and_lists_it(tmp_path: Path) -> None:
    aside = tmp_path / "quarantine"
    aside.mkdir()
    chunk = tmp_path / "chunk"
    for expected in ("c0ffee", "c0ffee.1", "c0ffee.2"):
        chunk.write_bytes(b"rotten")
        assert quarantine.move_aside(chunk, aside, "c0ffee", None) == (aside / expected, 6)
        assert not chunk.exists()
    assert quarantine.quarantined(aside) == ["c0ffee", "c0ffee.1", "c0ffee.2"]


def test_move_aside_leaves_a_replaced_or_missing_file(tmp_path: Path) -> None:
    aside = tmp_path / "quarantine"
    aside.mkdir()
    chunk = tmp_path / "chunk"
    chunk.write_bytes(b"verified again")
    assert quarantine.move_aside(chunk, aside, "c0ffee", os.stat(chunk).st_ino + 1) is None
    assert chunk.exists() and quarantine.quarantined(aside) == []
    assert quarantine.move_aside(tmp_path / "absent", aside, "c0ffee", None) is None


async def test_isolate_moves_aside_then_reports(
    store: ChunkStore, controller: tuple[FakeController, ControllerClient]
) -> None:
    fake, client = controller
    [bad] = await fill(store, 1)
    flip_byte(store.path(bad), 0)
    found = await store.verify(bad)
    isolating = Quarantine(store, client)
    assert await isolating.isolate(bad, found.inode)
    assert quarantine.quarantined(store.quarantine_dir) == [bad]
    assert fake.calls == [("DELETE", f"/chunk/{bad}/locations/{store.node_id}", None)]
    assert (isolating.corrupt, isolating.reported, isolating.unreported) == (1, 1, set())
    with pytest.raises(NotFound):
        await store.stat(bad)
    assert not await isolating.isolate(bad, found.inode)  # already gone: nothing to do
    assert isolating.corrupt == 1 and len(fake.calls) == 1


async def test_without_a_controller_the_report_waits(store: ChunkStore) -> None:
    [bad] = await fill(store, 1)
    flip_byte(store.path(bad), 0)
    isolating = Quarantine(store, None)
    assert await isolating.isolate(bad, (await store.verify(bad)).inode)
    assert isolating.unreported == {bad} and await isolating.report_pending() == 0


async def test_scrub_quarantines_and_reports_a_corrupt_chunk(
    store: ChunkStore, controller: tuple[FakeController, ControllerClient]
) -> None:
    fake, client = controller
    chunks = await fill(store, 5)
    bad = chunks[2]
    flip_byte(store.path(bad), 10)
    scrubber = Scrubber(store, client, rate_mib=100)
    counts = await scrubber.run_once()
    assert counts == {"scanned": 5, "corrupt": 1, "reported": 0}
    assert (scrubber.scanned, scrubber.corrupt, scrubber.reported) == (5, 1, 1)
    assert not store.path(bad).exists()
    assert (store.quarantine_dir / bad).exists()
    assert ("DELETE", f"/chunk/{bad}/locations/{store.node_id}", None) in fake.calls
    assert store.usage().chunks == 4 and store.usage().quarantined == 1
    page, _ = await store.list()
    assert bad not in page


@pytest.mark.parametrize("status", [503, 404])
async def test_a_failed_report_is_tried_again_and_an_unknown_chunk_counts_as_reported(
    store: ChunkStore, controller: tuple[FakeController, ControllerClient], status: int
) -> None:
    """503: the controller is down, the report waits for the next pass; 404: it does not
    list the chunk here (or at all), which is what the report was to achieve."""
    fake, client = controller
    [bad] = await fill(store, 1)
    flip_byte(store.path(bad), 0)
    fake.status = status
    scrubber = Scrubber(store, client, rate_mib=100)
    await scrubber.run_once()
    assert scrubber.corrupt == 1
    if status == 503:
        assert scrubber.unreported == {bad} and scrubber.reported == 0
        fake.status = 200
        assert (await scrubber.run_once())["reported"] == 1
    assert scrubber.unreported == set() and scrubber.stats().reported == 1


async def test_quarantine_moves_and_suffixes(store: ChunkStore) -> None:
    data = b"rotten"
    await store.put(cid(data), data)
    first = await store.quarantine(cid(data))
    assert first == store.quarantine_dir / cid(data)
    await store.put(cid(data), data)
    second = await store.quarantine(cid(data))
    assert second == store.quarantine_dir / f"{cid(data)}.1"
    assert await store.quarantine(cid(data)) is None
    assert store.usage().quarantined == 2 and store.usage().chunks == 0
    with pytest.raises(NotFound):
        await store.stat(cid(data))


async def test_quarantine_skips_a_replaced_chunk(store: ChunkStore) -> None:
    data = b"replaced"
    await store.put(cid(data), data)
    st = await store.stat(cid(data))
    assert await store.quarantine(cid(data), inode=st.st_ino + 1) is None
    assert store.path(cid(data)).exists()
