"""The controller's metrics: what its store says about the fleet, read at each scrape.

Only cheap reads (``MetadataStore.replication_counts`` looks at chunks with few
locations or a location on a silent node, and the node table is one row a node), so
frequent scrapes by several Prometheus servers cost the database little; the whole-table
totals stay with ``GET /status``. Every controller over one database answers the same
numbers: take them from one (``max`` over controllers in a query).
"""

from __future__ import annotations

from collections import Counter

from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from filefleet.core.models import NodeStatus
from filefleet.http.metrics import by_label, gauge
from filefleet.runtime.settings import ControllerSettings
from filefleet.store.base import MetadataStore

NODE_STATES = ("active", "dead")


def node_state(node: NodeStatus) -> str:
    """As ``/status`` shows it: active (pinged within --node-ttl), else dead."""
    return "active" if node.active else "dead"


async def controller_metrics(store: MetadataStore, settings: ControllerSettings) -> list[Metric]:
    counts = await store.replication_counts(settings.replicas, settings.node_ttl)
    states = Counter(node_state(n) for n in await store.all_nodes(settings.node_ttl))
    return [
        gauge(
            "filefleet_chunks_below_replication",
            "Live chunks with fewer than R replicas on nodes pinged within --node-ttl.",
            counts.below,
        ),
        gauge(
            "filefleet_single_copy_chunks",
            "Live chunks with exactly one such replica: one disk from loss (for a moment "
            "after each upload, until the replicator's copy lands).",
            counts.single_copy,
        ),
        by_label(
            GaugeMetricFamily,
            "filefleet_nodes",
            "Known nodes by state: active (pinged within --node-ttl) or dead.",
            "state",
            {state: states.get(state, 0) for state in {*NODE_STATES, *states}},
        ),
        gauge(
            "filefleet_replication_factor",
            "R, the replicas each chunk should have.",
            settings.replicas,
        ),
    ]
