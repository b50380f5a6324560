"""Chunks: replica locations, and which replicas count toward R.

A replica counts toward R while its node's last ping is younger than the node TTL plus
the caller's ``repair_after`` (DESIGN §7: a restarting node does not set off a storm of
copies), so the live cutoff is computed here from both.
"""

from __future__ import annotations

from filefleet.core.models import (
    ChunkInfo,
    ChunkList,
    LocationsAdd,
    LocationsAdded,
)
from filefleet.store.base import MetadataStore

from .params import ChunkQuery


async def get_chunk(
    store: MetadataStore, chunk_id: str, node_ttl: float, repair_after: float
) -> ChunkInfo:
    return await store.get_chunk(chunk_id, node_ttl + repair_after)


async def add_location(
    store: MetadataStore, chunk_id: str, node_id: str, node_ttl: float
) -> ChunkInfo:
    await store.add_location(chunk_id, node_id)
    return await store.get_chunk(chunk_id, node_ttl)


async def remove_location(
    store: MetadataStore, chunk_id: str, node_id: str, node_ttl: float, *, reclaimed: bool = False
) -> ChunkInfo:
    await store.remove_location(chunk_id, node_id, reclaimed=reclaimed)
    return await store.get_chunk(chunk_id, node_ttl)


async def lookup(
    store: MetadataStore, chunk_ids: list[str], node_ttl: float, repair_after: float = 0.0
) -> ChunkList:
    return ChunkList(chunks=await store.get_chunks(chunk_ids, node_ttl + repair_after))


async def add_locations(store: MetadataStore, body: LocationsAdd) -> LocationsAdded:
    """Record a batch of replicas in one transaction; nothing is read back (a caller that
    wants a chunk's new state asks for it)."""
    added, unknown = await store.add_locations([(loc.chunk, loc.node) for loc in body.add])
    return LocationsAdded(added=added, unknown=unknown)


async def under_replicated(store: MetadataStore, query: ChunkQuery, node_ttl: float) -> ChunkList:
    found = await store.chunks_below(query.replicas, node_ttl + query.repair_after, query.limit)
    return ChunkList(chunks=found)
