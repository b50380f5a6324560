"""Collecting one chunk, and the race with an upload that re-uses it (DESIGN §8).

Chunks are content addressed: the GC may be deleting a chunk at the very moment an upload
stores the same bytes again ("already have it") and appends a reference to them. The steps,
each with a test:

    mark collecting   (controller; refused while a live file references the chunk)
    for each location on an active node:
        re-check the mark       (an append of the chunk clears it: the chunk is claimed)
        DELETE on the node      (?grace=: refused, 409, if stored or touched within it)
        remove the location     (only after the node's delete succeeded)

The argument that this never deletes a chunk a successful upload references is in
docs/architecture.md ("Why the GC cannot eat a live chunk").
"""

from __future__ import annotations

import contextlib
import logging

from filefleet.core.errors import Conflict, FilefleetError, NotFound
from filefleet.gc.fleet import Fleet, GCCounts

log = logging.getLogger(__name__)


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
