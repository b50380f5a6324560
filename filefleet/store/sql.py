"""``MetadataStore`` over SQLAlchemy Core: SQLite (aiosqlite) and PostgreSQL (asyncpg).

How concurrent updates keep each other's changes:
- writes run in ``_write()`` transactions: on SQLite ``BEGIN IMMEDIATE`` (one writer at a
  time, waiting up to the busy timeout); on PostgreSQL read-modify-writes first lock the
  row they decide on (``SELECT ... FOR UPDATE``), and set inserts are
  ``INSERT ... ON CONFLICT DO NOTHING``, so two adds of locations both stick;
- chunk rows are locked in id order, file row first, so two appends never deadlock
  (``changes.py``: one record locked for one transaction, for the controller's rules);
- counters are single ``UPDATE``s (``value = value + n``).
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import delete, exists, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from filefleet.core.errors import (
    Conflict,
    Forbidden,
    NotFound,
    Unavailable,
)
from filefleet.core.file_query import FileQuery
from filefleet.core.health import ReplicationCounts, StoreTotals
from filefleet.core.models import (
    BundleCreate,
    ChunkInfo,
    FileCreate,
    FileInfo,
    FileList,
    FileSummary,
    NodeInfo,
    NodeReport,
    NodeStatus,
    PingRequest,
    utcnow,
)
from filefleet.store import bundles, changes, node_rows, queries
from filefleet.store.base import ChunkChange, FileChange, MetadataStore
from filefleet.store.engine import WRITE, create_engine, migrate
from filefleet.store.schema import (
    chunk_locations,
    chunks,
    counters,
    file_chunks,
    file_members,
    files,
    nodes,
)
from filefleet.store.totals import replication_counts, store_totals

Clock = Callable[[], datetime]
T = TypeVar("T")
_CREATE_FIELDS = (
    "name", "content_type", "expires_at", "max_downloads", "delete_token_sha256", "password_hash",
)  # fmt: skip


async def open_store(url: str, *, clock: Clock = utcnow, run_migrations: bool = True) -> SqlStore:
    """Connect to ``sqlite:///path`` or ``postgresql://...`` and migrate to the newest schema."""
    engine = create_engine(url)
    store = SqlStore(engine, clock=clock)
    if run_migrations:
        try:
            async with store._translated():
                await migrate(engine)
        except BaseException:
            await engine.dispose()
            raise
    return store


