"""``filefleet gc``: the collector's loop, with ``/healthz``, ``/stats`` and ``/metrics`` on
--host/--port.

``--once`` runs one pass, prints its counts as JSON and exits (non-zero if the pass failed).
"""

from __future__ import annotations

import asyncio
import json
import logging

from aiohttp import web

from filefleet.core import ids
from filefleet.fastpath.eventloop import install_uvloop
from filefleet.gc.worker import GarbageCollector
from filefleet.http.client import HttpClient
from filefleet.http.controller_api import ControllerClient
from filefleet.http.metrics import METRICS
from filefleet.http.node_api import NodeClient
from filefleet.http.server import Api, make_app
from filefleet.runtime import service
from filefleet.runtime.logging import setup_logging
from filefleet.runtime.service import run_beside
from filefleet.runtime.settings import GCSettings

log = logging.getLogger(__name__)

WORKER = web.AppKey("gc", GarbageCollector)

api = Api("gc")


@api.route("GET", "/stats", summary="The collector's counters: totals and the last pass")
async def stats(request: web.Request) -> web.Response:
    worker = request.app[WORKER]
    return web.json_response(
        {
            "passes": worker.passes,
            "failed_passes": worker.failures,
            "totals": worker.totals.as_dict(),
            "last_pass": worker.last.as_dict(),
        }
    )


def build_worker(settings: GCSettings, http: HttpClient) -> GarbageCollector:
    controller = ControllerClient(http, settings.controller_urls)
    return GarbageCollector(
        controller, NodeClient(http), interval=settings.gc_interval, grace=settings.gc_grace
    )


def build_app(settings: GCSettings) -> web.Application:
    http = settings.http_client()
    worker = build_worker(settings, http)
    app = make_app(api, service_id=ids.new_node_id(), secret=settings.secret)
    app[WORKER] = worker

    async def counters() -> dict[str, int]:  # the totals of /stats, for /metrics
        return {**worker.totals.as_dict(), "passes": worker.passes}

    app[METRICS].read_at_scrape(counters)

    log.info("collecting every %.1fs, grace %.1fs", settings.gc_interval, settings.gc_grace)
    run_beside(app, [worker], [http.close])
    return app


async def run_one_pass(settings: GCSettings) -> dict[str, int]:
    async with settings.http_client() as http:
        return await build_worker(settings, http).run_once()


def main(settings: GCSettings) -> None:
    setup_logging("gc", json_lines=settings.log_json, level=settings.log_level)
    if settings.once:
        install_uvloop()
        try:
            counts = asyncio.run(run_one_pass(settings))
        except Exception as exc:
            log.error("the pass failed: %s", exc)
            raise SystemExit(1) from None
        print(json.dumps(counts))
        return

    async def factory() -> web.Application:
        return build_app(settings)

    try:
        service.run(factory, settings)
    except OSError as exc:
        log.error("cannot serve on %s:%d: %s", settings.host, settings.port, exc)
        raise SystemExit(2) from None
