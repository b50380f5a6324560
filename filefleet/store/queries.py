"""Read queries shared by the store's methods: rows -> the models the API returns."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Row,
    and_,
    case,
    exists,
    func,
    literal,
    or_,
    select,
    union,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from filefleet.core.models import BundleMember, ChunkInfo, ChunkRef, FileInfo, FileSummary
from filefleet.store.schema import chunk_locations, chunks, file_chunks, file_members, files, nodes

LIVE_STATES = ("uploading", "active")
DRAINING = "draining"  # nodes.state of a node being emptied; the other state is "serving"


def file_info(row: Row[Any], chunk_refs: list[ChunkRef]) -> FileInfo:
    return FileInfo(
        id=row.id,
        name=row.name,
        size=row.size,
        sha256=row.sha256,
        content_type=row.content_type,
        uploaded_at=row.uploaded_at,
        expires_at=row.expires_at,
        state=row.state,
        max_downloads=row.max_downloads,
        downloads=row.downloads,
        protected=row.password_hash is not None,
        chunks=chunk_refs,
    )


async def chunk_refs(conn: AsyncConnection, file_ids: Sequence[str]) -> dict[str, list[ChunkRef]]:
    """Each file's chunks in order, with their locations (sorted node ids)."""
    if not file_ids:
        return {}
    query = (
        select(
            file_chunks.c.file_id,
            file_chunks.c.order,
            file_chunks.c.chunk_id,
            file_chunks.c.size,
            chunk_locations.c.node_id,
        )
        .select_from(
            file_chunks.outerjoin(
                chunk_locations, chunk_locations.c.chunk_id == file_chunks.c.chunk_id
            )
        )
        .where(file_chunks.c.file_id.in_(file_ids))
        .order_by(file_chunks.c.file_id, file_chunks.c.order, chunk_locations.c.node_id)
    )
    result: dict[str, list[ChunkRef]] = defaultdict(list)
    for row in await conn.execute(query):
        refs = result[row.file_id]
        if not refs or refs[-1].order != row.order:
            refs.append(ChunkRef(id=row.chunk_id, order=row.order, size=row.size))
        if row.node_id is not None:
            refs[-1].locations.append(row.node_id)
    return result


async def load_file(conn: AsyncConnection, file_id: str) -> FileInfo | None:
    # Whether the file is a bundle comes with its row (an indexed EXISTS): a single file,
    # nearly every one, costs no query for members it does not have.
    is_bundle = select(file_members.c.file_id).where(file_members.c.file_id == files.c.id)
    query = select(files, is_bundle.exists().label("is_bundle")).where(files.c.id == file_id)
    row = (await conn.execute(query)).first()
    if row is None:
        return None
    refs = await chunk_refs(conn, [file_id])
    info = file_info(row, refs.get(file_id, []))
    if row.is_bundle:
        info.members = await bundle_members(conn, file_id)
    return info


async def bundle_members(conn: AsyncConnection, file_id: str) -> list[BundleMember]:
    """A bundle's files in order; none for a single file."""
    query = (
        select(file_members)
        .where(file_members.c.file_id == file_id)
        .order_by(file_members.c.position)
    )
    return [
        BundleMember(
            name=r.name, size=r.size, sha256=r.sha256, crc32=r.crc32, content_type=r.content_type
        )
        for r in await conn.execute(query)
    ]


async def load_summary(conn: AsyncConnection, file_id: str) -> FileSummary | None:
    """The record and its chunk count, in one query (the answer of every append)."""
    count = (
        select(func.count())
        .where(file_chunks.c.file_id == files.c.id)
        .scalar_subquery()
        .label("chunk_count")
    )
    row = (await conn.execute(select(files, count).where(files.c.id == file_id))).first()
    if row is None:
        return None
    return FileSummary(
        **file_info(row, []).model_dump(exclude={"chunks"}), chunk_count=row.chunk_count
    )


