"""Nodes: check-ins and which nodes are active (last ping younger than the node TTL)."""

from __future__ import annotations

from filefleet.core.models import ChunkPage, NodeInfo, NodeStatus, PingRequest
from filefleet.store.base import MetadataStore

from .params import NodeChunkQuery


async def ping(store: MetadataStore, node: PingRequest) -> NodeInfo:
    """Register a node or record its check-in; the same call for both (the seed's rule)."""
    return await store.ping(node)


async def active_nodes(store: MetadataStore, node_ttl: float) -> list[NodeInfo]:
    return await store.active_nodes(node_ttl)


async def all_nodes(store: MetadataStore, node_ttl: float) -> list[NodeStatus]:
    return await store.all_nodes(node_ttl)


async def chunks_on_node(store: MetadataStore, node_id: str, query: NodeChunkQuery) -> ChunkPage:
    """A page of the chunks the metadata lists on the node; ``next`` when more may follow."""
    found = await store.chunks_on_node(node_id, query.after, query.until, query.limit)
    following = found[-1] if len(found) == query.limit else None
    return ChunkPage(chunks=found, next=following)
