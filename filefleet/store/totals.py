"""The counters behind ``GET /status`` (``core/health.StoreTotals``): a few aggregate
queries, each one pass over an indexed table, read in one transaction.

- files by state: one ``GROUP BY state`` over ``files``;
- chunk records and the bytes their replicas take: ``SUM(size * location_count)``
  (``location_count`` is kept by every location add and remove, see ``schema.py``);
- chunks being collected: those with the GC's mark;
- live chunks: those an uploading or active file references (``file_chunks (chunk_id)``);
- live chunks below R: the repair candidates (``queries.repair_candidates``) with fewer
  live replicas, as ``SqlStore.chunks_below`` finds them, counted instead of listed;
- live chunks with a single live replica: the same, with R = 2 and exactly one.

The last two (``replication_counts``) look only at chunks with few locations or with a
location on a silent node, so a metrics scrape reads them without the whole-table counts.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from filefleet.core.health import FILE_STATES, ReplicationCounts, StateTotals, StoreTotals
from filefleet.store import queries
from filefleet.store.schema import chunks, counters, files


async def store_totals(conn: AsyncConnection, replicas: int, cutoff: datetime) -> StoreTotals:
    by_state = {
        row.state: StateTotals(files=row.files, bytes=row.bytes or 0)
        for row in await conn.execute(
            select(
                files.c.state,
                func.count().label("files"),
                func.sum(func.coalesce(files.c.size, 0)).label("bytes"),
            ).group_by(files.c.state)
        )
    }
    held = (
        await conn.execute(
            select(
                func.count(), func.coalesce(func.sum(chunks.c.size * chunks.c.location_count), 0)
            )
        )
    ).one()
    marked = chunks.c.collecting_since.is_not(None)
    collecting = (
        await conn.execute(
            select(
                func.count(), func.coalesce(func.sum(chunks.c.size * chunks.c.location_count), 0)
            ).where(marked)
        )
    ).one()
    live_chunks = await _count_live(conn)
    replication = await replication_counts(conn, replicas, cutoff)
    reclaimed = await conn.scalar(
        select(counters.c.value).where(counters.c.name == "reclaimed_bytes")
    )
    return StoreTotals(
        files={state: by_state.get(state, StateTotals()) for state in FILE_STATES} | by_state,
        chunks=held[0],
        replica_bytes=int(held[1]),
        live_chunks=live_chunks,
        below=replication.below,
        single_copy=replication.single_copy,
        collecting_chunks=collecting[0],
        collecting_bytes=int(collecting[1]),
        reclaimed_bytes=int(reclaimed or 0),
    )


async def replication_counts(
    conn: AsyncConnection, replicas: int, cutoff: datetime
) -> ReplicationCounts:
    """Live chunks below R, and those with exactly one replica that counts."""
    # The two plans of SqlStore.chunks_below: with every node alive and serving, live
    # replicas are the locations; with a node silent or draining, one grouped count over
    # the candidates.
    silent = not await queries.every_node_counts(conn, cutoff)
    return ReplicationCounts(
        below=await _count_live(conn, _fewer_than(replicas, cutoff, silent)),
        single_copy=await _count_live(conn, _just_one(cutoff, silent)),
    )


async def _count_live(conn: AsyncConnection, *conditions: ColumnElement[bool]) -> int:
    """Live chunks (an uploading or active file references them, not being collected)
    that meet ``conditions``."""
    live = chunks.c.collecting_since.is_(None) & queries.referenced_by(
        files.c.state.in_(queries.LIVE_STATES)
    )
    query = select(func.count()).select_from(chunks).where(*conditions, live)
    return int(await conn.scalar(query) or 0)


def _fewer_than(replicas: int, cutoff: datetime, silent: bool) -> ColumnElement[bool]:
    if not silent:
        return chunks.c.location_count < replicas
    return chunks.c.id.in_(select(queries.below(replicas, cutoff).c.id))


def _just_one(cutoff: datetime, silent: bool) -> ColumnElement[bool]:
    if not silent:
        return chunks.c.location_count == 1
    short = queries.below(2, cutoff)
    return chunks.c.id.in_(select(short.c.id).where(short.c.live == 1))
