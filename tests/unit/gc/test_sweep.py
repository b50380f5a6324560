"""The GC's steps against an in-memory controller and nodes: what each outcome does, and
the order of writes (mark, re-check, node delete, location; file record, chunk records)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from filefleet.core.errors import Conflict, NotFound, Unavailable
from filefleet.core.models import ChunkInfo, ChunkRef, FileInfo
from filefleet.gc.collecting import collect_chunk, delete_replica
from filefleet.gc.fleet import Fleet, GCCounts
from filefleet.gc.sweep import collect_file, sweep_chunk, sweep_node
from filefleet.http.controller_api import ControllerClient
from filefleet.http.node_api import NodeClient

C1, C2 = "1" * 64, "2" * 64
N1, N2 = "a" * 32, "b" * 32
GRACE = 2.0


@dataclass
class FakeController:
    locations: dict[str, list[str]] = field(default_factory=dict)
    live: set[str] = field(default_factory=set)  # chunks a live file references
    marked: set[str] = field(default_factory=set)
    references: dict[str, int] = field(default_factory=dict)
    claim_on_check: set[str] = field(default_factory=set)  # an append clears the mark
    calls: list[tuple[str, str]] = field(default_factory=list)

    async def mark_collecting(self, chunk_id: str, grace: float) -> bool:
        self.calls.append(("mark", chunk_id))
        if chunk_id not in self.locations:
            raise NotFound(chunk_id)
        if chunk_id in self.live:
            return False
        self.marked.add(chunk_id)
        return True

    async def get_chunk(self, chunk_id: str, repair_after: float = 0.0) -> ChunkInfo:
        if chunk_id not in self.locations:
            raise NotFound(chunk_id)
        if chunk_id in self.claim_on_check:
            self.marked.discard(chunk_id)
        return ChunkInfo(
            id=chunk_id,
            size=10,
            locations=list(self.locations[chunk_id]),
            live=0,
            references=self.references.get(chunk_id, 0),
            collecting=chunk_id in self.marked,
        )

    async def lookup_chunks(self, chunk_ids: list[str]) -> list[ChunkInfo]:
        self.calls.append(("lookup", ",".join(chunk_ids)))
        return [await self.get_chunk(c) for c in chunk_ids if c in self.locations]

    async def listed_on_node(self, node_id: str, after: str | None, until: str | None) -> list[str]:
        self.calls.append(("listed", f"{node_id}:{after}..{until}"))
        return sorted(
            chunk for chunk, nodes in self.locations.items()
            if node_id in nodes and (after is None or chunk > after)
            and (until is None or chunk <= until)
        )  # fmt: skip

    async def remove_location(
        self, chunk_id: str, node_id: str, *, reclaimed: bool = False
    ) -> None:
        self.calls.append(("remove_location", f"{chunk_id}@{node_id}"))
        self.locations[chunk_id].remove(node_id)

    async def mark_deleting(self, file_id: str) -> FileInfo:
        self.calls.append(("mark_deleting", file_id))
        return file_info(file_id, "deleting")

    async def delete_file(self, file_id: str) -> bool:
        self.calls.append(("delete_file", file_id))
        return True

    async def delete_chunk(self, chunk_id: str) -> bool:
        self.calls.append(("delete_chunk", chunk_id))
        return True


@dataclass
class FakeNodes:
    refuse: set[str] = field(default_factory=set)  # node urls answering 409
    down: set[str] = field(default_factory=set)
    deletes: list[tuple[str, str, float]] = field(default_factory=list)
    held: list[str] = field(default_factory=list)  # chunk ids every node lists
    page: int = 2
    stored_since: set[str] = field(default_factory=set)  # held, but after the listing

    async def has_chunk(self, url: str, chunk_id: str) -> bool:
        if url in self.down:
            raise Unavailable(url)
        return chunk_id in self.held or chunk_id in self.stored_since

    async def list_chunks(self, url: str, after: str | None = None, limit: int = 1000) -> Any:
        rest = [c for c in self.held if after is None or c > after]
        chunks = rest[: self.page]
        return {"chunks": chunks, "next": chunks[-1] if len(rest) > self.page else None}

    async def delete_chunk(self, url: str, chunk_id: str, grace: float) -> bool:
        if url in self.down:
            raise Unavailable(url)
        if url in self.refuse:
            raise Conflict("touched within the grace")
        self.deletes.append((url, chunk_id, grace))
        return True


def file_info(file_id: str = "F" * 24, state: str = "active") -> FileInfo:
    now = datetime.now(UTC)
    return FileInfo(
        id=file_id,
        name="f",
        size=20,
        sha256="c" * 64,
        content_type="application/octet-stream",
        uploaded_at=now,
        expires_at=now,
        state=state,
        max_downloads=None,
        downloads=0,
        chunks=[ChunkRef(id=C1, order=0, size=10), ChunkRef(id=C2, order=1, size=10)],
    )


def fleet(controller: FakeController, nodes: FakeNodes, active: set[str]) -> Fleet:
    f = Fleet(cast(ControllerClient, controller), cast(NodeClient, nodes), GRACE)
    f.urls = {N1: "http://n1", N2: "http://n2"}
    f.active = active
    return f


async def test_a_chunk_a_live_file_uses_is_never_deleted() -> None:
    controller = FakeController(locations={C1: [N1]}, live={C1})
    nodes = FakeNodes()
    assert await collect_chunk(fleet(controller, nodes, {N1}), C1, GCCounts()) == (True, 0)
    assert nodes.deletes == []


async def test_deletes_on_active_nodes_leave_inactive_replicas_pending() -> None:
    controller = FakeController(locations={C1: [N1, N2]})
    nodes = FakeNodes()
    counts = GCCounts()
    assert await collect_chunk(fleet(controller, nodes, {N1}), C1, counts) == (True, 1)
    assert nodes.deletes == [("http://n1", C1, GRACE)]  # the node judges age by the grace
    assert controller.locations[C1] == [N2]
    assert (counts.chunks_deleted, counts.deletes_pending) == (1, 1)
    assert counts.freed_bytes == 10  # the replica deleted, by its chunk's recorded size


async def test_the_mark_is_rechecked_before_each_node_delete() -> None:
    controller = FakeController(locations={C1: [N1]}, claim_on_check={C1})
    nodes = FakeNodes()
    counts = GCCounts()
    assert await delete_replica(fleet(controller, nodes, {N1}), C1, N1, counts) == "claimed"
    assert nodes.deletes == [] and controller.locations[C1] == [N1]
    assert counts.conflicts == 1


async def test_a_refused_or_failed_delete_keeps_the_location_and_the_file() -> None:
    controller = FakeController(locations={C1: [N1], C2: [N2]})
    nodes = FakeNodes(refuse={"http://n1"}, down={"http://n2"})
    counts = GCCounts()
    assert not await collect_file(fleet(controller, nodes, {N1, N2}), file_info(), counts)
    assert controller.locations == {C1: [N1], C2: [N2]}
    assert ("delete_file", "F" * 24) not in controller.calls
    assert (counts.conflicts, counts.failures, counts.files_marked) == (1, 1, 1)


async def test_file_record_goes_after_its_replicas_and_before_chunk_records() -> None:
    controller = FakeController(locations={C1: [N1], C2: [N2]})
    nodes = FakeNodes()
    counts = GCCounts()
    assert await collect_file(fleet(controller, nodes, {N1}), file_info(state="deleting"), counts)
    writes = [c for c in controller.calls if c[0] != "mark"]
    assert writes == [
        ("remove_location", f"{C1}@{N1}"),
        ("delete_file", "F" * 24),
        ("delete_chunk", C1),  # C2 keeps its pending replica on the inactive node
    ]
    assert (counts.files_marked, counts.files_collected, counts.deletes_pending) == (0, 1, 1)


async def test_sweep_deletes_unknown_chunks_with_the_grace_and_skips_referenced() -> None:
    controller = FakeController(locations={C2: [N1]}, references={C2: 1})
    nodes = FakeNodes()
    counts = GCCounts()
    f = fleet(controller, nodes, {N1})
    await sweep_chunk(f, N1, C1, None, counts)  # no record: an orphan
    await sweep_chunk(f, N1, C2, await controller.get_chunk(C2), counts)  # a file uses it
    assert nodes.deletes == [("http://n1", C1, GRACE)]
    assert counts.orphans_deleted == 1


async def test_sweep_collects_a_pending_delete_when_its_node_is_back() -> None:
    controller = FakeController(locations={C1: [N1]})
    nodes = FakeNodes()
    counts = GCCounts()
    await sweep_chunk(
        fleet(controller, nodes, {N1}), N1, C1, await controller.get_chunk(C1), counts
    )
    assert nodes.deletes == [("http://n1", C1, GRACE)]
    assert ("delete_chunk", C1) in controller.calls
    assert counts.chunks_deleted == 1


async def test_sweeping_a_node_asks_for_the_records_of_a_page_at_once() -> None:
    """One lookup per page of the node's listing, not one request per chunk held."""
    c3, c4, c5 = "3" * 64, "4" * 64, "5" * 64
    controller = FakeController(locations={C2: [N1], c3: [N1], c5: [N1]}, references={C2: 1})
    nodes = FakeNodes(held=[C1, C2, c3, c4, c5], page=2)
    counts = GCCounts()
    await sweep_node(fleet(controller, nodes, {N1}), N1, counts)
    lookups = [ids for call, ids in controller.calls if call == "lookup"]
    assert lookups == [f"{C1},{C2}", f"{c3},{c4}", c5]  # 3 pages of at most 2
    deleted = [chunk for _, chunk, _ in nodes.deletes]
    assert deleted == [C1, c3, c4, c5]  # orphans C1, c4; unreferenced c3, c5; C2 kept
    assert counts.orphans_deleted == 2 and counts.chunks_deleted == 2


