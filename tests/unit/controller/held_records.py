"""What the tests of the controller's rules share: a file's record and its chunks held in
memory (``Records``), changed the way ``MetadataStore.change_file``/``change_chunk``
promise, so the rules are tested without SQL. The same rules run on SQLite and PostgreSQL
in tests/contract."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from filefleet.core.errors import NotFound
from filefleet.core.models import ChunkRef, FileUpdate
from filefleet.core.passwords import TryCount
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

    async def count_password_tries(self, count: TryCount) -> None:
        self.records.row = replace(self.records.row, password_tries=count)

    async def count_download(self) -> None:
        self.records.row = replace(self.records.row, downloads=self.records.row.downloads + 1)

    async def summary(self) -> Any:
        return self.records.row


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
