"""The metadata store contract: every test runs on SQLite (a temp file) and on PostgreSQL
(a fresh database per test, created and dropped by the fixture), with a clock the test
moves by hand. Every promise of ``filefleet.store.base.MetadataStore`` is checked here,
the locked changes through the controller's rules that use them (``file_states``,
``downloads``, ``collecting_mark``): what must hold under concurrency is the store's
locks and the rules together."""

from __future__ import annotations

import asyncio
import hashlib
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import create_async_engine

from filefleet.controller.collecting_mark import mark_collecting
from filefleet.controller.downloads import take_download
from filefleet.controller.file_states import update_file
from filefleet.controller.passwords import PasswordCheck
from filefleet.core.errors import Conflict, Forbidden, Gone, InvalidInput, NotFound
from filefleet.core.file_query import FileQuery
from filefleet.core.models import (
    BundleCreate,
    ChunkRef,
    FileCreate,
    FileInfo,
    FileUpdate,
    PingRequest,
)
from filefleet.store.schema import metadata
from filefleet.store.sql import SqlStore, open_store
from tests.conftest import require_service

PG_HOST, PG_PORT = "127.0.0.1", 5432
PG_ADMIN_URL = f"postgresql+asyncpg://postgres@{PG_HOST}:{PG_PORT}/test"
TOKEN_SHA = "ab" * 32


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture(params=["sqlite", "postgresql"])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/meta.db"
        return
    require_service("PostgreSQL", PG_HOST, PG_PORT)
    name = f"filefleet_test_{uuid.uuid4().hex[:16]}"
    await _admin(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _admin(statement: str) -> None:
    engine = create_async_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def store(db_url: str, clock: Clock) -> AsyncIterator[SqlStore]:
    opened = await open_store(db_url, clock=clock)
    try:
        yield opened
    finally:
        await opened.close()


def chunk_id(n: int) -> str:
    return hashlib.sha256(f"chunk-{n}".encode()).hexdigest()


def node_id(n: int) -> str:
    return f"{n:032x}"


async def took_download(store: SqlStore, file_id: str) -> bool:
    """Whether the controller's rule let one more download through (``downloads.py``)."""
    try:
        await take_download(store, file_id)
    except Gone:
        return False
    return True


def new_file(clock: Clock, n: int = 0, **overrides: object) -> FileCreate:
    values: dict[str, object] = {
        "id": f"file-{n:04d}-abcdefghijkl",
        "name": f"name-{n}.bin",
        "content_type": "application/octet-stream",
        "expires_at": clock() + timedelta(days=1),
        "delete_token_sha256": TOKEN_SHA,
    }
    values.update(overrides)
    return FileCreate.model_validate(values)


def ref(n: int, order: int, size: int = 10, locations: list[str] | None = None) -> ChunkRef:
    return ChunkRef(id=chunk_id(n), order=order, size=size, locations=locations or [])


async def active_file(
    store: SqlStore, clock: Clock, n: int, chunk_numbers: list[int], **overrides: object
) -> FileInfo:
    """A finished file whose chunks are ``chunk_numbers`` (10 bytes each), in order."""
    record = new_file(clock, n, **overrides)
    await store.create_file(record)
    refs = [ref(c, order) for order, c in enumerate(chunk_numbers)]
    await update_file(store, record.id, FileUpdate(chunks=refs))
    finish = FileUpdate(state="active", size=10 * len(refs), sha256="cd" * 32)
    await update_file(store, record.id, finish)
    return await store.get_file(record.id)


async def ping(store: SqlStore, n: int) -> None:
    await store.ping(
        PingRequest(id=node_id(n), url=f"http://node-{n}", capacity=100, free=50, chunks=0)
    )


# --- files ---


async def test_create_is_idempotent_and_conflicts_on_other_content(
    store: SqlStore, clock: Clock
) -> None:
    record = new_file(clock)
    info, created = await store.create_file(record)
    assert created and info.state == "uploading" and info.chunks == [] and info.downloads == 0
    again, created_again = await store.create_file(record)
    assert not created_again and again == info
    with pytest.raises(Conflict):
        await store.create_file(new_file(clock, name="other.bin"))


async def test_concurrent_creates_of_one_id_create_exactly_once(
    store: SqlStore, clock: Clock
) -> None:
    record = new_file(clock)
    results = await asyncio.gather(*(store.create_file(record) for _ in range(20)))
    assert sum(created for _, created in results) == 1
    assert {info.id for info, _ in results} == {record.id}


async def test_get_and_update_of_unknown_file_are_not_found(store: SqlStore) -> None:
    with pytest.raises(NotFound):
        await store.get_file("no-such-file-0000")
    with pytest.raises(NotFound):
        await update_file(store, "no-such-file-0000", FileUpdate(chunks=[ref(1, 0)]))


async def test_appends_merge_by_order(store: SqlStore, clock: Clock) -> None:
    record = new_file(clock)
    await store.create_file(record)
    await update_file(store, record.id, FileUpdate(chunks=[ref(1, 1), ref(0, 0)]))
    summary = await update_file(store, record.id, FileUpdate(chunks=[ref(0, 0)]))  # no-op
    assert summary.chunk_count == 2
    info = await store.get_file(record.id)
    assert [(c.order, c.id) for c in info.chunks] == [(0, chunk_id(0)), (1, chunk_id(1))]
    with pytest.raises(Conflict):
        await update_file(store, record.id, FileUpdate(chunks=[ref(5, 0)]))
    with pytest.raises(InvalidInput):
        await update_file(store, record.id, FileUpdate(chunks=[ref(2, 2), ref(3, 2)]))
    with pytest.raises(Conflict):  # a chunk id is its content: its size cannot change
        await update_file(store, record.id, FileUpdate(chunks=[ref(0, 2, size=11)]))
    assert len((await store.get_file(record.id)).chunks) == 2


async def test_finishing_needs_contiguous_chunks_adding_up(store: SqlStore, clock: Clock) -> None:
    record = new_file(clock)
    await store.create_file(record)
    await update_file(store, record.id, FileUpdate(chunks=[ref(0, 0), ref(2, 2)]))
    sha = "ef" * 32
    with pytest.raises(InvalidInput, match="contiguous"):
        await update_file(store, record.id, FileUpdate(state="active", size=20, sha256=sha))
    await update_file(store, record.id, FileUpdate(chunks=[ref(1, 1)]))
    with pytest.raises(InvalidInput, match="sum"):
        await update_file(store, record.id, FileUpdate(state="active", size=31, sha256=sha))
    with pytest.raises(InvalidInput):
        await update_file(store, record.id, FileUpdate(state="active", size=30))
    later = clock() + timedelta(days=2)
    done = await update_file(
        store, record.id, FileUpdate(state="active", size=30, sha256=sha, expires_at=later)
    )
    assert (done.state, done.size, done.sha256, done.expires_at) == ("active", 30, sha, later)
    # a retried finish is a no-op; a different one, or a new chunk, is a conflict
    assert await update_file(store, record.id, FileUpdate(state="active", size=30, sha256=sha))
    with pytest.raises(Conflict):
        await update_file(store, record.id, FileUpdate(state="active", size=30, sha256="0" * 64))
    with pytest.raises(Conflict):
        await update_file(store, record.id, FileUpdate(chunks=[ref(3, 3)]))


async def test_empty_file_finishes_with_no_chunks(store: SqlStore, clock: Clock) -> None:
    info = await active_file(store, clock, 0, [])
    assert (info.state, info.size, info.chunks) == ("active", 0, [])


async def test_list_files_pages_and_filters(store: SqlStore, clock: Clock) -> None:
    for n in range(5):
        await store.create_file(new_file(clock, n, expires_at=clock() + timedelta(hours=n)))
    await active_file(store, clock, 9, [1])
    seen, after = [], None
    while True:
        page = await store.list_files(FileQuery(after=after, limit=2))
        seen += [f.id for f in page.files]
        if page.next is None:
            break
        after = page.next
    assert seen == sorted(seen) and len(seen) == 6
    clock.advance(2.5 * 3600)
    expired = await store.list_files(FileQuery(expired=True))
    assert [f.id for f in expired.files] == [new_file(clock, n).id for n in range(3)]
    active = await store.list_files(FileQuery(state="active", with_chunks=False))
    assert [f.id for f in active.files] == [new_file(clock, 9).id]
    assert active.files[0].chunks == []
    with_chunks = await store.list_files(FileQuery(state="active"))
    assert with_chunks.files[0].chunks[0].id == chunk_id(1)
    await update_file(store, new_file(clock, 4).id, FileUpdate(chunks=[ref(7, 0)]))  # touch
    idle = await store.list_files(FileQuery(state="uploading", idle=3600))
    assert new_file(clock, 4).id not in [f.id for f in idle.files] and len(idle.files) == 4
    same_content = await store.list_files(
        FileQuery(sha256="cd" * 32)
    )  # active_file's whole-file hash
    assert [f.id for f in same_content.files] == [new_file(clock, 9).id]
    assert (await store.list_files(FileQuery(sha256="ab" * 32))).files == []


async def test_mark_deleting_checks_the_token_and_freezes_the_file(
    store: SqlStore, clock: Clock
) -> None:
    info = await active_file(store, clock, 0, [1])
    with pytest.raises(Forbidden):
        await store.mark_deleting(info.id, "00" * 32)
    assert (await store.mark_deleting(info.id, TOKEN_SHA)).state == "deleting"
    assert (await store.mark_deleting(info.id)).state == "deleting"
    with pytest.raises(Conflict):
        await update_file(store, info.id, FileUpdate(chunks=[ref(1, 0)]))


async def test_delete_file_keeps_chunks_as_pending_deletes(store: SqlStore, clock: Clock) -> None:
    info = await active_file(store, clock, 0, [1])
    await store.add_location(chunk_id(1), node_id(1))
    assert await store.delete_file(info.id)
    assert not await store.delete_file(info.id)
    with pytest.raises(NotFound):
        await store.get_file(info.id)
    chunk = await store.get_chunk(chunk_id(1), 10)
    assert chunk.references == 0 and chunk.locations == [node_id(1)]


async def test_take_download_respects_the_limit_under_concurrency(
    store: SqlStore, clock: Clock
) -> None:
    info = await active_file(store, clock, 0, [1], max_downloads=3)
    results = await asyncio.gather(*(took_download(store, info.id) for _ in range(20)))
    assert sum(results) == 3
    assert (await store.get_file(info.id)).downloads == 3
    unlimited = await active_file(store, clock, 1, [1])
    assert all(await asyncio.gather(*(took_download(store, unlimited.id) for _ in range(5))))
    clock.advance(2 * 86400)  # expired
    assert not await took_download(store, unlimited.id)
    with pytest.raises(NotFound):
        await took_download(store, "no-such-file-0000")


async def test_take_download_refuses_a_file_still_uploading(store: SqlStore, clock: Clock) -> None:
    record = new_file(clock)
    await store.create_file(record)
    assert not await took_download(store, record.id)


# --- nodes ---


async def test_ping_registers_and_ttl_decides_active(store: SqlStore, clock: Clock) -> None:
    await ping(store, 1)
    await ping(store, 2)
    assert [n.id for n in await store.active_nodes(10)] == [node_id(1), node_id(2)]
    clock.advance(6)
    await ping(store, 2)
    clock.advance(6)
    assert [n.id for n in await store.active_nodes(10)] == [node_id(2)]
    statuses = {n.id: n.active for n in await store.all_nodes(10)}
    assert statuses == {node_id(1): False, node_id(2): True}
    await ping(store, 1)
    assert len(await store.active_nodes(10)) == 2


async def test_a_ping_records_name_and_filesystem_and_never_undoes_a_drain(
    store: SqlStore, clock: Clock
) -> None:
    def named(free: int, name: str) -> PingRequest:
        fields = {"capacity": 100, "free": free, "chunks": 0, "filesystem": "fs-a"}
        return PingRequest(id=node_id(1), url="http://n1", name=name, **fields)

    first = await store.ping(named(50, "node-1"))
    assert (first.name, first.filesystem, first.draining) == ("node-1", "fs-a", False)
    await ping(store, 2)  # an older node: no name, no filesystem
    await store.set_draining(node_id(1), True)
    clock.advance(1)
    await store.ping(named(40, "renamed"))
    by_id = {n.id: n for n in await store.active_nodes(10)}
    assert by_id[node_id(1)].draining and by_id[node_id(1)].name == "renamed"
    assert by_id[node_id(1)].free == 40
    assert (by_id[node_id(2)].name, by_id[node_id(2)].draining) == (None, False)
    await store.set_draining(node_id(1), False)
    assert not {n.id: n for n in await store.all_nodes(10)}[node_id(1)].draining
    with pytest.raises(NotFound):
        await store.set_draining(node_id(9), True)


async def three_nodes_and_a_file(store: SqlStore, clock: Clock) -> None:
    """Nodes 1-3 pinging, and an active file of chunks 1-3 (no location yet)."""
    await active_file(store, clock, 0, [1, 2, 3])
    for n in (1, 2, 3):
        await ping(store, n)


async def test_a_draining_nodes_replicas_stop_counting_until_copied_elsewhere(
    store: SqlStore, clock: Clock
) -> None:
    await three_nodes_and_a_file(store, clock)
    for chunk, holders in ((1, [1, 2]), (2, [1, 3]), (3, [2, 3])):
        for n in holders:
            await store.add_location(chunk_id(chunk), node_id(n))
    assert await store.chunks_below(2, 10, 10) == []
    assert (await store.totals(2, 10)).below == 0

    await store.set_draining(node_id(1), True)
    below = await store.chunks_below(2, 10, 10)
    assert [(c.id, c.live) for c in below] == sorted([(chunk_id(1), 1), (chunk_id(2), 1)])
    assert (await store.totals(2, 10)).below == 2
    assert (await store.get_chunk(chunk_id(1), 10)).live == 1
    report = await store.node_report(node_id(1), 2, 10)
    assert (report.listed, report.waiting, report.draining, report.active) == (2, 2, True, True)
    # Another node's report counts the chunks it holds that are short, its own included.
    assert (await store.node_report(node_id(2), 2, 10)).waiting == 1

    await store.add_location(chunk_id(1), node_id(3))  # repair copied chunk 1 elsewhere
    assert (await store.node_report(node_id(1), 2, 10)).waiting == 1
    await store.add_location(chunk_id(2), node_id(2))
    drained = await store.node_report(node_id(1), 2, 10)
    assert (drained.listed, drained.waiting) == (2, 0)  # still listed: it serves reads
    assert await store.chunks_below(2, 10, 10) == []
    assert (await store.totals(2, 10)).below == 0
    with pytest.raises(NotFound):
        await store.node_report(node_id(9), 2, 10)


async def test_a_dead_nodes_chunks_of_files_no_longer_live_are_not_waiting(
    store: SqlStore, clock: Clock
) -> None:
    info = await active_file(store, clock, 0, [1])
    await ping(store, 1)
    await store.add_location(chunk_id(1), node_id(1))
    assert (await store.node_report(node_id(1), 2, 10)).waiting == 1
    await store.mark_deleting(info.id)
    assert (await store.node_report(node_id(1), 2, 10)).waiting == 0


async def test_forgetting_a_node_drops_its_locations_in_pages_then_its_record(
    store: SqlStore, clock: Clock
) -> None:
    await three_nodes_and_a_file(store, clock)
    for chunk in (1, 2, 3):
        await store.add_location(chunk_id(chunk), node_id(1))
        await store.add_location(chunk_id(chunk), node_id(2))
    await store.add_location(chunk_id(3), node_id(3))
    clock.advance(30)
    await ping(store, 2)
    await ping(store, 3)  # node 1 is dead; within the repair grace its replicas count
    assert await store.chunks_below(2, 60, 10) == []

    first = await store.drop_node_locations(node_id(1), 2)
    assert first == sorted([chunk_id(1), chunk_id(2), chunk_id(3)])[:2]
    assert await store.delete_node(node_id(1)) == 1  # the last location went with the row
    assert node_id(1) not in {n.id for n in await store.all_nodes(60)}
    # Repair need not wait for the grace any more: the locations are gone, and the counts
    # kept, so the quick plan (every node counts) finds the chunks.
    below = await store.chunks_below(2, 60, 10)
    assert sorted(c.id for c in below) == sorted([chunk_id(1), chunk_id(2)])
    assert all(c.locations == [node_id(2)] for c in below)
    totals = await store.totals(2, 60)
    assert (totals.below, totals.replica_bytes) == (2, 10 * 4)
    assert await store.chunks_on_node(node_id(1), None, None, 10) == []
    with pytest.raises(NotFound):
        await store.delete_node(node_id(1))
    assert await store.drop_node_locations(node_id(1), 10) == []
    # The node comes back: it registers anew, holding nothing the metadata lists.
    await ping(store, 1)
    assert (await store.node_report(node_id(1), 2, 60)).listed == 0


# --- chunks ---


async def test_locations_from_appends_and_single_row_changes(store: SqlStore, clock: Clock) -> None:
    record = new_file(clock)
    await store.create_file(record)
    chunk = ref(1, 0, locations=[node_id(1)])
    await update_file(store, record.id, FileUpdate(chunks=[chunk]))
    assert await store.add_location(chunk_id(1), node_id(2))
    assert not await store.add_location(chunk_id(1), node_id(2))
    info = await store.get_file(record.id)
    assert info.chunks[0].locations == [node_id(1), node_id(2)]
    assert await store.remove_location(chunk_id(1), node_id(1))
    assert not await store.remove_location(chunk_id(1), node_id(1))
    assert (await store.get_chunk(chunk_id(1), 10)).locations == [node_id(2)]
    with pytest.raises(NotFound):
        await store.add_location(chunk_id(99), node_id(1))


async def test_many_locations_in_one_transaction(store: SqlStore, clock: Clock) -> None:
    record = new_file(clock)
    await store.create_file(record)
    refs = [ref(1, 0, locations=[node_id(1)]), ref(2, 1, locations=[node_id(1)])]
    await update_file(store, record.id, FileUpdate(chunks=refs))
    pairs = [(chunk_id(1), node_id(2)), (chunk_id(2), node_id(2)), (chunk_id(1), node_id(2)),
             (chunk_id(2), node_id(1)), (chunk_id(99), node_id(2))]  # fmt: skip
    added, unknown = await store.add_locations(pairs)
    assert (added, unknown) == (2, [chunk_id(99)])
    for n in (1, 2):
        assert (await store.get_chunk(chunk_id(n), 10)).locations == [node_id(1), node_id(2)]
    # location_count follows: at R, neither is below it any more
    await update_file(store, record.id, FileUpdate(state="active", size=20, sha256="cd" * 32))
    assert await store.chunks_below(2, 10, 10) == []
    # two new locations of one chunk in one call count twice
    more = [(chunk_id(1), node_id(3)), (chunk_id(1), node_id(4)), (chunk_id(2), node_id(3))]
    assert await store.add_locations(more) == (3, [])
    assert [c.id for c in await store.chunks_below(4, 10, 10)] == [chunk_id(2)]


async def test_chunks_on_a_node_in_id_order_within_a_range(store: SqlStore, clock: Clock) -> None:
    record = new_file(clock)
    await store.create_file(record)
    refs = [ref(n, order, locations=[node_id(1)]) for order, n in enumerate(range(6))]
    refs[0] = ref(0, 0, locations=[node_id(2)])  # not on node 1
    await update_file(store, record.id, FileUpdate(chunks=refs))
    on_one = sorted(chunk_id(n) for n in range(1, 6))
    assert await store.chunks_on_node(node_id(1), None, None, 100) == on_one
    assert await store.chunks_on_node(node_id(1), None, None, 2) == on_one[:2]
    assert await store.chunks_on_node(node_id(1), on_one[1], on_one[3], 100) == on_one[2:4]
    assert await store.chunks_on_node(node_id(1), on_one[4], None, 100) == []
    assert await store.chunks_on_node(node_id(3), None, None, 100) == []


async def test_replicas_the_gc_deleted_are_counted_as_reclaimed(
    store: SqlStore, clock: Clock
) -> None:
    record = new_file(clock)
    await store.create_file(record)
    refs = [ref(1, 0, size=10, locations=[node_id(1), node_id(2)]), ref(2, 1, size=7)]
    await update_file(store, record.id, FileUpdate(chunks=refs))
    await store.add_location(chunk_id(2), node_id(1))
    assert (await store.totals(2, 10)).reclaimed_bytes == 0
    await store.remove_location(chunk_id(1), node_id(1))  # e.g. a corrupt replica: not counted
    assert (await store.totals(2, 10)).reclaimed_bytes == 0
    assert await store.remove_location(chunk_id(1), node_id(2), reclaimed=True)
    assert not await store.remove_location(chunk_id(1), node_id(2), reclaimed=True)  # once
    assert await store.remove_location(chunk_id(2), node_id(1), reclaimed=True)
    assert (await store.totals(2, 10)).reclaimed_bytes == 17


async def test_chunks_below_r_and_with_a_single_copy_count_replicas_on_nodes_that_count(
    store: SqlStore, clock: Clock
) -> None:
    await active_file(store, clock, 0, [1, 2, 3, 4])
    gone = await active_file(store, clock, 1, [5])
    await store.mark_deleting(gone.id)  # not live: never counted
    for n in (1, 2):
        await ping(store, n)
    for chunk, holders in ((1, [1, 2]), (2, [1]), (3, [2]), (5, [1])):
        for n in holders:
            await store.add_location(chunk_id(chunk), node_id(n))

    counts = await store.replication_counts(2, 10)
    assert (counts.below, counts.single_copy) == (3, 2)  # 2 and 3 alone, 4 nowhere

    clock.advance(30)
    await ping(store, 1)  # node 2 silent: its replicas of 1 and 3 stop counting
    counts = await store.replication_counts(2, 10)
    assert (counts.below, counts.single_copy) == (4, 2)  # 1 and 2 on node 1 alone
    totals = await store.totals(2, 10)
    assert (totals.below, totals.single_copy) == (counts.below, counts.single_copy)


async def test_concurrent_location_adds_all_stick(store: SqlStore, clock: Clock) -> None:
    info = await active_file(store, clock, 0, list(range(8)))
    adds = [store.add_location(c.id, node_id(n)) for c in info.chunks for n in range(6)]
    random.shuffle(adds)
    assert all(await asyncio.gather(*adds))
    after = await store.get_file(info.id)
    assert all(c.locations == [node_id(n) for n in range(6)] for c in after.chunks)


async def test_concurrent_appends_to_one_file_all_stick(store: SqlStore, clock: Clock) -> None:
    record = new_file(clock)
    await store.create_file(record)
    appends = [
        update_file(store, record.id, FileUpdate(chunks=[ref(n, n, locations=[node_id(n)])]))
        for n in range(16)
    ]
    await asyncio.gather(*appends)
    info = await store.get_file(record.id)
    assert [(c.order, c.locations) for c in info.chunks] == [(n, [node_id(n)]) for n in range(16)]
    await assert_location_counts(store)


async def test_chunks_below_counts_live_replicas_fewest_first(
    store: SqlStore, clock: Clock
) -> None:
    await active_file(store, clock, 0, [1, 2, 3, 4])
    for n in (1, 2, 3):
        await ping(store, n)
    clock.advance(30)
    await ping(store, 1)
    await ping(store, 2)  # node 3 is silent for 30 s
    for chunk, holders in ((1, [1, 2]), (2, [1]), (3, [3]), (4, [1, 3])):
        for n in holders:
            await store.add_location(chunk_id(chunk), node_id(n))
    below = await store.chunks_below(replicas=2, live_ttl=10, limit=10)
    assert [(c.id, c.live) for c in below] == sorted(
        [(chunk_id(3), 0), (chunk_id(2), 1), (chunk_id(4), 1)], key=lambda t: (t[1], t[0])
    )
    assert below[0].locations == [node_id(3)]
    # with a longer grace node 3's replicas count again: chunk 4 has its two
    assert [c.id for c in await store.chunks_below(2, 60, 10)] == sorted([chunk_id(2), chunk_id(3)])
    assert len(await store.chunks_below(2, 10, 1)) == 1


async def test_chunks_of_deleting_files_need_no_repair(store: SqlStore, clock: Clock) -> None:
    info = await active_file(store, clock, 0, [1])
    assert len(await store.chunks_below(2, 10, 10)) == 1
    await store.mark_deleting(info.id)
    assert await store.chunks_below(2, 10, 10) == []


async def test_collecting_mark_and_the_append_race(store: SqlStore, clock: Clock) -> None:
    info = await active_file(store, clock, 0, [1])
    assert not await mark_collecting(store, chunk_id(1), grace=60)  # an active file uses it
    await store.mark_deleting(info.id)
    assert await mark_collecting(store, chunk_id(1), grace=60)
    assert (await store.get_chunk(chunk_id(1), 10)).collecting
    # DESIGN §8 step 2: an upload re-using the chunk gets 409, which clears the mark ...
    record = new_file(clock, 1)
    await store.create_file(record)
    with pytest.raises(Conflict, match="collected"):
        await update_file(store, record.id, FileUpdate(chunks=[ref(1, 0)]))
    assert (await store.get_file(record.id)).chunks == []
    assert not (await store.get_chunk(chunk_id(1), 10)).collecting
    # ... and its retry (after storing the bytes again) appends; now the GC may not mark it
    await update_file(store, record.id, FileUpdate(chunks=[ref(1, 0)]))
    assert not await mark_collecting(store, chunk_id(1), grace=60)
    clock.advance(61)  # the upload is abandoned: its file no longer counts as live
    assert await mark_collecting(store, chunk_id(1), grace=60)


async def test_collecting_mark_looks_only_at_the_files_using_that_chunk(
    store: SqlStore, clock: Clock
) -> None:
    # Another chunk being used by a live file must not keep this one from being marked.
    await active_file(store, clock, 0, [1])
    gone = await active_file(store, clock, 1, [2])
    await store.mark_deleting(gone.id)
    assert await mark_collecting(store, chunk_id(2), grace=60)
    assert not await mark_collecting(store, chunk_id(1), grace=60)


async def test_delete_chunk_only_when_marked_unreferenced_and_unlocated(
    store: SqlStore, clock: Clock
) -> None:
    info = await active_file(store, clock, 0, [1])
    await store.add_location(chunk_id(1), node_id(1))
    assert not await store.delete_chunk(chunk_id(1))  # not marked
    await store.mark_deleting(info.id)
    assert await mark_collecting(store, chunk_id(1), grace=0)
    assert not await store.delete_chunk(chunk_id(1))  # referenced and located
    await store.delete_file(info.id)
    assert not await store.delete_chunk(chunk_id(1))  # a replica is still listed
    await store.remove_location(chunk_id(1), node_id(1))
    assert await store.delete_chunk(chunk_id(1))
    with pytest.raises(NotFound):
        await store.get_chunk(chunk_id(1), 10)


# --- schema ---


async def test_migrated_schema_matches_the_tables(db_url: str, store: SqlStore) -> None:
    def differences(conn: Connection) -> list[object]:
        return list(compare_metadata(MigrationContext.configure(conn), metadata))

    async with store.engine.connect() as conn:
        assert await conn.run_sync(differences) == []
    again = await open_store(db_url)  # migrating an up-to-date database changes nothing
    await again.close()


# --- real races: several controllers (stores with their own connection pools) at once ---


@pytest.fixture
async def controllers(db_url: str, clock: Clock, store: SqlStore) -> AsyncIterator[list[SqlStore]]:
    """``store`` and two more stores over the same database, as three controllers would be."""
    others = [await open_store(db_url, clock=clock) for _ in range(2)]
    try:
        yield [store, *others]
    finally:
        for other in others:
            await other.close()


async def test_concurrent_location_adds_and_removes_keep_every_change(
    controllers: list[SqlStore], clock: Clock
) -> None:
    store = controllers[0]
    info = await active_file(store, clock, 0, list(range(6)))
    chunk_ids = [c.id for c in info.chunks]
    for c in chunk_ids:  # nodes 0..3 hold every chunk to begin with
        for n in range(4):
            await store.add_location(c, node_id(n))
    # Each chunk: nodes 0..1 leave, 4..7 arrive, twice each, through every controller.
    calls = [
        controllers[(i + n) % 3].remove_location(c, node_id(n))
        for i, c in enumerate(chunk_ids)
        for n in range(2)
        for _ in range(2)
    ]
    calls += [
        controllers[(i + n) % 3].add_location(c, node_id(n))
        for i, c in enumerate(chunk_ids)
        for n in range(4, 8)
        for _ in range(2)
    ]
    random.shuffle(calls)
    results = await asyncio.gather(*calls)
    # every change happened exactly once: one True per (chunk, node) and kind
    assert sum(results) == len(chunk_ids) * (2 + 4)
    for c in chunk_ids:
        chunk = await store.get_chunk(c, 10)
        assert chunk.locations == [node_id(n) for n in (2, 3, 4, 5, 6, 7)]
    await assert_location_counts(store)
    # repair reads the kept count: with every holder live, six copies are enough, seven not
    for n in range(8):
        await ping(store, n)
    assert await store.chunks_below(6, 10, 100) == []
    assert len(await store.chunks_below(7, 10, 100)) == len(chunk_ids)


async def assert_location_counts(store: SqlStore) -> None:
    """``chunks.location_count`` (kept by increments) equals the rows it counts."""
    counted = text(
        "SELECT id, location_count, (SELECT count(*) FROM chunk_locations l "
        "WHERE l.chunk_id = chunks.id) AS actual FROM chunks"
    )
    async with store.engine.connect() as conn:
        rows = list(await conn.execute(counted))
    assert rows and all(r.location_count == r.actual for r in rows), rows


async def test_concurrent_pings_from_many_nodes(controllers: list[SqlStore], clock: Clock) -> None:
    async def check_in(n: int, times: int) -> None:
        for k in range(times):
            free = 1000 - k
            request = PingRequest(
                id=node_id(n), url=f"http://node-{n}", capacity=1000, free=free, chunks=k
            )
            await controllers[(n + k) % 3].ping(request)

    await asyncio.gather(*(check_in(n, 5) for n in range(24)))
    active = await controllers[1].active_nodes(10)
    assert [n.id for n in active] == [node_id(n) for n in range(24)]
    assert all((n.free, n.chunks) == (996, 4) for n in active)  # each node's last ping wins
    clock.advance(11)
    await asyncio.gather(*(check_in(n, 1) for n in range(0, 24, 2)))
    assert len(await controllers[2].active_nodes(10)) == 12
    assert sum(s.active for s in await controllers[0].all_nodes(10)) == 12


async def test_concurrent_creates_through_several_controllers(
    controllers: list[SqlStore], clock: Clock
) -> None:
    same = new_file(clock)
    other = new_file(clock, name="other.bin")
    calls = [controllers[i % 3].create_file(same if i % 2 else other) for i in range(24)]
    results = await asyncio.gather(*calls, return_exceptions=True)
    created = [r for r in results if isinstance(r, tuple) and r[1]]
    assert len(created) == 1  # exactly one create wins (DESIGN §3: 201) ...
    winner = created[0][0]
    for r in results:  # ... the same content gets the record (200), other content Conflict (409)
        if isinstance(r, tuple):
            assert r[0] == winner
        else:
            assert isinstance(r, Conflict)
    assert sum(isinstance(r, Conflict) for r in results) == 12


async def test_gc_mark_and_upload_append_race_never_leave_a_marked_live_chunk(
    controllers: list[SqlStore], clock: Clock
) -> None:
    """DESIGN §8: the mark and the append race on one chunk; whichever wins, no live file
    may end up referencing a chunk whose mark survived."""
    outcomes: set[str] = set()
    for n in range(12):
        chunk = 100 + n
        gone = await active_file(controllers[0], clock, 1000 + n, [chunk])
        await controllers[0].mark_deleting(gone.id)  # nothing live uses the chunk now
        uploads = [new_file(clock, 2000 + 10 * n + k) for k in range(3)]
        for record in uploads:
            await controllers[0].create_file(record)
        gc = controllers[n % 3]
        appends = [
            update_file(
                controllers[(n + k + 1) % 3],
                record.id,
                FileUpdate(chunks=[ref(chunk, 0, locations=[node_id(1)])]),
            )
            for k, record in enumerate(uploads)
        ]
        marked, *appended = await asyncio.gather(
            mark_collecting(gc, chunk_id(chunk), grace=60), *appends, return_exceptions=True
        )
        assert isinstance(marked, bool), marked
        for result in appended:
            assert not isinstance(result, BaseException) or isinstance(result, Conflict), result
        refused = [r for r in appended if isinstance(r, Conflict)]
        info = await controllers[0].get_chunk(chunk_id(chunk), 10)
        live = [
            record.id
            for record in uploads
            if (await controllers[0].get_file(record.id)).chunks  # the append stuck
        ]
        assert len(live) + len(refused) == len(uploads)
        if live:
            assert not info.collecting, "a live file references a chunk whose mark survived"
        # a refused append means the mark won (and the append cleared it); a refused mark
        # means an append won and its file is live
        assert marked == bool(refused), (marked, refused)
        assert marked or live
        outcomes.add("mark first" if marked else "append first")
        # the GC's re-check (step 3) and a retry of the refused appends
        for record in uploads:
            if record.id not in live:
                await update_file(controllers[1], record.id, FileUpdate(chunks=[ref(chunk, 0)]))
        assert not await mark_collecting(controllers[2], chunk_id(chunk), grace=60)
    await assert_location_counts(controllers[0])
    print("race outcomes seen:", sorted(outcomes))


async def test_get_summary_counts_chunks_without_listing_them(
    store: SqlStore, clock: Clock
) -> None:
    info = await active_file(store, clock, 0, [1, 2, 3])
    summary = await store.get_summary(info.id)
    assert (summary.id, summary.state, summary.chunk_count) == (info.id, "active", 3)
    with pytest.raises(NotFound):
        await store.get_summary("no-such-file-0000")


# --- bundles ---


def bundle_of(
    clock: Clock, *members: FileInfo, token: str = TOKEN_SHA, **fields: object
) -> BundleCreate:
    values: dict[str, object] = {
        "id": "bundle-0000-abcdefghij",
        "name": "files.zip",
        "expires_at": clock() + timedelta(hours=1),
        "delete_token_sha256": "ef" * 32,
        "sha256": "12" * 32,
        "files": [
            {"id": m.id, "delete_token_sha256": token, "name": f"m{i}-{m.name}", "crc32": i}
            for i, m in enumerate(members)
        ],
    }
    values.update(fields)
    return BundleCreate.model_validate(values)


async def test_a_bundle_takes_its_members_chunks_in_order_and_retires_them(
    store: SqlStore, clock: Clock
) -> None:
    first = await active_file(store, clock, 0, [1, 2])
    empty = await active_file(store, clock, 1, [], content_type="text/plain")
    third = await active_file(store, clock, 2, [3, 1])
    await store.add_location(chunk_id(3), node_id(1))
    info, created = await store.create_bundle(bundle_of(clock, first, empty, third))
    assert created and info.state == "active" and info.content_type == "application/zip"
    assert info.size == 40 and info.sha256 == "12" * 32 and info.name == "files.zip"
    assert [(c.id, c.order) for c in info.chunks] == [
        (chunk_id(1), 0), (chunk_id(2), 1), (chunk_id(3), 2), (chunk_id(1), 3)
    ]  # fmt: skip
    assert info.chunks[2].locations == [node_id(1)]
    assert [(m.name, m.size, m.crc32, m.content_type) for m in info.members] == [
        ("m0-name-0.bin", 20, 0, "application/octet-stream"),
        ("m1-name-1.bin", 0, 1, "text/plain"),
        ("m2-name-2.bin", 20, 2, "application/octet-stream"),
    ]
    for member in (first, empty, third):
        assert (await store.get_file(member.id)).state == "deleting"
    # The members' chunks stay referenced by a live file: the GC may not mark them.
    assert not await mark_collecting(store, chunk_id(2), grace=0)
    again, created_again = await store.create_bundle(bundle_of(clock, first, empty, third))
    assert not created_again and again == info
    assert await took_download(store, info.id)
    assert await store.delete_file(info.id)
    with pytest.raises(NotFound):
        await store.get_file(info.id)


async def test_a_bundle_with_a_wrong_token_or_a_file_not_active_changes_nothing(
    store: SqlStore, clock: Clock
) -> None:
    good = await active_file(store, clock, 0, [1])
    other = await active_file(store, clock, 1, [2], delete_token_sha256="99" * 32)
    uploading = new_file(clock, 2)
    await store.create_file(uploading)
    with pytest.raises(Forbidden):
        await store.create_bundle(bundle_of(clock, good, other))
    pending = await store.get_file(uploading.id)
    with pytest.raises(Conflict):
        await store.create_bundle(bundle_of(clock, good, pending))
    with pytest.raises(InvalidInput):
        await store.create_bundle(bundle_of(clock, good, good))
    missing = good.model_copy(update={"id": "no-such-file-0000"})
    with pytest.raises(NotFound):
        await store.create_bundle(bundle_of(clock, good, missing))
    assert (await store.get_file(good.id)).state == "active"
    with pytest.raises(NotFound):
        await store.get_file("bundle-0000-abcdefghij")
    clock.advance(2 * 86400)
    with pytest.raises(Gone):
        await store.create_bundle(bundle_of(clock, good))


# --- password links: the hash kept, wrong tries counted with the row locked ---

PASSWORD_HASH = "scrypt$16384$8$1$" + "A" * 22 + "$" + "B" * 43


async def test_a_password_hash_is_kept_and_the_file_says_it_is_protected(
    store: SqlStore, clock: Clock
) -> None:
    plain = await active_file(store, clock, 1, [1])
    protected = await active_file(store, clock, 2, [2], password_hash=PASSWORD_HASH)
    assert not plain.protected and "protected" not in plain.model_dump()
    assert protected.protected and protected.model_dump()["protected"] is True
    stored, taken = await PasswordCheck(store).reserve(protected.id)
    assert stored == PASSWORD_HASH and taken.allowed
    # Creating it again with another password is another record: a conflict.
    with pytest.raises(Conflict):
        await store.create_file(new_file(clock, 2))


async def test_a_plain_password_is_refused_as_a_hash(clock: Clock) -> None:
    with pytest.raises(ValueError, match="not a password hash"):
        new_file(clock, 1, password_hash="hunter2")


async def test_a_file_without_password_counts_no_try(store: SqlStore, clock: Clock) -> None:
    info = await active_file(store, clock, 1, [1])
    for _ in range(20):
        stored, taken = await PasswordCheck(store).reserve(info.id)
        assert stored is None and taken.allowed
    with pytest.raises(NotFound):
        await PasswordCheck(store).reserve("no-such-file-0000")


async def test_wrong_tries_are_limited_per_window_under_concurrency(
    store: SqlStore, clock: Clock
) -> None:
    info = await active_file(store, clock, 1, [1], password_hash=PASSWORD_HASH)
    results = await asyncio.gather(*(PasswordCheck(store).reserve(info.id) for _ in range(25)))
    allowed = [taken for _, taken in results if taken.allowed]
    refused = [taken for _, taken in results if not taken.allowed]
    assert len(allowed) == 10 and len(refused) == 15
    assert all(t.retry_after == 60 for t in refused)
    clock.advance(45)
    _, taken = await PasswordCheck(store).reserve(info.id)
    assert not taken.allowed and taken.retry_after == 15
    clock.advance(15)  # the window is over: counting starts again
    _, taken = await PasswordCheck(store).reserve(info.id)
    assert taken.allowed and taken.count.tries == 1 and taken.count.since == clock()


async def test_a_right_try_is_given_back(store: SqlStore, clock: Clock) -> None:
    info = await active_file(store, clock, 1, [1], password_hash=PASSWORD_HASH)
    for _ in range(30):  # right tries (each given back) never reach the limit
        _, taken = await PasswordCheck(store).reserve(info.id)
        assert taken.allowed
        assert taken.count.since is not None
        await PasswordCheck(store).give_back(info.id, taken.count.since)
    _, taken = await PasswordCheck(store).reserve(info.id)
    assert taken.count.tries == 1
    # Giving back a try of a window that is over changes the new window's count in nothing.
    clock.advance(61)
    _, fresh = await PasswordCheck(store).reserve(info.id)
    assert taken.count.since is not None
    await PasswordCheck(store).give_back(info.id, taken.count.since)
    _, after = await PasswordCheck(store).reserve(info.id)
    assert fresh.count.tries == 1 and after.count.tries == 2


async def test_a_bundle_keeps_its_password(store: SqlStore, clock: Clock) -> None:
    member = await active_file(store, clock, 1, [1])
    bundle = BundleCreate(
        id="bundle-0001-abcdefghij", name="all.zip", expires_at=clock() + timedelta(days=1),
        delete_token_sha256=TOKEN_SHA, sha256="cd" * 32, password_hash=PASSWORD_HASH,
        files=[{"id": member.id, "delete_token_sha256": TOKEN_SHA, "name": "a", "crc32": 1}],
    )  # fmt: skip
    info, created = await store.create_bundle(bundle)
    assert created and info.protected
