"""``GET /status``'s numbers: the store's totals (on SQLite) and the verdict built on them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from filefleet.controller.collecting_mark import mark_collecting
from filefleet.core.health import StoreTotals, cluster_status, replicated_share, verdict
from filefleet.core.models import NodeStatus
from filefleet.store.sql import SqlStore, open_store
from tests.contract.test_store import Clock, active_file, chunk_id, node_id, ping


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def store(tmp_path: Path, clock: Clock) -> AsyncIterator[SqlStore]:
    opened = await open_store(f"sqlite:///{tmp_path / 'meta.db'}", clock=clock)
    yield opened
    await opened.close()


async def test_totals_count_files_chunks_replicas_and_what_is_below_r(
    store: SqlStore, clock: Clock
) -> None:
    await active_file(store, clock, 0, [1, 2, 3])
    gone = await active_file(store, clock, 1, [4])
    await store.mark_deleting(gone.id)
    for n in (1, 2):
        await ping(store, n)
    for chunk, holders in ((1, [1, 2]), (2, [1]), (4, [1, 2])):
        for n in holders:
            await store.add_location(chunk_id(chunk), node_id(n))
    await mark_collecting(store, chunk_id(4), grace=0)

    totals = await store.totals(replicas=2, live_ttl=10)
    assert totals.files["active"].files == 1 and totals.files["active"].bytes == 30
    assert totals.files["deleting"].files == 1 and totals.files["uploading"].files == 0
    assert totals.chunks == 4 and totals.replica_bytes == 10 * 5
    assert totals.live_chunks == 3 and totals.below == 2  # chunk 2 (one copy), 3 (none)
    assert (totals.collecting_chunks, totals.collecting_bytes) == (1, 20)
    assert totals.below == len(await store.chunks_below(2, 10, 100))

    clock.advance(30)  # both nodes silent: no replica counts
    assert (await store.totals(replicas=2, live_ttl=10)).below == 3


def node(active: bool) -> NodeStatus:
    now = datetime.now(UTC)
    return NodeStatus(id="n" * 32, url="http://n", last_ping=now, capacity=9, free=5, chunks=1,
                      active=active)  # fmt: skip


def totals(live: int, below: int) -> StoreTotals:
    return StoreTotals(files={}, chunks=live, replica_bytes=0, live_chunks=live, below=below,
                       collecting_chunks=0, collecting_bytes=0)  # fmt: skip


def test_the_verdict_line() -> None:
    assert replicated_share(totals(0, 0)) == 1.0
    assert verdict(totals(4, 1), [node(True), node(False)], 2) == (
        "degraded: 75.0% of 4 chunks at full replication; 1 below R; 1/2 nodes active; "
        "2 dead letters"
    )
    status = cluster_status(2, [node(True)], [], totals(4, 0))
    assert status.healthy and status.verdict.startswith("healthy: 100.0% of 4 chunks")
    assert status.verdict.endswith(
        "dead letters: not read (controller without --queue; see `filefleet status`)"
    )
