"""`filefleet node`: a ChunkStore served over HTTP, with its ping and scrub loops."""

from __future__ import annotations

import logging

from aiohttp import web

from filefleet.core.errors import FilefleetError
from filefleet.core.suspects import SuspectNodes
from filefleet.http.controller_api import ControllerClient
from filefleet.http.node_api import NodeClient
from filefleet.http.replicas import ReplicaReader
from filefleet.http.retry import RetryPolicy
from filefleet.node.api import make_node_app
from filefleet.node.chunkstore import ChunkStore, lock_data_dir
from filefleet.node.ping import Pinger
from filefleet.node.scrub import Scrubber
from filefleet.runtime.logging import setup_logging
from filefleet.runtime.service import Service, run, run_beside
from filefleet.runtime.settings import NodeSettings

log = logging.getLogger(__name__)

# A ping is retried once, quickly: the next one comes within --ping-interval anyway.
PING_RETRY = RetryPolicy(attempts=2, base_delay=0.1, max_delay=0.5)


def public_url(settings: NodeSettings) -> str:
    default = f"{settings.scheme}://{settings.host}:{settings.port}"
    return (settings.public_url or default).rstrip("/")


def build_app(settings: NodeSettings, store: ChunkStore) -> web.Application:
    http = settings.http_client()
    controller = ControllerClient(http, settings.controller_urls, retry=PING_RETRY)
    pinger = Pinger(
        store, controller, public_url(settings), settings.ping_interval, name=settings.name
    )
    scrubber = Scrubber(store, controller, settings.scrub_rate)
    # Copies from other nodes (the replicator's) read them as every service reads replicas;
    # a bad source is reported with the controller client's usual retries.
    reports = ControllerClient(http, settings.controller_urls)
    reader = ReplicaReader(NodeClient(http), reports, SuspectNodes())
    app = make_node_app(
        store, scrubber, reader, secret=settings.secret, max_chunk=settings.max_chunk
    )

    loops: list[Service] = [pinger, scrubber] if scrubber.enabled else [pinger]
    run_beside(app, loops, [http.close])
    return app


def main(settings: NodeSettings) -> None:
    setup_logging("node", json_lines=settings.log_json, level=settings.log_level)
    try:
        lock = lock_data_dir(settings.data)
        store = ChunkStore(settings.data, capacity=settings.capacity, reserve=settings.reserve)
    except (FilefleetError, OSError) as exc:
        log.error("cannot start the node on %s: %s", settings.data, exc)
        raise SystemExit(2) from None
    usage = store.usage()
    log.info(
        "node %s: %d chunks (%d bytes) in %s, scrub %.1f MiB/s",
        store.node_id,
        usage.chunks,
        usage.bytes,
        settings.data,
        settings.scrub_rate,
    )

    async def app_factory() -> web.Application:
        return build_app(settings, store)

    try:
        run(app_factory, settings)
    except OSError as exc:  # e.g. the port is taken
        log.error("cannot serve on %s:%d: %s", settings.host, settings.port, exc)
        raise SystemExit(2) from None
    finally:
        lock.close()
