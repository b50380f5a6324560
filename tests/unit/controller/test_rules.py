"""The controller's rules without SQL: a file's states and its update, taking a download,
the GC's collecting mark; over records held in memory (``Records``), locked the way
``MetadataStore.change_file``/``change_chunk`` promise. The same rules run on SQLite and
PostgreSQL in tests/contract."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from filefleet.controller import collecting_mark, downloads, file_states
from filefleet.core.errors import ChunkCollecting, Conflict, Gone, InvalidInput, NotFound
from filefleet.core.models import ChunkRef, FileUpdate
from filefleet.store.base import (
    ChunkChange,
    ChunkOrders,
    FileChange,
    FileFields,
    FileRow,
    MetadataStore,
)

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
FILE = "f" * 24
A, B = "a" * 64, "b" * 64


@dataclass
class Records:
    """One file's record and chunk list, and the chunks' marks and users, in memory."""

    row: FileRow
    chunks: ChunkOrders = field(default_factory=dict)
    marked: set[str] = field(default_factory=set)
    live_users: set[str] = field(default_factory=set)  # chunks a live file names
    writes: list[dict[str, Any]] = field(default_factory=list)

    @asynccontextmanager
    async def change_file(self, file_id: str) -> AsyncIterator[FileChange]:
        if file_id != self.row.id:
            raise NotFound(f"no file {file_id}")
        yield _FileChange(self)

    @asynccontextmanager
    async def change_chunk(self, chunk_id: str) -> AsyncIterator[ChunkChange]:
        yield _ChunkChange(self, chunk_id)

    async def get_summary(self, file_id: str) -> Any:
        return self.row

    async def get_file(self, file_id: str) -> Any:
        return self.row


class _FileChange(FileChange):
    def __init__(self, records: Records) -> None:
        self.records, self.row, self.now = records, records.row, NOW

    async def chunk_list(self, orders: set[int] | None = None) -> ChunkOrders:
        return {o: c for o, c in self.records.chunks.items() if orders is None or o in orders}

    async def reference_chunks(self, refs: list[ChunkRef]) -> list[str]:
        return sorted({r.id for r in refs} & self.records.marked)

    async def clear_collecting(self, chunk_ids: list[str]) -> None:
        self.records.marked -= set(chunk_ids)

    async def append(self, new: list[ChunkRef], given: list[ChunkRef]) -> None:
        self.records.chunks.update({c.order: (c.id, c.size) for c in new})

    async def set_fields(self, fields: FileFields) -> None:
        written = {k: v for k, v in asdict(fields).items() if v is not None}
        self.records.writes.append(written)
        self.records.row = replace(self.records.row, **written)

    async def count_download(self) -> None:
        self.records.row = replace(self.records.row, downloads=self.records.row.downloads + 1)


class _ChunkChange(ChunkChange):
    def __init__(self, records: Records, chunk_id: str) -> None:
        self.records, self.chunk_id, self.now = records, chunk_id, NOW
        self.collecting = chunk_id in records.marked

    async def referenced_by_live_file(self, uploading_since: datetime) -> bool:
        assert uploading_since == NOW - timedelta(seconds=60)
        return self.chunk_id in self.records.live_users

    async def mark_collecting(self) -> None:
        self.records.marked.add(self.chunk_id)


def records(state: str = "uploading", **row: Any) -> Records:
    fields: dict[str, Any] = dict(
        id=FILE, state=state, size=None, sha256=None, expires_at=NOW + timedelta(days=1),
        max_downloads=None, downloads=0,
    )  # fmt: skip
    fields.update(row)
    return Records(FileRow(**fields))


def store(held: Records) -> MetadataStore:
    return cast(MetadataStore, held)


def ref(chunk: str, order: int, size: int = 4) -> ChunkRef:
    return ChunkRef(id=chunk, order=order, size=size)


def finish(size: int, sha256: str = "c" * 64) -> FileUpdate:
    return FileUpdate(state="active", size=size, sha256=sha256)


# --- file_states ---


async def test_an_upload_appends_then_finishes_and_each_step_touches_the_record() -> None:
    held = records()
    await file_states.update_file(store(held), FILE, FileUpdate(chunks=[ref(A, 0), ref(B, 1)]))
    assert held.chunks == {0: (A, 4), 1: (B, 4)} and held.writes == [{}]  # a touch
    await file_states.update_file(store(held), FILE, finish(8))
    assert (held.row.state, held.row.size) == ("active", 8)


async def test_finishing_again_alike_writes_nothing_and_otherwise_conflicts() -> None:
    held = records("active", size=8, sha256="c" * 64)
    await file_states.update_file(store(held), FILE, finish(8))
    assert held.writes == []
    with pytest.raises(Conflict, match="already active"):
        await file_states.update_file(store(held), FILE, finish(8, "d" * 64))


async def test_an_active_or_deleting_file_takes_no_new_chunk() -> None:
    with pytest.raises(Conflict, match="fixed"):
        await file_states.update_file(
            store(records("active")), FILE, FileUpdate(chunks=[ref(A, 0)])
        )
    with pytest.raises(Conflict, match="being deleted"):
        await file_states.update_file(store(records("deleting")), FILE, FileUpdate())


async def test_finishing_needs_a_whole_chunk_list_and_the_declared_size() -> None:
    held = records(size=8)
    await file_states.update_file(store(held), FILE, FileUpdate(chunks=[ref(A, 0)]))
    with pytest.raises(InvalidInput, match="sum to 4"):
        await file_states.update_file(store(held), FILE, finish(8))
    with pytest.raises(InvalidInput, match="declared"):
        await file_states.update_file(store(held), FILE, finish(5))


async def test_size_and_sha256_come_only_with_the_finish() -> None:
    with pytest.raises(InvalidInput):
        file_states.check_update(FileUpdate(size=1))
    with pytest.raises(InvalidInput):
        file_states.check_update(FileUpdate(state="active", size=1))


async def test_the_expiry_moves_only_while_uploading() -> None:
    later = NOW + timedelta(days=9)
    held = records()
    await file_states.update_file(store(held), FILE, FileUpdate(expires_at=later))
    assert held.row.expires_at == later
    active = records("active", size=0, sha256="c" * 64)
    update = FileUpdate(state="active", size=0, sha256="c" * 64, expires_at=later)
    await file_states.update_file(store(active), FILE, update)
    assert active.row.expires_at != later


# --- collecting_mark ---


async def test_an_append_meeting_the_mark_clears_it_appends_nothing_and_is_refused() -> None:
    held = records()
    held.marked.add(B)
    with pytest.raises(ChunkCollecting, match=B):
        await file_states.update_file(store(held), FILE, FileUpdate(chunks=[ref(A, 0), ref(B, 1)]))
    assert held.chunks == {} and held.marked == set()
    await file_states.update_file(store(held), FILE, FileUpdate(chunks=[ref(A, 0), ref(B, 1)]))
    assert held.chunks == {0: (A, 4), 1: (B, 4)}


async def test_the_gc_marks_only_a_chunk_no_live_file_names() -> None:
    held = records()
    held.live_users.add(A)
    assert not await collecting_mark.mark_collecting(store(held), A, grace=60)
    assert await collecting_mark.mark_collecting(store(held), B, grace=60)
    assert held.marked == {B}
    held.live_users.add(B)  # already marked: the mark stands (the append clears it)
    assert await collecting_mark.mark_collecting(store(held), B, grace=60)


# --- downloads ---


async def test_downloads_are_taken_up_to_the_limit_from_a_live_active_file() -> None:
    held = records("active", max_downloads=2)
    await downloads.take_download(store(held), FILE)
    await downloads.take_download(store(held), FILE)
    with pytest.raises(Gone):
        await downloads.take_download(store(held), FILE)
    assert held.row.downloads == 2
    with pytest.raises(NotFound):
        await downloads.take_download(store(held), "g" * 24)


@pytest.mark.parametrize(
    ("state", "expires_in"), [("uploading", 60), ("deleting", 60), ("active", 0)]
)
def test_no_download_from_a_file_not_active_or_expired(state: str, expires_in: int) -> None:
    row = records(state, expires_at=NOW + timedelta(seconds=expires_in)).row
    assert not downloads.may_take(row, NOW)
