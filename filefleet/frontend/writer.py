"""Putting one chunk on the fleet: the node that takes it, and a placement to choose from.

``ChunkWriter.place`` stores the chunk on the best node (retried once there by the HTTP
client, then on the next node; a node that passed a deadline or is full is not tried
again, and one that failed is a suspect, placed last for a while) and returns the node
that took it. Recording the chunk in its file is the caller's next step (``upload.py``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from filefleet.core.errors import FilefleetError, InsufficientStorage, Unavailable
from filefleet.core.placement import NodeCandidate, Placement
from filefleet.frontend.nodes import NodeDirectory
from filefleet.http.node_api import NodeClient

log = logging.getLogger(__name__)

Bytes = bytes | bytearray | memoryview


@dataclass
class WriteCounters:
    chunks_stored: int = 0  # stores a node confirmed
    bytes_stored: int = 0
    store_retries: int = 0  # stores that failed and went to the next node


class ChunkWriter:
    """Stores chunks on the active nodes, choosing by placement and failing over."""

    def __init__(self, nodes: NodeClient, directory: NodeDirectory) -> None:
        self.nodes = nodes
        self.directory = directory
        self.counters = WriteCounters()

    async def place(self, chunk_id: str, data: Bytes, placement: Placement) -> NodeCandidate:
        """Store on the best node, then on the others. InsufficientStorage when every node
        that was tried is full, Unavailable when none could take it for another reason."""
        tried: list[str] = []
        failures: list[FilefleetError] = []
        suspects = self.directory.suspects
        while (node := placement.choose(len(data), tried, chunk_id)) is not None:
            try:
                await self.nodes.put_chunk(node.url, chunk_id, data)
                suspects.ok(node.id)
                self.counters.chunks_stored += 1
                self.counters.bytes_stored += len(data)
                return node
            except FilefleetError as exc:
                placement.release(node.id, len(data))
                if not exc.retryable:
                    raise
                tried.append(node.id)
                failures.append(exc)
                if isinstance(exc, InsufficientStorage):
                    placement.full(node.id)
                else:  # hung, cut off, too slow or failing: avoid it for a while
                    suspects.failed(node.id)
                self.counters.store_retries += 1
                log.warning("storing chunk %s on %s failed: %s", chunk_id, node.url, exc.message)
        self.directory.forget()
        if failures and all(isinstance(f, InsufficientStorage) for f in failures):
            raise InsufficientStorage(f"no storage node has room for chunk {chunk_id}")
        if not failures:
            raise InsufficientStorage(
                f"no active storage node has room for a chunk of {len(data)} bytes"
            )
        raise Unavailable(f"no node could store chunk {chunk_id}: {failures[-1].message}")

    async def placement(
        self, *, fresh: bool = True, assigned: dict[str, int] | None = None, room: int = 1
    ) -> Placement:
        """A placement over the active nodes (asked now, or from the ~1 s cache), continuing
        from ``assigned`` (bytes already sent to each node by this upload); 503 when there
        is no active node, 507 when none has ``room`` bytes free (so an upload that cannot
        store its first chunk is refused before its record is written)."""
        candidates = await self.directory.candidates(fresh=fresh)
        if not candidates:
            raise Unavailable("no active storage node: the cluster cannot store files right now")
        if not any(c.free >= room for c in candidates):
            raise InsufficientStorage(
                f"every storage node is full (none has {room} bytes free above its reserve)"
            )
        assigned = {} if assigned is None else assigned
        return Placement(candidates, assigned, avoid=self.directory.suspects.suspected)
