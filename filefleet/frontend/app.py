"""The frontend's app: its route tables registered explicitly (``api.py``, ``delete.py``,
``qr.py``, ``resumable_api.py``, ``bundles_api.py``, ``unlock.py``: each its own table, none imports
another), over its clients, uploader, downloader and queue."""

from __future__ import annotations

import importlib.resources
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from filefleet.core.chunking import CHUNK_API_INFLIGHT
from filefleet.fastpath.buffers import byte_buffers
from filefleet.frontend import api, bundles_api, delete, qr, resumable_api, unlock
from filefleet.frontend.bundles import BundleMaker
from filefleet.frontend.context import FRONTEND, FrontendContext
from filefleet.frontend.download import Downloader, ReadAheadPool
from filefleet.frontend.html_errors import html_errors
from filefleet.frontend.nodes import NodeDirectory
from filefleet.frontend.resumable import ResumableUploads
from filefleet.frontend.upload import Uploader, UploadSteps
from filefleet.frontend.writer import ChunkWriter
from filefleet.http.controller_api import ControllerClient
from filefleet.http.metrics import METRICS
from filefleet.http.node_api import NodeClient
from filefleet.http.replicas import ReplicaReader
from filefleet.http.server import make_app
from filefleet.queue.factory import open_queue
from filefleet.runtime.settings import FrontendSettings

log = logging.getLogger(__name__)

PACKAGE = importlib.resources.files("filefleet.frontend")


def load_pages() -> dict[str, str]:
    templates = PACKAGE / "templates"
    return {p.name: p.read_text("utf-8") for p in templates.iterdir() if p.name.endswith(".html")}


async def build_app(settings: FrontendSettings) -> web.Application:
    http = settings.http_client()
    controller = ControllerClient(http, settings.controller_urls)
    nodes = NodeClient(http)
    directory = NodeDirectory(controller)
    writer = ChunkWriter(nodes, directory)
    # One stock of chunk buffers for uploads, downloads and chunk API bodies: as many as one
    # of them holds at once stay allocated between requests, so one job after another
    # reuses the same memory (an upload holds `inflight` + 1, a download `read_ahead`;
    # a chunk API client such as `filefleet share` sends CHUNK_API_INFLIGHT chunks at a time).
    keep = max(settings.inflight + 1, settings.read_ahead, CHUNK_API_INFLIGHT)
    buffers = byte_buffers(settings.chunk_size, keep=keep)
    replicas = ReplicaReader(nodes, controller, directory.suspects)
    downloader = Downloader(
        controller,
        replicas,
        directory,
        read_ahead=settings.read_ahead,
        pool=ReadAheadPool(settings.read_ahead_pool),
        buffers=buffers,
    )
    queue = open_queue(settings.queue) if settings.queue else None
    if queue is None:
        log.warning("no --queue: no replicate events; chunks reach R replicas by periodic repair")
    steps = UploadSteps(controller, writer, replicas, queue)  # both upload APIs take these steps
    ctx = FrontendContext(
        settings=settings,
        http=http,
        controller=controller,
        uploader=Uploader(
            steps,
            chunk_size=settings.chunk_size,
            inflight=settings.inflight,
            max_upload=settings.max_upload,
            buffers=buffers,
        ),
        downloader=downloader,
        resumable=ResumableUploads(
            steps,
            nodes,
            directory,
            downloader,
            chunk_size=settings.chunk_size,
            max_upload=settings.max_upload,
            dedup=settings.dedup,
        ),
        bundles=BundleMaker(controller, downloader),
        queue=queue,
        pages=load_pages(),
        chunk_bodies=buffers,
    )
    # The frontend's own routes are public; the secret guards /metrics.
    routes = api.api.including(delete.api, qr.api, resumable_api.api, bundles_api.api, unlock.api)
    app = make_app(routes, service_id="frontend", secret=settings.secret)
    app[FRONTEND] = ctx
    app.middlewares.append(html_errors)  # innermost: a browser's errors become pages

    async def counters() -> dict[str, int]:  # what /stats shows, summed as /metrics shows it
        received = ctx.uploader.counters.bytes_received + ctx.resumable.counters.bytes_received
        return {
            "upload_bytes": received,
            "download_bytes": downloader.counters.bytes_sent,
            "chunks_stored": writer.counters.chunks_stored,
            "downloads_streaming": downloader.pool.downloads,
            "read_ahead_lent": downloader.pool.lent,
        }

    app[METRICS].read_at_scrape(counters)

    async def lifecycle(_: web.Application) -> AsyncIterator[None]:
        yield
        await http.close()
        if queue is not None:
            await queue.close()

    app.cleanup_ctx.append(lifecycle)
    return app
