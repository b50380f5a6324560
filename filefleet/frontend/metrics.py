"""The frontend's metrics, read from the counters its uploaders and downloader keep (the
ones ``GET /stats`` shows) at each scrape. ``filefleet_uploads_total{result}`` and
``filefleet_downloads_total{result}`` come with the access lines (``http/access.py``)."""

from __future__ import annotations

from prometheus_client.metrics_core import Metric

from filefleet.frontend.context import FrontendContext
from filefleet.http.metrics import counter


async def frontend_metrics(ctx: FrontendContext) -> list[Metric]:
    received = ctx.uploader.counters.bytes_received + ctx.resumable.counters.bytes_received
    return [
        counter(
            "filefleet_upload_bytes",
            "File bytes received by uploads: POST/PUT /upload and the chunk API's chunks "
            "(claimed chunks, whose bytes never come, are not counted).",
            received,
        ),
        counter(
            "filefleet_download_bytes",
            "File bytes written to downloaders (a client that left stops the count).",
            ctx.downloader.counters.bytes_sent,
        ),
        counter(
            "filefleet_stored_chunks",
            "Chunks the frontend stored on a node (each its first replica).",
            ctx.uploader.writer.counters.chunks_stored,
        ),
    ]
