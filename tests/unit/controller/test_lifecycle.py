"""Draining and forgetting nodes: the rules (``core/lifecycle.py``) and the controller's
steps (``controller/lifecycle.py``) over a real SQLite store, without a server."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from filefleet.controller import lifecycle as controller_lifecycle
from filefleet.controller.file_states import update_file
from filefleet.controller.lifecycle import Lifecycle
from filefleet.core.errors import Conflict, InvalidInput, NotFound
from filefleet.core.lifecycle import check_drain, check_forget, find_node, node_state
from filefleet.core.models import (
    ChunkRef,
    DrainRequest,
    FileCreate,
    FileUpdate,
    NodeStatus,
    PingRequest,
)
from filefleet.queue.events import ReplicateEvent
from filefleet.store.sql import SqlStore, open_store

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def status(
    n: int, *, active: bool = True, draining: bool = False, name: str | None = None
) -> NodeStatus:
    seen = NOW - timedelta(seconds=3)
    return NodeStatus(id=f"{n:032x}", url=f"http://n{n}", last_ping=seen, capacity=1, free=1,
                      chunks=0, name=name, draining=draining, active=active)  # fmt: skip


def test_states_of_a_node() -> None:
    assert node_state(status(1)) == "active"
    assert node_state(status(1, draining=True)) == "draining"
    assert node_state(status(1, draining=True), waiting=3) == "draining"
    assert node_state(status(1, draining=True), waiting=0) == "drained"
    assert node_state(status(1, active=False, draining=True), waiting=0) == "dead"


def test_a_drain_that_could_never_finish_is_refused_unless_forced() -> None:
    nodes = [status(1), status(2), status(3, active=False), status(4, draining=True)]
    with pytest.raises(Conflict, match="leave 1 active serving node"):
        check_drain(nodes[0], nodes, replicas=2, force=False)
    check_drain(nodes[0], nodes, replicas=2, force=True)
    check_drain(nodes[0], nodes, replicas=1, force=False)


def test_forgetting_an_active_node_needs_force() -> None:
    with pytest.raises(Conflict, match=r"node-1 is active \(last ping 3.0s ago\)"):
        check_forget(status(1, name="node-1"), NOW, force=False)
    check_forget(status(1), NOW, force=True)
    check_forget(status(1, active=False), NOW, force=False)


def test_a_node_is_found_by_id_or_by_a_name_only_one_node_has() -> None:
    nodes = [status(1, name="a"), status(2, name="b"), status(3, name="b")]
    assert find_node(nodes, f"{2:032x}").id == f"{2:032x}"
    assert find_node(nodes, "a").id == f"{1:032x}"
    with pytest.raises(InvalidInput, match="2 nodes are named 'b'"):
        find_node(nodes, "b")
    with pytest.raises(NotFound, match="known nodes"):
        find_node(nodes, "c")


# --- the controller's steps, over a real store ---


class Announced:
    """The queue's publish, as the lifecycle uses it: which chunks were announced."""

    def __init__(self) -> None:
        self.pages: list[list[str]] = []

    async def publish(self, events: Sequence[ReplicateEvent]) -> None:
        self.pages.append([e.chunk for e in events])


def chunk(n: int) -> str:
    return hashlib.sha256(f"c{n}".encode()).hexdigest()


def node_id(n: int) -> str:
    return f"{n:032x}"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlStore]:
    opened = await open_store(f"sqlite:///{tmp_path}/meta.db")
    try:
        yield opened
    finally:
        await opened.close()


async def fleet(store: SqlStore, chunks: int, holders: Sequence[int]) -> None:
    """Nodes 1-3 pinging, one active file of ``chunks`` chunks, each on ``holders``."""
    for n in (1, 2, 3):
        await store.ping(PingRequest(id=node_id(n), url=f"http://n{n}", capacity=10**6,
                                     free=10**6, chunks=0, name=f"node-{n}"))  # fmt: skip
    record = FileCreate(id="f" * 24, name="x", expires_at=datetime.now(UTC) + timedelta(days=1),
                        delete_token_sha256="ab" * 32)  # fmt: skip
    await store.create_file(record)
    refs = [ChunkRef(id=chunk(i), order=i, size=1, locations=[node_id(h) for h in holders])
            for i in range(chunks)]  # fmt: skip
    await update_file(store, record.id, FileUpdate(chunks=refs))


async def test_drain_announces_the_nodes_chunks_and_reports_what_waits(store: SqlStore) -> None:
    await fleet(store, 3, holders=[1, 2])
    announced = Announced()
    steps = Lifecycle(store, replicas=2, node_ttl=10, queue=announced)  # type: ignore[arg-type]
    report = await steps.drain(node_id(1), DrainRequest())
    assert (report.draining, report.listed, report.waiting) == (True, 3, 3)
    await asyncio.gather(*steps._announcing)  # the announcement runs in the background
    assert sorted(c for page in announced.pages for c in page) == sorted(map(chunk, range(3)))
    await steps.close()
    for i in range(3):
        await store.add_location(chunk(i), node_id(3))  # what repair does
    assert (await steps.report(node_id(1))).waiting == 0
    back = await steps.drain(node_id(1), DrainRequest(draining=False))
    assert not back.draining


async def test_the_announcement_pages_through_every_chunk_of_the_node(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(controller_lifecycle, "PAGE", 2)
    await fleet(store, 5, holders=[1])
    announced = Announced()
    steps = Lifecycle(store, replicas=1, node_ttl=10, queue=announced)  # type: ignore[arg-type]
    await steps._announce_node(node_id(1))
    assert [len(p) for p in announced.pages] == [2, 2, 1]
    assert sorted(c for p in announced.pages for c in p) == sorted(map(chunk, range(5)))


async def test_forget_drops_locations_in_pages_and_counts_chunks_left_with_none(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(controller_lifecycle, "PAGE", 2)
    await fleet(store, 3, holders=[1])
    await store.add_location(chunk(0), node_id(2))
    announced = Announced()
    steps = Lifecycle(store, replicas=2, node_ttl=10, queue=announced)  # type: ignore[arg-type]
    with pytest.raises(Conflict, match="node-1 is active"):
        await steps.forget(node_id(1), force=False)
    gone = await steps.forget(node_id(1), force=True)
    assert (gone.locations, gone.unlocated) == (3, 2)  # chunks 1 and 2 had no other replica
    assert [len(p) for p in announced.pages] == [2, 1]
    assert node_id(1) not in {n.id for n in await store.all_nodes(10)}
    with pytest.raises(NotFound):
        await steps.forget(node_id(1), force=True)


async def test_without_a_queue_nothing_is_announced_and_all_else_works(store: SqlStore) -> None:
    await fleet(store, 2, holders=[1, 2])
    steps = Lifecycle(store, replicas=2, node_ttl=10, queue=None)
    assert (await steps.drain(node_id(2), DrainRequest())).waiting == 2
    gone = await steps.forget(node_id(2), force=True)
    assert (gone.locations, gone.unlocated) == (2, 0)
