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
3. add the locations on the controller (a set insert: concurrent adds all stick).

``replicate_many`` does this for a batch of chunks (the events a worker took at once, a
page of the repair pass): one controller lookup for all of them, their copies a few at a
time, and one controller call recording every copy made, so a copy costs the controller
a share of two requests rather than three of its own.

Order of the writes, and what a crash between them leaves: the target stores the chunk
(2), then the controller lists it (3). A crash after 2 leaves an unlisted copy on the
target: the next attempt copies it again (the node answers "already had it") and lists
it; if none comes, the GC's orphan sweep deletes it after its grace.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from filefleet.core.errors import FilefleetError
from filefleet.core.models import ChunkCopied, ChunkInfo, NodeInfo, NodeRef
from filefleet.core.placement import NodeCandidate, rank_targets, read_order
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


@dataclass
class _Made:
    """The copies made of one chunk, before the controller has recorded them."""

    copies: list[tuple[NodeCandidate, ChunkCopied]] = field(default_factory=list)
    need: int = 0
    reason: str = ""


class ChunkCopier:
    def __init__(
        self,
        controller: ControllerClient,
        nodes: NodeClient,
        *,
        replicas: int,
        repair_after: float,
        concurrency: int = 8,
    ) -> None:
        self.controller = controller
        self.nodes = nodes
        self.replicas = replicas
        self.repair_after = repair_after
        self.active = ActiveNodes(controller)
        self.suspects = SuspectNodes()
        self.counters = CopyCounters()
        self._busy: dict[str, asyncio.Lock] = {}
        self._copying = asyncio.Semaphore(concurrency)  # node-to-node copies at once

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
        return (await self.replicate_many([chunk_id]))[chunk_id]

    async def replicate_many(self, chunk_ids: Sequence[str]) -> dict[str, Outcome]:
        """Bring each chunk to R: one controller lookup for all of them, their copies made
        a few at a time, and one controller call recording every copy made."""
        unique = sorted(set(chunk_ids))  # locks taken in one order: no two callers deadlock
        async with contextlib.AsyncExitStack() as held:
            for chunk_id in unique:
                await held.enter_async_context(self._one_at_a_time(chunk_id))
            infos = {
                c.id: c for c in await self.controller.lookup_chunks(unique, self.repair_after)
            }
            outcomes: dict[str, Outcome] = {}
            todo: list[tuple[ChunkInfo, int]] = []
            for chunk_id in unique:
                info = infos.get(chunk_id)
                if info is None:
                    outcomes[chunk_id] = Outcome(True, reason="no such chunk any more")
                elif info.references == 0 or info.collecting:
                    outcomes[chunk_id] = Outcome(True, reason="no live file uses the chunk")
                elif info.live >= self.replicas:
                    outcomes[chunk_id] = Outcome(True)
                else:
                    todo.append((info, self.replicas - info.live))
            made = await asyncio.gather(*(self._copy(info, need) for info, need in todo))
            recorded = await self._record(
                [(info.id, target.id) for (info, _), m in zip(todo, made, strict=True)
                 for target, _ in m.copies]
            )  # fmt: skip
            for (info, _), m in zip(todo, made, strict=True):
                outcomes[info.id] = self._outcome(m, recorded)
        return outcomes

    def _outcome(self, made: _Made, recorded: bool) -> Outcome:
        copied = len(made.copies) if recorded else 0
        if recorded:
            for target, result in made.copies:
                self.active.sent[target.id] = self.active.sent.get(target.id, 0) + result.size
                self.counters.copied += 1
                self.counters.copied_bytes += result.size
        if copied >= made.need and recorded:
            return Outcome(True, copied)
        self.counters.waiting += 1
        reason = made.reason or ("the copies made could not be recorded" if made.copies else "")
        return Outcome(False, copied, reason)

    async def _record(self, pairs: list[tuple[str, str]]) -> bool:
        """List the copies on the controller, one call for all (a set insert: concurrent
        adds all stick). False if that failed: the copies stay unlisted (see the top)."""
        if not pairs:
            return True
        try:
            await self.controller.add_locations(pairs)
        except FilefleetError as exc:
            self.counters.failed += len(pairs)
            log.warning("recording %d copies failed: %s", len(pairs), exc.message)
            return False
        for chunk_id, node_id in pairs:
            log.info("copied %s to %s", chunk_id, node_id)
        return True

    async def _copy(self, info: ChunkInfo, need: int) -> _Made:
        """Copies of the chunk on ``need`` more nodes (made, not yet recorded)."""
        made = _Made(need=need)
        active = await self.active.get()
        holders = set(info.locations)
        live = read_order(info.id, [n for n in active if n.id in holders], _id)
        sources = [NodeRef(id=n.id, url=n.url) for n in self.suspects.last(live, _id)]
        ranked = rank_targets(self.active.candidates(), holders, size=info.size)
        targets = self.suspects.last(ranked, _id)
        if not sources:
            made.reason = "no active node holds a replica to copy from"
            return made
        for target in targets:
            if len(made.copies) >= made.need:
                break
            async with self._copying:
                result = await self._copy_to(info.id, sources, target)
            if result is None:
                continue  # the target failed: the next one
            # A holder found rotten or empty was counted as live: one more copy to make,
            # and no more reads from it.
            made.need += len(result.reported)
            self.counters.bad_sources += len(result.reported)
            sources = [s for s in sources if s.id not in result.reported]
            if not result.stored:
                made.reason = "no holder gave a verified replica"
                return made
            made.copies.append((target, result))
        if len(made.copies) < made.need:
            made.reason = (
                f"{len(made.copies)} of {made.need} copies made; "
                f"{len(targets)} active node(s) lack it"
            )
        return made

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


def _id(node: NodeInfo | NodeCandidate) -> str:
    return node.id
