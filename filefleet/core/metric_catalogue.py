"""Every metric filefleet exposes, as data: its name, type and help, the service that
exposes it, and which of that service's counters it reads.

A service keeps its counters anyway (``/stats`` shows them, tests assert on them); at
each scrape it hands them over as one flat mapping, and ``http/metrics.py`` turns the
entries of its service into Prometheus families: no second set of numbers to keep in
step. ``source`` is the key of the counter in that mapping (a mapping itself for a
family with a label). The HTTP layer keeps the request metrics of every service and the
results of uploads and downloads itself (``source`` None). docs/operations.md lists the
same metrics; a test compares the two. Pure: no I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["counter", "gauge", "histogram"]
EVERY = "*"  # the service of the metrics every service exposes


@dataclass(frozen=True)
class Family:
    service: str
    name: str  # as exposed: a counter's ends in _total
    kind: Kind
    help: str
    source: str | None  # the counter's key in the service's mapping; None: the HTTP layer
    label: str | None = None  # one series per value of this label
    values: tuple[str, ...] = ()  # the label's values, each shown from 0


RESULTS = ("ok", "rejected", "failed", "client_gone")

CATALOGUE: tuple[Family, ...] = (
    # -- every service (http/server.py) ------------------------------------------------
    Family(EVERY, "filefleet_http_requests_total", "counter",
           "HTTP requests answered, by route template and status.", None),
    Family(EVERY, "filefleet_http_request_duration_seconds", "histogram",
           "Time from a request's arrival until its answer was written, body included.",
           None),
    # -- frontend ----------------------------------------------------------------------
    Family("frontend", "filefleet_uploads_total", "counter",
           "Uploads by result: ok, rejected (4xx), failed (5xx), client_gone.", None,
           "result", RESULTS),
    Family("frontend", "filefleet_downloads_total", "counter",
           "Downloads by result: ok, rejected (4xx), failed (5xx or cut short), "
           "client_gone.", None, "result", RESULTS),
    Family("frontend", "filefleet_upload_bytes_total", "counter",
           "File bytes received by uploads: POST/PUT /upload and the chunk API's chunks "
           "(claimed chunks, whose bytes never come, are not counted).", "upload_bytes"),
    Family("frontend", "filefleet_download_bytes_total", "counter",
           "File bytes written to downloaders (a client that left stops the count).",
           "download_bytes"),
    Family("frontend", "filefleet_stored_chunks_total", "counter",
           "Chunks the frontend stored on a node (each its first replica).",
           "chunks_stored"),
    Family("frontend", "filefleet_downloads_streaming", "gauge",
           "Downloads sending bytes now.", "downloads_streaming"),
    Family("frontend", "filefleet_read_ahead_lent_chunks", "gauge",
           "Chunks of --read-ahead-pool that downloads hold now (each download also holds "
           "two of its own).", "read_ahead_lent"),
    # -- controller --------------------------------------------------------------------
    Family("controller", "filefleet_chunks_below_replication", "gauge",
           "Live chunks with fewer than R replicas on nodes pinged within --node-ttl.",
           "below"),
    Family("controller", "filefleet_single_copy_chunks", "gauge",
           "Live chunks with exactly one such replica: one disk from loss (for a moment "
           "after each upload, until the replicator's copy lands).", "single_copy"),
    Family("controller", "filefleet_nodes", "gauge",
           "Known nodes by state: active (pinged within --node-ttl), draining (active and "
           "being emptied: filefleet nodes drain) or dead.", "nodes",
           "state", ("active", "draining", "dead")),
    Family("controller", "filefleet_replication_factor", "gauge",
           "R, the replicas each chunk should have.", "replicas"),
    # -- node (the source keys are those of its /stats) --------------------------------
    Family("node", "filefleet_node_chunks", "gauge", "Chunks stored on this node.", "chunks"),
    Family("node", "filefleet_node_stored_bytes", "gauge",
           "Bytes of the chunks stored here.", "bytes"),
    Family("node", "filefleet_node_free_bytes", "gauge",
           "Bytes this node can still take (above its --reserve, within --capacity).",
           "free"),
    Family("node", "filefleet_node_capacity_bytes", "gauge", "Bytes this node offers.",
           "capacity"),
    Family("node", "filefleet_scrub_quarantined_total", "counter",
           "Chunks found corrupt (by the scrubber or fsck --verify) and quarantined.",
           "corrupt"),
    Family("node", "filefleet_scrub_scanned_bytes_total", "counter",
           "Bytes the scrubber (and fsck --verify) re-hashed.", "scanned_bytes"),
    # -- replicator (the source keys are those of its /stats) --------------------------
    Family("replicator", "filefleet_replicated_chunks_total", "counter",
           "Replicas this replicator created (events and repair).", "copied"),
    Family("replicator", "filefleet_replicated_bytes_total", "counter",
           "Bytes of those replicas.", "copied_bytes"),
    Family("replicator", "filefleet_replication_failures_total", "counter",
           "Copies that failed (each then tried on another node).", "failed"),
    Family("replicator", "filefleet_repair_backlog_chunks", "gauge",
           "Chunks the last repair pass left below R (no live source, or too few active "
           "nodes); they are tried again every --repair-interval.", "waiting"),
    Family("replicator", "filefleet_repair_passes_total", "counter", "Repair passes run.",
           "passes"),
    Family("replicator", "filefleet_repaired_chunks_total", "counter",
           "Chunks a repair pass brought back to R.", "repaired"),
    Family("replicator", "filefleet_replicate_events_total", "counter",
           "Replicate events settled: acked (at R), retried (re-queued with a delay), "
           "dead_lettered (given up on; the repair pass still tries the chunk).", "events",
           "result", ("acked", "retried", "dead_lettered")),
    # -- garbage collector (the source keys are those of its /stats totals) ------------
    Family("gc", "filefleet_gc_freed_bytes_total", "counter",
           "Bytes of the replicas the GC deleted from nodes (orphans not included: no "
           "record gives their size; see filefleet_gc_orphans_deleted_total).",
           "freed_bytes"),
    Family("gc", "filefleet_gc_replicas_deleted_total", "counter", "Replicas deleted.",
           "chunks_deleted"),
    Family("gc", "filefleet_gc_files_collected_total", "counter", "File records removed.",
           "files_collected"),
    Family("gc", "filefleet_gc_orphans_deleted_total", "counter",
           "Chunks deleted from a node that no record named.", "orphans_deleted"),
    Family("gc", "filefleet_gc_failures_total", "counter",
           "Steps a node or the controller failed (retried next pass).", "failures"),
    Family("gc", "filefleet_gc_passes_total", "counter", "Collection passes completed.",
           "passes"),
)  # fmt: skip


def family(name: str) -> Family:
    return next(f for f in CATALOGUE if f.name == name)
