"""The replicator's metrics, read at each scrape from the counters ``GET /stats`` shows:
the copy step's (events and repair share it), the repair pass's, the event worker's."""

from __future__ import annotations

from prometheus_client.metrics_core import CounterMetricFamily, Metric

from filefleet.http.metrics import by_label, counter, gauge
from filefleet.replicator.copy import ChunkCopier
from filefleet.replicator.repair import RepairLoop
from filefleet.replicator.worker import EventWorker


async def replicator_metrics(
    copier: ChunkCopier, repair: RepairLoop, worker: EventWorker | None
) -> list[Metric]:
    copies = copier.counters
    families: list[Metric] = [
        counter("filefleet_replicated_chunks", "Replicas this replicator created.", copies.copied),
        counter("filefleet_replicated_bytes", "Bytes of those replicas.", copies.copied_bytes),
        counter(
            "filefleet_replication_failures",
            "Copies that failed (each then tried on another node).",
            copies.failed,
        ),
        gauge(
            "filefleet_repair_backlog_chunks",
            "Chunks the last repair pass left below R (no live source, or too few active "
            "nodes); they are tried again every --repair-interval.",
            repair.counters.waiting,
        ),
        counter("filefleet_repair_passes", "Repair passes run.", repair.counters.passes),
        counter(
            "filefleet_repaired_chunks",
            "Chunks a repair pass brought back to R.",
            repair.counters.repaired,
        ),
    ]
    if worker is not None:
        events = worker.counters
        families.append(
            by_label(
                CounterMetricFamily,
                "filefleet_replicate_events",
                "Replicate events settled: acked (at R), retried (re-queued with a delay), "
                "dead_lettered (given up on; the repair pass still tries the chunk).",
                "result",
                {
                    "acked": events.acked,
                    "retried": events.retried,
                    "dead_lettered": events.dead_lettered,
                },
            )
        )
    return families