async def chunk_list(
    conn: AsyncConnection, file_id: str, orders: Collection[int] | None = None
) -> dict[int, tuple[str, int]]:
    """order -> (chunk id, size) of a file's chunks; only ``orders`` when given."""
    query = select(file_chunks.c.order, file_chunks.c.chunk_id, file_chunks.c.size).where(
        file_chunks.c.file_id == file_id
    )
    if orders is not None:
        query = query.where(file_chunks.c.order.in_(sorted(orders)))
    return {row.order: (row.chunk_id, row.size) for row in await conn.execute(query)}


def counts_toward_r(cutoff: datetime) -> ColumnElement[bool]:
    """Whether a node's replicas count toward R: it pinged since ``cutoff`` and is not
    draining (a draining node still serves reads, but repair copies its chunks elsewhere
    as if it were gone)."""
    return and_(nodes.c.last_ping >= cutoff, nodes.c.state != DRAINING)


def uncounted_nodes(cutoff: datetime) -> Any:
    """Ids of the nodes whose replicas do not count: silent since ``cutoff``, or draining."""
    return select(nodes.c.id).where(or_(nodes.c.last_ping < cutoff, nodes.c.state == DRAINING))


async def every_node_counts(conn: AsyncConnection, cutoff: datetime) -> bool:
    """True when no node is silent or draining: then a chunk's live replicas are simply its
    locations, and the quick plans of repair and totals apply."""
    found = await conn.scalar(select(func.count()).select_from(uncounted_nodes(cutoff).subquery()))
    return not found


def live_replicas(cutoff: datetime) -> Any:
    """Correlated count of a chunk's locations that count toward R (``counts_toward_r``)."""
    return (
        select(func.count())
        .select_from(chunk_locations.join(nodes, nodes.c.id == chunk_locations.c.node_id))
        .where(chunk_locations.c.chunk_id == chunks.c.id, counts_toward_r(cutoff))
        .scalar_subquery()
    )


def repair_candidates(replicas: int, cutoff: datetime) -> Any:
    """Ids of the chunks that may have fewer than ``replicas`` live replicas: those with
    fewer locations at all (``chunks.location_count``, indexed) and those with a location
    on a node silent since ``cutoff`` or draining (``chunk_locations.node_id``, indexed).
    Every other chunk has ``replicas`` locations on nodes that count, so repair never
    counts the replicas of a healthy chunk. (Locations name registered nodes: a node pings
    before it is offered a chunk, and forgetting a node deletes its locations with it.)"""
    return union(
        select(chunks.c.id.label("id")).where(chunks.c.location_count < replicas),
        select(chunk_locations.c.chunk_id.label("id")).where(
            chunk_locations.c.node_id.in_(uncounted_nodes(cutoff))
        ),
    )


def below_by_live(replicas: int, cutoff: datetime, limit: int, offset: int) -> Any:
    """Ids of chunks with fewer than ``replicas`` locations that count toward R,
    fewest first then by id (see ``below``)."""
    both = below(replicas, cutoff)
    return select(both.c.id).order_by(both.c.live, both.c.id).limit(limit).offset(offset)


def below(replicas: int, cutoff: datetime) -> Any:
    """(id, live) of the chunks with fewer than ``replicas`` locations that count toward R
    (``counts_toward_r``): the repair candidates' locations counted in one grouped pass,
    plus the chunks with no location left at all (they count 0)."""
    live = func.sum(case((counts_toward_r(cutoff), 1), else_=0))
    located = (
        select(chunk_locations.c.chunk_id.label("id"), live.label("live"))
        .select_from(chunk_locations.join(nodes, nodes.c.id == chunk_locations.c.node_id))
        .where(chunk_locations.c.chunk_id.in_(repair_candidates(replicas, cutoff)))
        .group_by(chunk_locations.c.chunk_id)
        .having(live < replicas)
    )
    unlocated = select(chunks.c.id.label("id"), literal(0).label("live")).where(
        chunks.c.location_count == 0
    )
    return union_all(located, unlocated).subquery()


