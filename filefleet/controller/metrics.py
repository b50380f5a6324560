"""What the controller hands over at each scrape (``core/metric_catalogue.py`` names it):
the store's view of the fleet.

Only cheap reads (``MetadataStore.replication_counts`` looks at chunks with few
locations or a location on a silent node, and the node table is one row a node), so
frequent scrapes by several Prometheus servers cost the database little; the whole-table
totals stay with ``GET /status``. Every controller over one database answers the same
numbers: take them from one (``max`` over controllers in a query).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from filefleet.core.models import NodeStatus
from filefleet.runtime.settings import ControllerSettings
from filefleet.store.base import MetadataStore


def node_state(node: NodeStatus) -> str:
    """Active (pinged within --node-ttl), draining (active, being emptied by
    ``filefleet nodes drain``), else dead."""
    if not node.active:
        return "dead"
    return "draining" if node.draining else "active"


async def fleet_counters(store: MetadataStore, settings: ControllerSettings) -> dict[str, Any]:
    counts = await store.replication_counts(settings.replicas, settings.node_ttl)
    states = Counter(node_state(n) for n in await store.all_nodes(settings.node_ttl))
    return {**counts.model_dump(), "nodes": states, "replicas": settings.replicas}