async def test_a_replica_listed_on_a_node_that_lacks_it_loses_its_location() -> None:
    """A wiped disk, a hand-removed file, a late delete: the node is listed for chunks it
    does not hold. Each page of its listing is compared with what the controller lists in
    the same id range; a chunk stored since the page was read (HEAD finds it) is kept."""
    c3, c4, c5 = "3" * 64, "4" * 64, "5" * 64
    controller = FakeController(
        locations={C1: [N1], C2: [N1, N2], c3: [N1], c4: [N1], c5: [N2]},
        references={C1: 1, C2: 1, c3: 1, c4: 1, c5: 1},
    )
    nodes = FakeNodes(held=[C1, c3], page=1, stored_since={c4})
    counts = GCCounts()
    await sweep_node(fleet(controller, nodes, {N1}), N1, counts)
    ranges = [r for call, r in controller.calls if call == "listed"]
    assert ranges == [f"{N1}:None..{C1}", f"{N1}:{C1}..None"]  # page by page
    assert controller.locations[C2] == [N2]  # lost on N1: dropped, repair restores it
    assert controller.locations[c4] == [N1]  # stored after the page was read: kept
    assert controller.locations[c5] == [N2]  # never listed on N1: untouched
    assert counts.lost_replicas == 1


def test_counts_add_up() -> None:
    total = GCCounts(chunks_deleted=1)
    total.add(GCCounts(chunks_deleted=2, conflicts=1))
    as_dict: dict[str, Any] = total.as_dict()
    assert as_dict["chunks_deleted"] == 3 and as_dict["conflicts"] == 1
