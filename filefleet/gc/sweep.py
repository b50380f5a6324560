"""The garbage collector's steps (DESIGN §8), as plain async functions over a ``Fleet``.

A pass (``worker.GarbageCollector.run_once``) calls them in this order:

1. ``files_to_collect``: expired active files, files marked ``deleting`` (by their owner or
   an earlier pass), and ``uploading`` files untouched for longer than the grace.
2. ``collect_file`` for each: mark it ``deleting`` (never served again), then
   ``collect_chunk`` for each of its chunks, then remove its record once every replica
   on an active node is gone, then the records of chunks left with no location.
3. ``sweep_node`` for each active node: page through its ``GET /chunks`` and delete what
   no file references (orphans, and pending deletes of a node that came back); beside
   each page, drop the locations of chunks the node is listed for but no longer holds
   (``missing.py``), so repair restores them.

How a chunk is collected, and why an upload re-using it never loses it (``collect_chunk``):

    mark collecting   (controller; refused while a live file references the chunk)
    for each location on an active node:
        re-check the mark       (an append of the chunk clears it: the chunk is claimed)
        DELETE on the node      (?grace=: refused, 409, if stored or touched within it)
        remove the location     (only after the node's delete succeeded)

What a crash between two writes leaves behind, and who cleans it up:
- after the node's delete, before removing the location: a location naming a replica
  that is gone; the next pass deletes again (idempotent: "not here" is success) and
  removes it; a reader skips the missing replica meanwhile.
- after marking, before any delete: a marked chunk; the next pass carries on, or an
  upload's append clears the mark.
- after removing the file's record, before removing its chunk records: chunk records with
  no file and no location. They name no bytes; they are removed when the chunk is stored
  and collected again.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, fields

from filefleet.core.errors import Conflict, FilefleetError, NotFound
from filefleet.core.file_query import FileQuery
from filefleet.core.models import ChunkInfo, FileInfo, FileState
from filefleet.gc.missing import drop_missing
from filefleet.http.controller_api import ControllerClient
from filefleet.http.node_api import NodeClient

log = logging.getLogger(__name__)

PAGE = 100  # files per controller page
NODE_PAGE = 1000  # chunk ids per node page


@dataclass
class GCCounts:
    """What the GC did; one per pass (``run_once`` returns it) and one running total."""

    files_marked: int = 0  # files newly marked `deleting` by the GC
    files_collected: int = 0  # file records removed
    chunks_deleted: int = 0  # replicas deleted from a node (location removed)
    freed_bytes: int = 0  # their bytes (an orphan's size is not known: counted apart)
    chunk_records_removed: int = 0  # chunk records removed (no file, no location left)
    deletes_pending: int = 0  # replicas left on inactive nodes, to delete when they return
    orphans_deleted: int = 0  # chunks deleted from a node that had no record at all
    lost_replicas: int = 0  # locations dropped: the node was listed but did not hold it
    conflicts: int = 0  # node refused (within grace), or an upload claimed a marked chunk
    failures: int = 0  # a node or the controller failed a step; retried next pass

    def add(self, other: GCCounts) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class Fleet:
    """What one pass works with: the controller, the nodes, and the grace."""

    controller: ControllerClient
    nodes: NodeClient
    grace: float
    urls: dict[str, str] = field(default_factory=dict)  # node id -> base URL (every known)
    active: set[str] = field(default_factory=set)  # node ids active now

    async def refresh_nodes(self) -> None:
        known = await self.controller.all_nodes()
        self.urls = {n.id: n.url.rstrip("/") for n in known}
        self.active = {n.id for n in known if n.active}


# --- 1. which files ---------------------------------------------------------------------


async def files_to_collect(fleet: Fleet) -> AsyncIterator[FileInfo]:
    """Expired active files, deleting files, uploads abandoned for longer than the grace, and
    files out of downloads whose last download began longer than the grace ago (so never
    while that download is still streaming).

    An ``uploading`` file is never taken for its expiry (a long upload may pass it before it
    finishes, and its expiry is reset when it completes), only for being idle.
    """
    seen: set[str] = set()
    listings = (
        _pages(fleet, state="active", expired=True),
        _pages(fleet, state="deleting"),
        _pages(fleet, state="uploading", idle=fleet.grace),
        _pages(fleet, state="active", exhausted=True, idle=fleet.grace),
    )
    for listing in listings:
        async for info in listing:
            if info.id not in seen:
                seen.add(info.id)
                yield info


async def _pages(
    fleet: Fleet,
    *,
    state: FileState,
    expired: bool = False,
    exhausted: bool = False,
    idle: float | None = None,
) -> AsyncIterator[FileInfo]:
    after: str | None = None
    while True:
        query = FileQuery(state=state, expired=expired, exhausted=exhausted, idle=idle,
                          after=after, limit=PAGE)  # fmt: skip
        page = await fleet.controller.list_files(query)
        for info in page.files:
            yield info
        if page.next is None:
            return
        after = page.next


# --- 2. one file ------------------------------------------------------------------------


async def collect_file(fleet: Fleet, info: FileInfo, counts: GCCounts) -> bool:
    """Mark the file ``deleting``, collect its chunks, remove its record when every replica
    on an active node is gone. True if the record was removed.

    Order: state ``deleting`` first (nothing serves the file from then on, and appends to it
    are refused), chunk by chunk next, the file's record last: a crash anywhere leaves a
    ``deleting`` file that the next pass takes up again.
    """
    if info.state != "deleting":
        info = await fleet.controller.mark_deleting(info.id)
        counts.files_marked += 1
    done = True
    emptied: list[str] = []
    for chunk_id in dict.fromkeys(c.id for c in info.chunks):
        finished, pending = await collect_chunk(fleet, chunk_id, counts)
        done = done and finished
        if finished and not pending:
            emptied.append(chunk_id)
    if not done:
        return False  # a replica on an active node is still there: retried next pass
    await fleet.controller.delete_file(info.id)
    counts.files_collected += 1
    # After the file's record: a chunk record goes only when no file references it.
    for chunk_id in emptied:
        await remove_chunk_record(fleet, chunk_id, counts)
    log.info("collected file %s (%s, %d chunks)", info.id, info.name, len(info.chunks))
    return True


async def remove_chunk_record(fleet: Fleet, chunk_id: str, counts: GCCounts) -> None:
    """Remove a marked chunk's record if no file and no location names it any more (the
    controller checks both in one transaction; another deleting file may still use it)."""
    try:
        if await fleet.controller.delete_chunk(chunk_id):
            counts.chunk_records_removed += 1
    except NotFound:
        pass


# --- 3. one chunk -----------------------------------------------------------------------


async def collect_chunk(fleet: Fleet, chunk_id: str, counts: GCCounts) -> tuple[bool, int]:
    """Delete a chunk no live file references from every active node holding it.

    Returns ``(finished, pending)``: ``finished`` is False while a replica on an active node
    is still there (the node refused within the grace, or failed); ``pending`` counts the
    replicas left on inactive nodes. A chunk a live file uses, or that an upload claimed
    during collection, is finished with nothing pending: it is not ours to delete.
    """
    try:
        if not await fleet.controller.mark_collecting(chunk_id, fleet.grace):
            return True, 0  # step 1 refused: a live file references the chunk
        chunk = await fleet.controller.get_chunk(chunk_id)
    except NotFound:
        return True, 0  # no record: collected already
    finished, pending = True, 0
    for node_id in chunk.locations:
        if node_id not in fleet.active or node_id not in fleet.urls:
            pending += 1  # deleted when the node returns (sweep_node), never forgotten
            continue
        outcome = await delete_replica(fleet, chunk_id, node_id, counts, size=chunk.size)
        if outcome == "claimed":
            return True, 0
        finished = finished and outcome == "deleted"
    counts.deletes_pending += pending
    return finished, pending


async def still_marked(fleet: Fleet, chunk_id: str) -> bool:
    """Step 3's re-check: is the chunk still marked (no append cleared it)?"""
    try:
        return (await fleet.controller.get_chunk(chunk_id)).collecting
    except NotFound:
        return False


