"""`filefleet replicator`: the event worker and the repair loop, with /healthz, /stats and
/metrics.

Without ``--queue`` only the repair loop runs (every chunk still reaches R, one
``--repair-interval`` later). ``--once`` runs one repair pass, prints its counts and exits.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import asdict
from typing import Any

from aiohttp import web

from filefleet.http.client import HttpClient
from filefleet.http.controller_api import ControllerClient
from filefleet.http.metrics import METRICS
from filefleet.http.node_api import NodeClient
from filefleet.http.server import Api, make_app
from filefleet.queue.factory import open_queue
from filefleet.replicator.copy import ChunkCopier
from filefleet.replicator.repair import RepairLoop
from filefleet.replicator.worker import EventWorker, consumer_name
from filefleet.runtime.logging import setup_logging
from filefleet.runtime.service import Service, run, run_beside
from filefleet.runtime.settings import ReplicatorSettings

log = logging.getLogger(__name__)

api = Api("replicator")
STATS = web.AppKey("stats", dict)


@api.route("GET", "/stats", summary="Counters: copies, retries, dead letters, repair passes")
async def stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATS]["read"]())


def build_copier(settings: ReplicatorSettings, http: HttpClient) -> ChunkCopier:
    controller = ControllerClient(http, settings.controller_urls)
    return ChunkCopier(
        controller, NodeClient(http), replicas=settings.replicas,
        repair_after=settings.repair_after,
    )  # fmt: skip


def counters(copier: ChunkCopier, repair: RepairLoop, worker: EventWorker | None) -> dict[str, Any]:
    """Flat counters for /stats and /metrics (tests assert on them)."""
    result: dict[str, Any] = {**asdict(copier.counters), **asdict(repair.counters)}
    result["events"] = asdict(worker.counters) if worker else None
    result["retried"] = worker.counters.retried if worker else 0
    result["dead_lettered"] = worker.counters.dead_lettered if worker else 0
    return result


def build_app(settings: ReplicatorSettings) -> web.Application:
    name = consumer_name()
    http = settings.http_client()
    copier = build_copier(settings, http)
    repair = RepairLoop(copier, interval=settings.repair_interval, rate_mib=settings.repair_rate)
    queue = open_queue(settings.queue, claim_after=settings.claim_after) if settings.queue else None
    worker = EventWorker(queue, copier, consumer=name) if queue else None
    if queue is None:
        log.warning("no --queue: no events; chunks reach R by the repair pass only")
    app = make_app(api, service_id=name, secret=settings.secret)
    app[STATS] = {"read": lambda: counters(copier, repair, worker)}

    async def read() -> dict[str, Any]:  # the counters of /stats, for /metrics
        return counters(copier, repair, worker)

    app[METRICS].read_at_scrape(read)

    loops: list[Service] = [repair] + ([worker] if worker else [])
    run_beside(app, loops, ([queue.close] if queue else []) + [http.close])
    return app


async def repair_once(settings: ReplicatorSettings) -> dict[str, int]:
    async with settings.http_client() as http:
        copier = build_copier(settings, http)
        repair = RepairLoop(copier, interval=0, rate_mib=settings.repair_rate)
        counts = await repair.run_once()
        return {**counts, "copied": copier.counters.copied}


def main(settings: ReplicatorSettings) -> None:
    setup_logging("replicator", json_lines=settings.log_json, level=settings.log_level)
    if settings.once:
        print(json.dumps(asyncio.run(repair_once(settings))))
        return

    async def app_factory() -> web.Application:
        return build_app(settings)

    try:
        run(app_factory, settings)
    except OSError as exc:
        log.error("cannot serve on %s:%d: %s", settings.host, settings.port, exc)
        raise SystemExit(2) from None
