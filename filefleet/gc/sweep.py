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

How a chunk is collected, and why an upload re-using it never loses it: ``collecting.py``.

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

import logging
from collections.abc import AsyncIterator

from filefleet.core.errors import Conflict, NotFound
from filefleet.core.file_query import FileQuery
from filefleet.core.models import ChunkInfo, FileInfo, FileState
from filefleet.gc.collecting import collect_chunk
from filefleet.gc.fleet import NODE_PAGE, PAGE, Fleet, GCCounts
from filefleet.gc.missing import drop_missing

log = logging.getLogger(__name__)


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
