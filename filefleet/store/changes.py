"""One record locked for one transaction (``MetadataStore.change_file``/``change_chunk``):
the reads and writes the controller's rules ask for, over SQLAlchemy Core.

Locks: the file row first (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's ``BEGIN
IMMEDIATE`` already lets one writer in at a time), then chunk rows in id order (the order
of one upsert's VALUES), as every writer takes them, so two changes never deadlock.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from filefleet.core.errors import Conflict, InvalidInput, NotFound
from filefleet.core.models import ChunkRef, FileSummary
from filefleet.core.passwords import TryCount
from filefleet.store import queries
from filefleet.store.base import ChunkChange, ChunkOrders, FileChange, FileFields, FileRow
from filefleet.store.schema import chunk_locations, chunks, file_chunks, files


async def lock_file(conn: AsyncConnection, file_id: str) -> FileRow:
    row = (await conn.execute(select(files).where(files.c.id == file_id).with_for_update())).first()
    if row is None:
        raise NotFound(f"no file {file_id}")
    return FileRow(
        id=row.id, state=row.state, size=row.size, sha256=row.sha256,
        expires_at=row.expires_at, max_downloads=row.max_downloads, downloads=row.downloads,
        password_hash=row.password_hash,
        password_tries=TryCount(row.password_tries, row.password_tries_since),
    )  # fmt: skip


async def add_locations(conn: AsyncConnection, upsert: Any, pairs: set[tuple[str, str]]) -> int:
    """Insert the (chunk, node) locations not listed yet and count them in their chunks'
    ``location_count``: one INSERT for them all and one UPDATE per distinct increment
    (usually one in all), whatever the number of pairs. The chunk rows must exist and be
    locked by the caller. How many locations were new.

    A statement per pair (an INSERT and an UPDATE each) cost the controller ~1 ms of CPU
    per location on SQLite; the replicator records ~500 per GiB uploaded at R=2."""
    if not pairs:
        return 0
    rows = [{"chunk_id": c, "node_id": n} for c, n in sorted(pairs)]
    stmt = upsert(chunk_locations).on_conflict_do_nothing()
    # Only the rows this statement inserted come back: a location already listed is not
    # a new replica. The rows go as parameters of one statement (SQLAlchemy's
    # "insertmanyvalues" sends them as one multi-row INSERT): its SQL is the same for any
    # rows, so it is compiled once, where ``.values(rows)`` was compiled afresh each time.
    result = await conn.execute(stmt.returning(chunk_locations.c.chunk_id), rows)
    added = list(result.scalars())
    by_delta: dict[int, list[str]] = {}
    for chunk_id, delta in sorted(Counter(added).items()):
        by_delta.setdefault(delta, []).append(chunk_id)
    for delta, chunk_ids in by_delta.items():
        await conn.execute(
            update(chunks)
            .where(chunks.c.id.in_(chunk_ids))
            .values(location_count=chunks.c.location_count + delta)
        )
    return len(added)


class SqlFileChange(FileChange):
    def __init__(self, conn: AsyncConnection, upsert: Any, row: FileRow, now: datetime) -> None:
        self.conn = conn
        self.upsert = upsert  # the dialect's insert (ON CONFLICT)
        self.row = row
        self.now = now

    async def chunk_list(self, orders: set[int] | None = None) -> ChunkOrders:
        return await queries.chunk_list(self.conn, self.row.id, orders)

    async def reference_chunks(self, refs: list[ChunkRef]) -> list[str]:
        """One statement: the chunk rows upserted (so locked) in id order."""
        given = dict(sorted({(c.id, c.size) for c in refs}))
        if len(given) < len({c.id for c in refs}):
            raise InvalidInput("one chunk id given with two sizes")
        if not given:
            return []
        now = self.now
        insert_chunks = self.upsert(chunks)
        stmt = insert_chunks.on_conflict_do_update(
            index_elements=["id"], set_={"last_referenced": insert_chunks.excluded.last_referenced}
        ).returning(chunks.c.id, chunks.c.size, chunks.c.collecting_since)
        # Rows as parameters: one statement, compiled once (``add_locations`` says why).
        rows = [{"id": i, "size": size, "last_referenced": now} for i, size in given.items()]
        marked: list[str] = []
        for stored in sorted(await self.conn.execute(stmt, rows), key=lambda row: row.id):
            if stored.size != given[stored.id]:
                raise Conflict(f"chunk {stored.id} has {stored.size} bytes, not {given[stored.id]}")
            if stored.collecting_since is not None:
                marked.append(stored.id)
        return marked

    async def clear_collecting(self, chunk_ids: list[str]) -> None:
        await self.conn.execute(
            update(chunks).where(chunks.c.id.in_(chunk_ids)).values(collecting_since=None)
        )

    async def append(self, new: list[ChunkRef], given: list[ChunkRef]) -> None:
        conn = self.conn
        if new:
            rows = [
                {"file_id": self.row.id, "order": c.order, "chunk_id": c.id, "size": c.size}
                for c in new
            ]
            await conn.execute(insert(file_chunks), rows)
        pairs = {(c.id, node) for c in given for node in c.locations}
        await add_locations(conn, self.upsert, pairs)  # chunk rows locked: reference_chunks

    async def set_fields(self, fields: FileFields) -> None:
        values = {k: v for k, v in asdict(fields).items() if v is not None}
        values["updated_at"] = self.now
        await self.conn.execute(update(files).where(files.c.id == self.row.id).values(**values))

    async def count_password_tries(self, count: TryCount) -> None:
        await self.conn.execute(
            update(files)
            .where(files.c.id == self.row.id)
            .values(password_tries=count.tries, password_tries_since=count.since)
        )

    async def summary(self) -> FileSummary:
        found = await queries.load_summary(self.conn, self.row.id)
        assert found is not None  # the row is locked by this transaction
        return found

    async def count_download(self) -> None:
        # updated_at: the GC collects an exhausted file only a grace after its last
        # download began, so never while that download is in flight.
        await self.conn.execute(
            update(files)
            .where(files.c.id == self.row.id)
            .values(downloads=files.c.downloads + 1, updated_at=self.now)
        )


class SqlChunkChange(ChunkChange):
    def __init__(self, conn: AsyncConnection, chunk_id: str, collecting: bool, now: datetime):
        self.conn = conn
        self.chunk_id = chunk_id
        self.collecting = collecting
        self.now = now

    async def referenced_by_live_file(self, uploading_since: datetime) -> bool:
        live_file = (files.c.state == "active") | (
            (files.c.state == "uploading") & (files.c.updated_at >= uploading_since)
        )
        # Correlated to this chunk's row (without the WHERE it would ask whether any chunk
        # at all is referenced by a live file).
        referenced = select(queries.referenced_by(live_file)).where(chunks.c.id == self.chunk_id)
        return bool(await self.conn.scalar(referenced))

    async def mark_collecting(self) -> None:
        await self.conn.execute(
            update(chunks).where(chunks.c.id == self.chunk_id).values(collecting_since=self.now)
        )
        self.collecting = True


async def lock_chunk(conn: AsyncConnection, chunk_id: str, now: datetime) -> SqlChunkChange:
    # Lock the chunk row first: an append upserts (locks) it too, so either the append's
    # reference is committed before the mark's check, or the append waits and then sees
    # the mark (and answers 409).
    row = (
        await conn.execute(select(chunks).where(chunks.c.id == chunk_id).with_for_update())
    ).first()
    if row is None:
        raise NotFound(f"no chunk {chunk_id}")
    return SqlChunkChange(conn, chunk_id, row.collecting_since is not None, now)
