"""In-memory stand-ins for the controller, the nodes and the queue (duck-typed)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from filefleet.core.errors import CorruptChunk, NotFound, Unavailable
from filefleet.core.models import ChunkCopied, ChunkInfo, LocationsAdded, NodeInfo, NodeRef
from filefleet.http.controller_api import ControllerClient
from filefleet.http.node_api import NodeClient
from filefleet.queue.base import EventQueue
from filefleet.queue.dead_letters import DeadLetterPolicy
from filefleet.queue.events import Delivery
from filefleet.replicator.copy import ChunkCopier

DATA = b"chunk bytes"
CHUNK = hashlib.sha256(DATA).hexdigest()


def node(n: int, free: int, *, draining: bool = False) -> NodeInfo:
    return NodeInfo(id=f"{n:032x}", url=f"http://node{n}", last_ping=datetime.now(UTC),
                    capacity=10**9, free=free, chunks=0, draining=draining)  # fmt: skip


@dataclass
class Fleet:
    """Controller and nodes at once: which node holds what, and what the controller lists."""

    nodes: list[NodeInfo]
    disks: dict[str, dict[str, bytes]] = field(default_factory=dict)  # url -> chunk -> bytes
    locations: dict[str, set[str]] = field(default_factory=dict)
    dead: set[str] = field(default_factory=set)  # node urls that fail every call
    references: int = 1
    puts: list[str] = field(default_factory=list)

    def hold(self, n: int, chunk: str = CHUNK, data: bytes = DATA) -> None:
        self.disks.setdefault(self.nodes[n].url, {})[chunk] = data
        self.locations.setdefault(chunk, set()).add(self.nodes[n].id)

    # controller
    async def get_chunk(self, chunk_id: str, repair_after: float = 0.0) -> ChunkInfo:
        if chunk_id not in self.locations:
            raise NotFound(chunk_id)
        locs = sorted(self.locations[chunk_id])
        draining = {n.id for n in self.nodes if n.draining}
        live = len([n for n in locs if n not in draining])  # a draining node's do not count
        return ChunkInfo(id=chunk_id, size=len(DATA), locations=locs, live=live,
                         references=self.references, collecting=False)  # fmt: skip

    async def lookup_chunks(
        self, chunk_ids: list[str], repair_after: float = 0.0
    ) -> list[ChunkInfo]:
        return [await self.get_chunk(c) for c in chunk_ids if c in self.locations]

    async def add_locations(self, pairs: list[tuple[str, str]]) -> LocationsAdded:
        for chunk_id, node_id in pairs:
            self.locations[chunk_id].add(node_id)
        return LocationsAdded(added=len(pairs), unknown=[])

    async def active_nodes(self) -> list[NodeInfo]:
        return list(self.nodes)

    async def add_location(self, chunk_id: str, node_id: str) -> ChunkInfo:
        self.locations[chunk_id].add(node_id)
        return await self.get_chunk(chunk_id)

    async def remove_location(self, chunk_id: str, node_id: str) -> ChunkInfo:
        self.locations[chunk_id].discard(node_id)
        return await self.get_chunk(chunk_id)

    async def under_replicated(self, **_: Any) -> list[ChunkInfo]:
        infos = [await self.get_chunk(c) for c in self.locations]
        return sorted((i for i in infos if i.live < 2), key=lambda i: i.live)

    # nodes
    async def put_chunk(self, url: str, chunk_id: str, data: bytes) -> bool:
        self.puts.append(url)
        if url in self.dead:
            raise Unavailable(f"{url} down")
        assert hashlib.sha256(data).hexdigest() == chunk_id
        created = chunk_id not in self.disks.setdefault(url, {})
        self.disks[url][chunk_id] = data
        return created

    async def get_chunk_bytes(self, url: str, chunk_id: str) -> bytes:
        if url in self.dead:
            raise Unavailable(f"{url} down")
        data = self.disks.get(url, {}).get(chunk_id)
        if data is None:
            raise NotFound(chunk_id)
        if hashlib.sha256(data).hexdigest() != chunk_id:
            raise CorruptChunk("corrupt")
        return data


class FleetNodes:
    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet

    async def get_chunk(self, url: str, chunk_id: str, **_: Any) -> bytes:
        return await self.fleet.get_chunk_bytes(url, chunk_id)

    async def put_chunk(self, url: str, chunk_id: str, data: bytes) -> bool:
        return await self.fleet.put_chunk(url, chunk_id, data)

    async def copy_chunk(self, url: str, chunk_id: str, sources: list[NodeRef]) -> ChunkCopied:
        """As a target node does: the first source with verified bytes; bad ones reported
        to the controller; then stored (a dead target fails the whole call)."""
        self.fleet.puts.append(url)
        if url in self.fleet.dead:
            raise Unavailable(f"{url} down")
        reported: list[str] = []
        for source in sources:
            try:
                data = await self.fleet.get_chunk_bytes(source.url, chunk_id)
            except (CorruptChunk, NotFound):
                reported.append(source.id)
                await self.fleet.remove_location(chunk_id, source.id)
                continue
            except Unavailable:
                continue
            created = chunk_id not in self.fleet.disks.setdefault(url, {})
            self.fleet.disks[url][chunk_id] = data
            return ChunkCopied(id=chunk_id, stored=True, created=created, size=len(data),
                               source=source.url, reported=reported)  # fmt: skip
        return ChunkCopied(id=chunk_id, stored=False, reported=reported)


def copier(fleet: Fleet, replicas: int = 2) -> ChunkCopier:
    return ChunkCopier(cast(ControllerClient, fleet), cast(NodeClient, FleetNodes(fleet)),
                       replicas=replicas, repair_after=0.0)  # fmt: skip


@dataclass
class MemoryQueue:
    """Enough of an EventQueue for the worker: what it acked, retried, dead-lettered."""

    waiting: list[Delivery] = field(default_factory=list)
    acked: list[Delivery] = field(default_factory=list)
    retried: list[tuple[Delivery, float]] = field(default_factory=list)
    dead: list[Delivery] = field(default_factory=list)
    policy: DeadLetterPolicy = field(default_factory=DeadLetterPolicy)

    async def consume(self, group: str, consumer: str, count: int, block: float) -> list[Delivery]:
        taken, self.waiting = self.waiting[:count], self.waiting[count:]
        return taken

    async def ack(self, delivery: Delivery) -> None:
        self.acked.append(delivery)

    async def retry(self, delivery: Delivery, delay: float, reason: str) -> bool:
        if self.policy.is_dead(delivery):
            self.dead.append(delivery)
            return True
        self.retried.append((delivery, delay))
        return False

    def as_queue(self) -> EventQueue:
        return cast(EventQueue, self)
