"""Replicas the metadata lists on a node that the node no longer holds.

A location is a claim that a node holds a chunk. It becomes false when the bytes go
without the controller hearing of it: a disk wiped or replaced, a chunk file removed by
hand, a delete that reached a hung node after its caller had given up (the node acted on
it when it resumed). A false location counts toward R, so nothing repairs the chunk until
a reader happens to try that replica. The GC's sweep already pages through each active
node's holdings; beside each page it asks the controller which chunks it lists on the
node in the same id range, and any listed chunk missing from the page is looked for once
more (``HEAD``: it may have been stored since the page was read). Only a node that
answers "not here" loses the location; repair then copies the chunk from a good replica.
"""

from __future__ import annotations

import logging
from collections.abc import Collection

from filefleet.core.errors import FilefleetError
from filefleet.gc.fleet import Fleet, GCCounts

log = logging.getLogger(__name__)


async def drop_missing(
    fleet: Fleet,
    node_id: str,
    held: Collection[str],
    after: str | None,
    until: str | None,
    counts: GCCounts,
) -> None:
    """Compare the node's page ``held`` (its chunk ids in ``(after, until]``) with what the
    metadata lists there; drop the location of each listed chunk the node does not hold."""
    listed = await fleet.controller.listed_on_node(node_id, after, until)
    url = fleet.urls[node_id]
    for chunk_id in listed:
        if chunk_id in held:
            continue
        try:
            if await fleet.nodes.has_chunk(url, chunk_id):
                continue  # stored after the page was read
            await fleet.controller.remove_location(chunk_id, node_id)
        except FilefleetError as exc:
            counts.failures += 1
            log.warning("checking listed chunk %s on node %s failed: %s",
                        chunk_id, node_id, exc.message)  # fmt: skip
            continue
        counts.lost_replicas += 1
        log.warning("node %s is listed for chunk %s but does not hold it; location dropped, "
                    "repair restores a copy", node_id, chunk_id)  # fmt: skip
