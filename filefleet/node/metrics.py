"""The node's metrics, read at each scrape from what ``GET /stats`` shows: the chunk
store's running counts, its disk space (one ``statvfs``), and the scrubber's counters."""

from __future__ import annotations

import asyncio

from prometheus_client.metrics_core import Metric

from filefleet.http.metrics import counter, gauge
from filefleet.node.chunkstore import ChunkStore
from filefleet.node.scrub import Scrubber


async def node_metrics(store: ChunkStore, scrubber: Scrubber) -> list[Metric]:
    usage = store.usage()
    space = await asyncio.to_thread(store.space)
    return [
        gauge("filefleet_node_chunks", "Chunks stored on this node.", usage.chunks),
        gauge("filefleet_node_stored_bytes", "Bytes of the chunks stored here.", usage.bytes),
        gauge(
            "filefleet_node_free_bytes",
            "Bytes this node can still take (above its --reserve, within --capacity).",
            space.free,
        ),
        gauge("filefleet_node_capacity_bytes", "Bytes this node offers.", space.capacity),
        counter(
            "filefleet_scrub_quarantined",
            "Chunks found corrupt (by the scrubber or fsck --verify) and quarantined.",
            scrubber.corrupt,
        ),
        counter(
            "filefleet_scrub_scanned_bytes",
            "Bytes the scrubber (and fsck --verify) re-hashed.",
            scrubber.scanned_bytes,
        ),
    ]
