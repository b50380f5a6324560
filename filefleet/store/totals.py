"""The counters behind ``GET /status`` (``core/health.StoreTotals``): a few aggregate
queries, each one pass over an indexed table, read in one transaction.

- files by state: one ``GROUP BY state`` over ``files``;
- chunk records and the bytes their replicas take: ``SUM(size * location_count)``
  (``location_count`` is kept by every location add and remove, see ``schema.py``);
- chunks being collected: those with the GC's mark;
- live chunks: those an uploading or active file references (``file_chunks (chunk_id)``);
- live chunks below R: the repair candidates (``queries.repair_candidates``) with fewer
  live replicas, as ``SqlStore.chunks_below`` finds them, counted instead of listed.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from filefleet.core.health import FILE_STATES, StateTotals, StoreTotals
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
    live = chunks.c.collecting_since.is_(None) & queries.referenced_by(
        files.c.state.in_(queries.LIVE_STATES)
    )
    live_chunks = await conn.scalar(select(func.count()).select_from(chunks).where(live))
    # The two plans of SqlStore.chunks_below: with every node alive and serving, live
    # replicas are the locations; with a node silent or draining, one grouped count over
    # the candidates.
    short = (
        chunks.c.location_count < replicas
        if await queries.every_node_counts(conn, cutoff)
        else chunks.c.id.in_(select(queries.below(replicas, cutoff).c.id))
    )
    below = await conn.scalar(select(func.count()).select_from(chunks).where(short, live))
    reclaimed = await conn.scalar(
        select(counters.c.value).where(counters.c.name == "reclaimed_bytes")
    )
    return StoreTotals(
        files={state: by_state.get(state, StateTotals()) for state in FILE_STATES} | by_state,
        chunks=held[0],
        replica_bytes=int(held[1]),
        live_chunks=live_chunks or 0,
        below=below or 0,
        collecting_chunks=collecting[0],
        collecting_bytes=int(collecting[1]),
        reclaimed_bytes=int(reclaimed or 0),
    )
