"""The copy step shared by the event worker and the repair pass: bring one chunk to R.

The replicator decides and records; the bytes go node to node and never through it.
``ChunkCopier.replicate(chunk_id)``:
1. ask the controller how many live replicas the chunk has (a replica on a node silent
   for less than node TTL + ``repair_after`` still counts: a restart is no reason to copy);
2. ask the active node with most free space that lacks it and is not draining
   (``rank_targets``) to copy it
   from the live holders (``POST /chunk/{id}/copy``, ``node/copying.py``): the target reads
   a holder's replica with the reader every service uses (``http/replicas.py``: verified as
   it lands, a corrupt or missing source reported to the controller and the next one
   tried, a slow one hedged) and stores it. A failed copy is retried on the same target
   (``STORE_RETRY``), then on the next node. A node that failed a call is a suspect
   (``core/suspects.py``) and comes last, as a source and as a target;
3. add the location on the controller (a set insert: concurrent adds all stick).

Order of the writes, and what a crash between them leaves: the target stores the chunk
(2), then the controller lists it (3). A crash after 2 leaves an unlisted copy on the
target: the next attempt copies it again (the node answers "already had it") and lists
it; if none comes, the GC's orphan sweep deletes it after its grace.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from filefleet.core.errors import FilefleetError, NotFound
from filefleet.core.models import ChunkCopied, ChunkInfo, NodeInfo, NodeRef
from filefleet.core.placement import NodeCandidate, rank_targets
from filefleet.core.suspects import SuspectNodes
from filefleet.http.controller_api import ControllerClient
from filefleet.http.node_api import NodeClient

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    done: bool  # the chunk has R live replicas (or needs none any more)
    copied: int = 0
    reason: str = ""


@dataclass
class CopyCounters:
    copied: int = 0  # replicas created
    copied_bytes: int = 0
    failed: int = 0  # copies that failed (each then tried elsewhere)
    bad_sources: int = 0  # replicas found corrupt or missing and reported
    waiting: int = 0  # chunks left below R (no source or too few active nodes)


class ActiveNodes:
    """The controller's active nodes, asked at most once per ``max_age`` seconds, and the
    bytes sent to each since: free space reported minus that is what ranks targets, so a
    burst of copies spreads over the nodes instead of piling on the one that was freest."""

    def __init__(self, controller: ControllerClient, max_age: float = 1.0) -> None:
        self.controller = controller
        self.max_age = max_age
        self._nodes: list[NodeInfo] = []
        self._fetched = float("-inf")
        self.sent: dict[str, int] = {}

    async def get(self) -> list[NodeInfo]:
        if time.monotonic() - self._fetched > self.max_age:
            self._nodes = await self.controller.active_nodes()
            self._fetched = time.monotonic()
            self.sent.clear()
        return self._nodes

    def candidates(self) -> list[NodeCandidate]:
        """Copy targets: the active nodes but the draining ones (a source may drain)."""
        return [
            NodeCandidate(n.id, n.url, n.free - self.sent.get(n.id, 0))
            for n in self._nodes
            if not n.draining
        ]

    def forget(self) -> None:
        self._fetched = float("-inf")


class ChunkCopier:
    def __init__(
        self,
        controller: ControllerClient,
        nodes: NodeClient,
        *,
        replicas: int,
        repair_after: float,
    ) -> None:
        self.controller = controller
        self.nodes = nodes
        self.replicas = replicas
        self.repair_after = repair_after
        self.active = ActiveNodes(controller)
        self.suspects = SuspectNodes()
        self.counters = CopyCounters()
        self._busy: dict[str, asyncio.Lock] = {}

    @asynccontextmanager
    async def _one_at_a_time(self, chunk_id: str) -> AsyncIterator[None]:
        """The worker and the repair pass of one process never copy one chunk at once."""
        lock = self._busy.setdefault(chunk_id, asyncio.Lock())
        try:
            async with lock:
                yield
        finally:
            if not lock.locked() and self._busy.get(chunk_id) is lock:
                del self._busy[chunk_id]

    async def replicate(self, chunk_id: str) -> Outcome:
        async with self._one_at_a_time(chunk_id):
            try:
                info = await self.controller.get_chunk(chunk_id, self.repair_after)
            except NotFound:
                return Outcome(True, reason="no such chunk any more")
            if info.references == 0 or info.collecting:
                return Outcome(True, reason="no live file uses the chunk")
            need = self.replicas - info.live
            if need <= 0:
                return Outcome(True)
            outcome = await self._copy(info, need)
            if not outcome.done:
                self.counters.waiting += 1
            return outcome

    async def _copy(self, info: ChunkInfo, need: int) -> Outcome:
        active = await self.active.get()
        holders = set(info.locations)
        live = [n for n in active if n.id in holders]
        random.shuffle(live)  # spread the reads over the holders
        sources = [NodeRef(id=n.id, url=n.url) for n in self.suspects.last(live, _id)]
        ranked = rank_targets(self.active.candidates(), holders, size=info.size)
        targets = self.suspects.last(ranked, _id)
        if not sources:
            return Outcome(False, reason="no active node holds a replica to copy from")
        copied = 0
        for target in targets:
            if copied == need:
                break
            result = await self._copy_to(info.id, sources, target)
            if result is None:
                continue  # the target failed: the next one
            # A holder found rotten or empty was counted as live: one more copy to make,
            # and no more reads from it.
            need += len(result.reported)
            self.counters.bad_sources += len(result.reported)
            sources = [s for s in sources if s.id not in result.reported]
            if not result.stored:
                return Outcome(False, copied, "no holder gave a verified replica")
            copied += await self._record(info.id, target, result)
        if copied < need:
            why = f"{copied} of {need} copies made; {len(targets)} active node(s) lack it"
            return Outcome(False, copied, why)
        return Outcome(True, copied)

    async def _copy_to(
        self, chunk_id: str, sources: list[NodeRef], target: NodeCandidate
    ) -> ChunkCopied | None:
        """The target's copy of the chunk from the sources; None when the target failed."""
        try:
            result = await self.nodes.copy_chunk(target.url, chunk_id, sources)
        except FilefleetError as exc:
            self.counters.failed += 1
            self.suspects.failed(target.id)
            self.active.forget()
            log.warning("copying %s to %s failed: %s", chunk_id, target.url, exc.message)
            return None
        self.suspects.ok(target.id)
        return result

    async def _record(self, chunk_id: str, target: NodeCandidate, result: ChunkCopied) -> int:
        """1 once the controller lists the target's copy, else 0."""
        # Stored, not yet listed: a crash here leaves an unlisted copy (see the top).
        try:
            await self.controller.add_location(chunk_id, target.id)
        except FilefleetError as exc:
            self.counters.failed += 1
            log.warning("listing %s on %s failed: %s", chunk_id, target.id, exc.message)
            return 0
        self.active.sent[target.id] = self.active.sent.get(target.id, 0) + result.size
        self.counters.copied += 1
        self.counters.copied_bytes += result.size
        log.info("copied %s to %s from %s", chunk_id, target.id, result.source)
        return 1


def _id(node: NodeInfo | NodeCandidate) -> str:
    return node.id
