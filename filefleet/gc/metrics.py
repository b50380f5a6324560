"""The collector's metrics, read at each scrape from its running totals (``GET /stats``)."""

from __future__ import annotations

from prometheus_client.metrics_core import Metric

from filefleet.gc.worker import GarbageCollector
from filefleet.http.metrics import counter


async def gc_metrics(worker: GarbageCollector) -> list[Metric]:
    totals = worker.totals
    return [
        counter(
            "filefleet_gc_freed_bytes",
            "Bytes of the replicas the GC deleted from nodes (orphans not included: their "
            "size is not recorded anywhere; see filefleet_gc_orphans_deleted_total).",
            totals.freed_bytes,
        ),
        counter("filefleet_gc_replicas_deleted", "Replicas deleted.", totals.chunks_deleted),
        counter("filefleet_gc_files_collected", "File records removed.", totals.files_collected),
        counter(
            "filefleet_gc_orphans_deleted",
            "Chunks deleted from a node that no record named.",
            totals.orphans_deleted,
        ),
        counter(
            "filefleet_gc_failures",
            "Steps a node or the controller failed (retried next pass).",
            totals.failures,
        ),
        counter("filefleet_gc_passes", "Collection passes completed.", worker.passes),
    ]