async def delete_replica(
    fleet: Fleet, chunk_id: str, node_id: str, counts: GCCounts, *, size: int = 0
) -> str:
    """Re-check the mark, delete on the node, then remove the location.

    Returns ``deleted``, ``claimed`` (an upload cleared the mark: stop collecting the
    chunk), ``kept`` (the node refused: stored or touched within the grace) or ``failed``.
    The location goes only after the node's delete succeeded (DESIGN §8 step 3); a crash
    between the two leaves a location naming a gone replica, removed by the next pass.
    """
    if not await still_marked(fleet, chunk_id):
        counts.conflicts += 1
        log.info("chunk %s was claimed by an upload during collection; kept", chunk_id)
        return "claimed"
    try:
        await fleet.nodes.delete_chunk(fleet.urls[node_id], chunk_id, fleet.grace)
    except Conflict:
        counts.conflicts += 1
        return "kept"
    except FilefleetError as exc:
        counts.failures += 1
        log.warning("deleting chunk %s on node %s failed: %s", chunk_id, node_id, exc.message)
        return "failed"
    # NotFound: the chunk's record went meanwhile (another pass): nothing left to remove.
    with contextlib.suppress(NotFound):
        await fleet.controller.remove_location(chunk_id, node_id, reclaimed=True)
    counts.chunks_deleted += 1
    counts.freed_bytes += size
    return "deleted"


