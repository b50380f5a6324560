"""Nodes: check-ins and which nodes are active (last ping younger than the node TTL)."""

from __future__ import annotations

from filefleet.core.models import NodeInfo, NodeStatus, PingRequest
from filefleet.store.base import MetadataStore


async def ping(store: MetadataStore, node: PingRequest) -> NodeInfo:
    """Register a node or record its check-in; the same call for both (the seed's rule)."""
    return await store.ping(node)


async def active_nodes(store: MetadataStore, node_ttl: float) -> list[NodeInfo]:
    return await store.active_nodes(node_ttl)


async def all_nodes(store: MetadataStore, node_ttl: float) -> list[NodeStatus]:
    return await store.all_nodes(node_ttl)
