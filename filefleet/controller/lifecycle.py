"""Draining and forgetting nodes (``core/lifecycle.py`` has the rules and the states).

Both ask for the node's chunks to be copied at once when the controller has the event
queue (``--queue``; ``filefleet up`` gives it one): a replicate event per chunk the node
holds, published in pages of ``PAGE``, so replicators start copying without waiting for
their next repair pass. Without a queue, or when a publish fails, the periodic repair
pass finds the same chunks within ``--repair-interval`` (the events are a fast path only,
as everywhere in filefleet).

Forgetting, in order, and what a crash between the steps leaves:
1. pages of the node's locations are deleted (each page one transaction, location counts
   kept), and each page's chunks announced;
2. the node's record is deleted, with any location added since the last page.
A crash after some pages leaves the node known with fewer locations: its dropped chunks
are already below R and repaired; forgetting again finishes the job.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Sequence
from datetime import UTC, datetime
from typing import Any

from filefleet.core import lifecycle
from filefleet.core.errors import FilefleetError
from filefleet.core.models import DrainRequest, NodeForgotten, NodeReport
from filefleet.queue.base import EventQueue
from filefleet.queue.events import ReplicateEvent
from filefleet.store.base import MetadataStore

log = logging.getLogger(__name__)

PAGE = 1000
PUBLISH_TIMEOUT = 5.0


class Lifecycle:
    """The node lifecycle calls of one controller: its store, R, the node TTL, and the
    queue to announce chunks on (None: repair finds them)."""

    def __init__(
        self, store: MetadataStore, replicas: int, node_ttl: float, queue: EventQueue | None
    ) -> None:
        self.store = store
        self.replicas = replicas
        self.node_ttl = node_ttl
        self.queue = queue
        self._announcing: set[asyncio.Task[None]] = set()

    async def report(self, node_id: str) -> NodeReport:
        return await self.store.node_report(node_id, self.replicas, self.node_ttl)

    async def drain(self, node_id: str, request: DrainRequest) -> NodeReport:
        """Start (or, with ``draining=false``, end) draining the node; its report after."""
        nodes = await self.store.all_nodes(self.node_ttl)
        node = lifecycle.find_node(nodes, node_id)
        if request.draining and not node.draining:
            lifecycle.check_drain(node, nodes, self.replicas, force=request.force)
        await self.store.set_draining(node.id, request.draining)
        if request.draining and not node.draining:
            log.info("draining node %s (%s)", node.id, lifecycle.node_label(node))
            self._in_background(self._announce_node(node.id))
        elif node.draining and not request.draining:
            log.info("node %s (%s) is back in service", node.id, lifecycle.node_label(node))
        return await self.report(node.id)

    async def forget(self, node_id: str, *, force: bool) -> NodeForgotten:
        """Remove the node's record and its locations (an active node only with force)."""
        nodes = await self.store.all_nodes(self.node_ttl)
        node = lifecycle.find_node(nodes, node_id)
        lifecycle.check_forget(node, datetime.now(UTC), force=force)
        dropped = unlocated = 0
        while True:
            page = await self.store.drop_node_locations(node.id, PAGE)
            dropped += len(page)
            unlocated += await self._unlocated(page)
            await self._publish(page)
            if len(page) < PAGE:
                break
        dropped += await self.store.delete_node(node.id)
        log.warning(
            "forgot node %s (%s): %d locations dropped, %d live chunks left with none",
            node.id, lifecycle.node_label(node), dropped, unlocated,
        )  # fmt: skip
        return NodeForgotten(id=node.id, forgotten=True, locations=dropped, unlocated=unlocated)

    async def close(self) -> None:
        for task in list(self._announcing):
            task.cancel()
        await asyncio.gather(*self._announcing, return_exceptions=True)

    async def _unlocated(self, chunk_ids: Sequence[str]) -> int:
        """How many of these chunks a file uses and no node is listed for any more."""
        if not chunk_ids:
            return 0
        infos = await self.store.get_chunks(list(chunk_ids), self.node_ttl)
        return sum(1 for c in infos if not c.locations and c.references and not c.collecting)

    async def _announce_node(self, node_id: str) -> None:
        """A replicate event for every chunk listed on the node, a page at a time (in the
        background: a failure is logged, and left to the repair pass)."""
        if self.queue is None:
            return
        after: str | None = None
        try:
            while True:
                page = await self.store.chunks_on_node(node_id, after, None, PAGE)
                await self._publish(page)
                if len(page) < PAGE:
                    return
                after = page[-1]
        except FilefleetError as exc:
            log.warning("announcing the chunks of node %s stopped: %s", node_id, exc.message)

    async def _publish(self, chunk_ids: Sequence[str]) -> None:
        if self.queue is None or not chunk_ids:
            return
        events = [ReplicateEvent(chunk=c) for c in chunk_ids]
        try:
            await asyncio.wait_for(self.queue.publish(events), timeout=PUBLISH_TIMEOUT)
        except (FilefleetError, TimeoutError) as exc:
            log.warning("announcing %d chunks failed (repair finds them): %s", len(events), exc)

    def _in_background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._announcing.add(task)
        task.add_done_callback(self._announcing.discard)