# --- 4. orphans and pending deletes on one node -----------------------------------------


async def sweep_node(fleet: Fleet, node_id: str, counts: GCCounts) -> None:
    """Page through the node's chunks; delete those no file references.

    A chunk with no record at all is an orphan (a crash between a chunk's store and its
    append, or a replica whose record went): the node deletes it if it is older than the
    grace, by its own clock. A chunk with a record but no file is a pending delete (its node
    was away during collection): it is collected like a file's chunk.

    The records of a page of the node's chunks are asked for in one request (a pass costs
    a request per page, not one per chunk held). A record read here may be stale by the
    time it is acted on, which is safe: an orphan is deleted only by the node's own
    grace check, and an unreferenced chunk only through the collecting mark, which the
    controller refuses for a chunk a file references by then.
    """
    url = fleet.urls[node_id]
    after: str | None = None
    while True:
        page = await fleet.nodes.list_chunks(url, after=after, limit=NODE_PAGE)
        ids: list[str] = page["chunks"]
        following: str | None = page.get("next")
        known = {c.id: c for c in await fleet.controller.lookup_chunks(ids)}
        for chunk_id in ids:
            await sweep_chunk(fleet, node_id, chunk_id, known.get(chunk_id), counts)
        # This page holds every chunk of the node in (after, following]: anything listed
        # there and absent is a replica lost without the controller hearing of it.
        await drop_missing(fleet, node_id, set(ids), after, following, counts)
        after = following
        if not after:
            return


async def sweep_chunk(
    fleet: Fleet, node_id: str, chunk_id: str, chunk: ChunkInfo | None, counts: GCCounts
) -> None:
    """One chunk on a node, given its record (None: the metadata does not know it)."""
    if chunk is None:
        await delete_orphan(fleet, node_id, chunk_id, counts)
        return
    if chunk.references:
        return  # a file uses it (a deleting file's chunks are collected with the file)
    finished, pending = await collect_chunk(fleet, chunk_id, counts)
    if finished and not pending:
        await remove_chunk_record(fleet, chunk_id, counts)


async def delete_orphan(fleet: Fleet, node_id: str, chunk_id: str, counts: GCCounts) -> None:
    """Delete a chunk the metadata does not know, unless the node saw it within the grace
    (an upload stores a chunk before it appends it: such a chunk is young)."""
    try:
        if await fleet.nodes.delete_chunk(fleet.urls[node_id], chunk_id, fleet.grace):
            counts.orphans_deleted += 1
            log.info("deleted orphan chunk %s on node %s", chunk_id, node_id)
    except Conflict:
        pass  # younger than the grace: perhaps an upload in flight; looked at next pass
