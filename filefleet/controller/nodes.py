"""Nodes: the pages of chunks listed on a node (check-ins and the active nodes are the
store's alone: ``api.py`` asks it directly; draining and forgetting are ``lifecycle.py``)."""

from __future__ import annotations

from filefleet.core.models import ChunkPage
from filefleet.store.base import MetadataStore

from .params import NodeChunkQuery


async def chunks_on_node(store: MetadataStore, node_id: str, query: NodeChunkQuery) -> ChunkPage:
    """A page of the chunks the metadata lists on the node; ``next`` when more may follow."""
    found = await store.chunks_on_node(node_id, query.after, query.until, query.limit)
    following = found[-1] if len(found) == query.limit else None
    return ChunkPage(chunks=found, next=following)