def referenced_per_row(file_condition: ColumnElement[bool]) -> ColumnElement[bool]:
    """``referenced_by`` written so that PostgreSQL evaluates it per row (a subquery with
    LIMIT is never turned into a semi-join): for a few candidate chunks, a few index
    lookups instead of a hash over every file's chunk list."""
    first = (
        select(file_chunks.c.file_id)
        .select_from(file_chunks.join(files, files.c.id == file_chunks.c.file_id))
        .where(and_(file_chunks.c.chunk_id == chunks.c.id, file_condition))
        .limit(1)
        .scalar_subquery()
    )
    return first.is_not(None)


def referenced_by(file_condition: ColumnElement[bool]) -> ColumnElement[bool]:
    """EXISTS a file matching ``file_condition`` whose chunk list names ``chunks.id``."""
    return exists(
        select(file_chunks.c.file_id)
        .select_from(file_chunks.join(files, files.c.id == file_chunks.c.file_id))
        .where(and_(file_chunks.c.chunk_id == chunks.c.id, file_condition))
    )


async def chunk_infos(
    conn: AsyncConnection, chunk_ids: Sequence[str], cutoff: datetime
) -> list[ChunkInfo]:
    """ChunkInfo for each id found, in the order given."""
    if not chunk_ids:
        return []
    references = (
        select(func.count())
        .select_from(file_chunks)
        .where(file_chunks.c.chunk_id == chunks.c.id)
        .scalar_subquery()
    )
    rows = await conn.execute(
        select(
            chunks.c.id,
            chunks.c.size,
            chunks.c.collecting_since,
            live_replicas(cutoff).label("live"),
            references.label("references"),
        ).where(chunks.c.id.in_(chunk_ids))
    )
    found = {row.id: row for row in rows}
    locations: dict[str, list[str]] = defaultdict(list)
    for loc in await conn.execute(
        select(chunk_locations.c.chunk_id, chunk_locations.c.node_id)
        .where(chunk_locations.c.chunk_id.in_(chunk_ids))
        .order_by(chunk_locations.c.node_id)
    ):
        locations[loc.chunk_id].append(loc.node_id)
    return [
        ChunkInfo(
            id=cid,
            size=found[cid].size,
            locations=locations[cid],
            live=found[cid].live,
            references=found[cid].references,
            collecting=found[cid].collecting_since is not None,
        )
        for cid in chunk_ids
        if cid in found
    ]


async def chunks_below(
    conn: AsyncConnection, replicas: int, cutoff: datetime, limit: int
) -> list[ChunkInfo]:
    """Chunks of live files, not being collected, with fewer than ``replicas`` replicas
    that count, fewest first. Two plans, by what the fleet looks like:

    - every node alive and serving: the candidates are the few chunks with fewer than R
      locations (an index); each is checked with index lookups;
    - a node silent or draining: it may hold a third of all chunks, all candidates; their
      live replicas are counted in one grouped pass, in pages, each page then filtered.
    """
    wanted = and_(
        chunks.c.collecting_since.is_(None),
        referenced_per_row(files.c.state.in_(LIVE_STATES)),
    )
    if await every_node_counts(conn, cutoff):
        live = live_replicas(cutoff)
        query = (
            select(chunks.c.id)
            .where(chunks.c.location_count < replicas, wanted, live < replicas)
            .order_by(live, chunks.c.id)
            .limit(limit)
        )
        return await chunk_infos(conn, list(await conn.scalars(query)), cutoff)
    page = max(2 * limit, 100)
    found: list[str] = []
    for offset in itertools.count(0, page):
        ids = list(await conn.scalars(below_by_live(replicas, cutoff, page, offset)))
        keep = set(await conn.scalars(select(chunks.c.id).where(chunks.c.id.in_(ids), wanted)))
        found += [i for i in ids if i in keep][: limit - len(found)]
        if len(found) >= limit or len(ids) < page:
            break
    return await chunk_infos(conn, found, cutoff)