class SqlStore(MetadataStore):
    def __init__(self, engine: AsyncEngine, *, clock: Clock = utcnow) -> None:
        self.engine = engine
        self.clock = clock
        self._writer = engine.execution_options(**{WRITE: True})
        dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
        self._upsert: Any = dialect.insert

    async def close(self) -> None:
        await self.engine.dispose()

    @asynccontextmanager
    async def _translated(self) -> AsyncIterator[None]:
        """Database exceptions become filefleet errors where they enter our code.

        Everything a database outage raises is Unavailable (503, retryable): the driver's
        errors (DBAPIError: a session ended by a restart, "the database system is starting
        up", a read-only server after a failover), a refused or timed-out connection
        (OSError, TimeoutError: asyncpg's own, not wrapped), a pool with no free connection
        in time (SQLAlchemy's TimeoutError)."""
        try:
            yield
        except IntegrityError as exc:
            raise Conflict(f"conflicting concurrent change: {exc.orig}") from exc
        except (DBAPIError, OSError, PoolTimeout) as exc:
            detail = getattr(exc, "orig", None) or exc
            raise Unavailable(
                f"metadata store unavailable: {type(exc).__name__}: {str(detail)[:200]}"
            ) from exc

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        async with self._translated(), self.engine.connect() as conn:
            yield conn

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        """One write transaction: committed when the block ends, rolled back on an error."""
        async with self._translated(), self._writer.begin() as conn:
            yield conn

    def _cutoff(self, seconds: float) -> datetime:
        return self.clock() - timedelta(seconds=seconds)

    # --- files ---

    @asynccontextmanager
    async def change_file(self, file_id: str) -> AsyncIterator[FileChange]:
        async with self._write() as conn:
            row = await changes.lock_file(conn, file_id)
            yield changes.SqlFileChange(conn, self._upsert, row, self.clock())

    @asynccontextmanager
    async def change_chunk(self, chunk_id: str) -> AsyncIterator[ChunkChange]:
        async with self._write() as conn:
            yield await changes.lock_chunk(conn, chunk_id, self.clock())

    async def create_file(self, record: FileCreate) -> tuple[FileInfo, bool]:
        now = self.clock()
        values = record.model_dump(exclude={"size"})
        values.update(
            size=record.size, uploaded_at=now, updated_at=now, state="uploading", downloads=0
        )
        async with self._write() as conn:
            # One statement: of concurrent creates with one id exactly one inserts.
            stmt = self._upsert(files).values(**values).on_conflict_do_nothing()
            created = (await conn.execute(stmt)).rowcount == 1
            row = (await conn.execute(select(files).where(files.c.id == record.id))).one()
            # A record this statement created has no chunks or members yet: its row is all
            # of it (three statements fewer than reading it back, on every upload's path).
            stored = (
                queries.file_info(row, []) if created else await queries.load_file(conn, record.id)
            )
        assert stored is not None
        if not created:
            same = all(getattr(row, f) == getattr(record, f) for f in _CREATE_FIELDS)
            if not same or (record.size is not None and row.size != record.size):
                raise Conflict(f"file {record.id} already exists with different content")
        return stored, created

    async def get_summary(self, file_id: str) -> FileSummary:
        async with self._read() as conn:
            return _found(await queries.load_summary(conn, file_id), f"no file {file_id}")

    async def _count_locations(self, conn: AsyncConnection, chunk_id: str, delta: int) -> None:
        """Keep ``chunks.location_count``: an increment (evaluated on the newest row version
        on PostgreSQL), so concurrent changes of one chunk's locations all count."""
        await conn.execute(
            update(chunks)
            .where(chunks.c.id == chunk_id)
            .values(location_count=chunks.c.location_count + delta)
        )

    async def get_file(self, file_id: str) -> FileInfo:
        async with self._read() as conn:
            return _found(await queries.load_file(conn, file_id), f"no file {file_id}")

    async def list_files(self, query: FileQuery) -> FileList:
        limit = query.limit
        select_page = select(files).order_by(files.c.id).limit(limit + 1)
        if query.state is not None:
            select_page = select_page.where(files.c.state == query.state)
        if query.expired:
            select_page = select_page.where(files.c.expires_at <= self.clock())
        if query.exhausted:
            select_page = select_page.where(
                files.c.max_downloads.is_not(None), files.c.downloads >= files.c.max_downloads
            )
        if query.idle is not None:
            select_page = select_page.where(files.c.updated_at <= self._cutoff(query.idle))
        if query.sha256 is not None:
            select_page = select_page.where(files.c.sha256 == query.sha256)
        if query.after is not None:
            select_page = select_page.where(files.c.id > query.after)
        async with self._read() as conn:
            rows = list(await conn.execute(select_page))
            page = rows[:limit]
            ids = [r.id for r in page]
            refs = await queries.chunk_refs(conn, ids) if query.with_chunks else {}
        infos = [queries.file_info(r, refs.get(r.id, [])) for r in page]
        return FileList(files=infos, next=page[-1].id if len(rows) > limit else None)

    async def mark_deleting(self, file_id: str, token_sha256: str | None = None) -> FileInfo:
        async with self._write() as conn:
            row = (
                await conn.execute(select(files).where(files.c.id == file_id).with_for_update())
            ).first()
            if row is None:
                raise NotFound(f"no file {file_id}")
            if token_sha256 is not None and not hmac.compare_digest(
                token_sha256, row.delete_token_sha256
            ):
                raise Forbidden("wrong delete token")
            await conn.execute(
                update(files)
                .where(files.c.id == file_id)
                .values(state="deleting", updated_at=self.clock())
            )
        return await self.get_file(file_id)

    async def delete_file(self, file_id: str) -> bool:
        # One transaction: the chunk list, then the file row; a crash leaves both or neither.
        # Chunk rows and their locations stay: they are the GC's pending deletes.
        async with self._write() as conn:
            await conn.execute(delete(file_chunks).where(file_chunks.c.file_id == file_id))
            await conn.execute(delete(file_members).where(file_members.c.file_id == file_id))
            result = await conn.execute(delete(files).where(files.c.id == file_id))
        return bool(result.rowcount == 1)

    async def create_bundle(self, bundle: BundleCreate) -> tuple[FileInfo, bool]:
        now = self.clock()
        async with self._write() as conn:
            created = not await bundles.existing_bundle(conn, bundle)
            if created:
                await bundles.insert_bundle(conn, bundle, now)
        return await self.get_file(bundle.id), created

    # --- nodes ---

    async def ping(self, node: PingRequest) -> NodeInfo:
        values = {**node.model_dump(), "last_ping": self.clock()}
        stmt = self._upsert(nodes).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=["id"], set_={k: v for k, v in values.items() if k != "id"}
        )
        async with self._write() as conn:
            row = (await conn.execute(stmt.returning(*nodes.c))).one()
        return node_rows.node_info(row)

    async def active_nodes(self, ttl: float) -> list[NodeInfo]:
        query = select(nodes).where(nodes.c.last_ping >= self._cutoff(ttl)).order_by(nodes.c.id)
        async with self._read() as conn:
            return [node_rows.node_info(row) for row in await conn.execute(query)]

    async def all_nodes(self, ttl: float) -> list[NodeStatus]:
        cutoff = self._cutoff(ttl)
        async with self._read() as conn:
            rows = list(await conn.execute(select(nodes).order_by(nodes.c.id)))
        return [node_rows.node_status(r, cutoff) for r in rows]

    async def set_draining(self, node_id: str, draining: bool) -> None:
        async with self._write() as conn:
            if not await node_rows.set_state(conn, node_id, draining):
                raise NotFound(f"no node {node_id}")

    async def node_report(self, node_id: str, replicas: int, ttl: float) -> NodeReport:
        async with self._read() as conn:
            found = await node_rows.report(conn, node_id, replicas, self._cutoff(ttl))
        if found is None:
            raise NotFound(f"no node {node_id}")
        return found

    async def drop_node_locations(self, node_id: str, limit: int) -> list[str]:
        async with self._write() as conn:
            return await node_rows.drop_locations(conn, node_id, limit)

    async def delete_node(self, node_id: str) -> int:
        async with self._write() as conn:
            existed, dropped = await node_rows.delete_node(conn, node_id)
        if not existed:
            raise NotFound(f"no node {node_id}")
        return dropped

    # --- chunks ---

    async def add_location(self, chunk_id: str, node_id: str) -> bool:
        async with self._write() as conn:
            if await conn.scalar(select(chunks.c.id).where(chunks.c.id == chunk_id)) is None:
                raise NotFound(f"no chunk {chunk_id}")
            stmt = self._upsert(chunk_locations).values(chunk_id=chunk_id, node_id=node_id)
            result = await conn.execute(stmt.on_conflict_do_nothing())
            added = bool(result.rowcount == 1)
            if added:
                await self._count_locations(conn, chunk_id, 1)
        return added

    async def add_locations(self, pairs: list[tuple[str, str]]) -> tuple[int, list[str]]:
        ids = sorted({chunk for chunk, _ in pairs})
        async with self._write() as conn:
            # The chunk rows locked in id order, as every writer takes them: no deadlock.
            lock = select(chunks.c.id).where(chunks.c.id.in_(ids)).order_by(chunks.c.id)
            found = set((await conn.execute(lock.with_for_update())).scalars())
            kept = {(chunk, node) for chunk, node in pairs if chunk in found}
            added = await changes.add_locations(conn, self._upsert, kept)
        return added, [c for c in ids if c not in found]

    async def remove_location(
        self, chunk_id: str, node_id: str, *, reclaimed: bool = False
    ) -> bool:
        async with self._write() as conn:
            result = await conn.execute(
                delete(chunk_locations).where(
                    chunk_locations.c.chunk_id == chunk_id, chunk_locations.c.node_id == node_id
                )
            )
            removed = bool(result.rowcount == 1)
            if removed:
                await self._count_locations(conn, chunk_id, -1)
                if reclaimed:
                    size = await conn.scalar(select(chunks.c.size).where(chunks.c.id == chunk_id))
                    await self._add_counter(conn, "reclaimed_bytes", int(size or 0))
        return removed

    async def _add_counter(self, conn: AsyncConnection, name: str, amount: int) -> None:
        """One statement, so two controllers adding at once both count."""
        stmt = self._upsert(counters).values(name=name, value=amount)
        await conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["name"], set_={"value": counters.c.value + stmt.excluded.value}
            )
        )

    async def chunks_on_node(
        self, node_id: str, after: str | None, until: str | None, limit: int
    ) -> list[str]:
        column = chunk_locations.c.chunk_id
        query = select(column).where(chunk_locations.c.node_id == node_id)
        if after is not None:
            query = query.where(column > after)
        if until is not None:
            query = query.where(column <= until)
        async with self._read() as conn:
            rows = await conn.execute(query.order_by(column).limit(limit))
            return [row[0] for row in rows]

    async def get_chunks(self, chunk_ids: list[str], live_ttl: float) -> list[ChunkInfo]:
        async with self._read() as conn:
            return await queries.chunk_infos(conn, chunk_ids, self._cutoff(live_ttl))

    async def get_chunk(self, chunk_id: str, live_ttl: float) -> ChunkInfo:
        async with self._read() as conn:
            found = await queries.chunk_infos(conn, [chunk_id], self._cutoff(live_ttl))
        if not found:
            raise NotFound(f"no chunk {chunk_id}")
        return found[0]

    async def chunks_below(self, replicas: int, live_ttl: float, limit: int) -> list[ChunkInfo]:
        async with self._read() as conn:
            return await queries.chunks_below(conn, replicas, self._cutoff(live_ttl), limit)

    # --- the fleet at a glance ---

    async def totals(self, replicas: int, live_ttl: float) -> StoreTotals:
        async with self._read() as conn:
            return await store_totals(conn, replicas, self._cutoff(live_ttl))

    async def replication_counts(self, replicas: int, live_ttl: float) -> ReplicationCounts:
        async with self._read() as conn:
            return await replication_counts(conn, replicas, self._cutoff(live_ttl))

    async def delete_chunk(self, chunk_id: str) -> bool:
        async with self._write() as conn:
            result = await conn.execute(
                delete(chunks).where(
                    chunks.c.id == chunk_id,
                    chunks.c.collecting_since.is_not(None),
                    ~exists().where(file_chunks.c.chunk_id == chunk_id),
                    ~exists().where(chunk_locations.c.chunk_id == chunk_id),
                )
            )
        return bool(result.rowcount == 1)


def _found(value: T | None, missing: str) -> T:
    """``value``, or NotFound saying what is ``missing``."""
    if value is None:
        raise NotFound(missing)
    return value
