"""The store's node rows: check-ins, the operator's drain, and forgetting a node.

A node's life, as the metadata sees it:

    (first ping) ──► serving ──drain──► draining ──forget──► (no row, no locations)
                        ▲                  │
                        └────undrain───────┘     forget also from serving (a dead node)

Whether a node is *active* is not stored: it is judged from ``last_ping`` (the node TTL)
each time. ``state`` is the operator's word: a draining node still serves reads, takes no
new chunk, and its replicas stop counting toward R (``queries.counts_toward_r``), so
repair copies them elsewhere. Forgetting removes the row and every location naming the
node, so its chunks drop below R at once and repair copies them from their other
replicas (no ``--repair-after`` wait: the operator said the node is gone).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from filefleet.core.models import NodeInfo, NodeReport, NodeStatus
from filefleet.store import queries
from filefleet.store.queries import DRAINING
from filefleet.store.schema import chunk_locations, chunks, files, nodes

SERVING = "serving"


def node_info(row: Row[Any]) -> NodeInfo:
    return NodeInfo(**_fields(row))


def node_status(row: Row[Any], cutoff: datetime) -> NodeStatus:
    return NodeStatus(**_fields(row), active=row.last_ping >= cutoff)


def _fields(row: Row[Any]) -> dict[str, Any]:
    values = row._asdict()
    values["draining"] = values.pop("state") == DRAINING
    return values


async def set_state(conn: AsyncConnection, node_id: str, draining: bool) -> bool:
    """Drain the node, or return it to service; False if no such node."""
    result = await conn.execute(
        update(nodes).where(nodes.c.id == node_id).values(state=DRAINING if draining else SERVING)
    )
    return bool(result.rowcount == 1)


async def report(
    conn: AsyncConnection, node_id: str, replicas: int, cutoff: datetime
) -> NodeReport | None:
    """The node, the chunks listed on it, and how many of those are live chunks with fewer
    than ``replicas`` replicas that count: one pass over the node's locations (indexed),
    each with two index lookups. None if no such node."""
    row = (await conn.execute(select(nodes).where(nodes.c.id == node_id))).first()
    if row is None:
        return None
    on_node = chunk_locations.c.node_id == node_id
    listed = await conn.scalar(select(func.count()).select_from(chunk_locations).where(on_node))
    waiting = await conn.scalar(
        select(func.count())
        .select_from(chunk_locations.join(chunks, chunks.c.id == chunk_locations.c.chunk_id))
        .where(
            on_node,
            chunks.c.collecting_since.is_(None),
            queries.referenced_per_row(files.c.state.in_(queries.LIVE_STATES)),
            queries.live_replicas(cutoff) < replicas,
        )
    )
    return NodeReport(
        **node_status(row, cutoff).model_dump(), listed=listed or 0, waiting=waiting or 0
    )


async def drop_locations(conn: AsyncConnection, node_id: str, limit: int | None) -> list[str]:
    """Delete up to ``limit`` (None: all) of the node's locations, lowest chunk ids first,
    and count each chunk one location fewer. Returns the chunk ids.

    The rows deleted are exactly those counted down (``DELETE ... RETURNING``): a location
    added meanwhile by another controller is neither deleted nor miscounted."""
    page = select(chunk_locations.c.chunk_id).where(chunk_locations.c.node_id == node_id)
    if limit is not None:
        page = page.order_by(chunk_locations.c.chunk_id).limit(limit)
    dropped = sorted(
        await conn.scalars(
            delete(chunk_locations)
            .where(chunk_locations.c.node_id == node_id, chunk_locations.c.chunk_id.in_(page))
            .returning(chunk_locations.c.chunk_id)
        )
    )
    for start in range(0, len(dropped), 1000):  # bounded statements for a node's last rows
        batch = chunks.c.id.in_(dropped[start : start + 1000])
        # Chunk rows locked in id order, as every other writer locks them: no deadlock.
        await conn.execute(select(chunks.c.id).where(batch).order_by(chunks.c.id).with_for_update())
        await conn.execute(
            update(chunks).where(batch).values(location_count=chunks.c.location_count - 1)
        )
    return dropped


async def delete_node(conn: AsyncConnection, node_id: str) -> tuple[bool, int]:
    """Remove the node's row and any location still naming it (added since the last page
    was dropped). Returns (whether the row existed, locations dropped here)."""
    dropped = await drop_locations(conn, node_id, None)
    result = await conn.execute(delete(nodes).where(nodes.c.id == node_id))
    return bool(result.rowcount == 1), len(dropped)
