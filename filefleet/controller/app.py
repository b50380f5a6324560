"""The controller's app: its route tables (``api.py``, ``ui.py``) registered explicitly,
over an open metadata store, with the queue and the node lifecycle beside it."""

from __future__ import annotations

from functools import partial

from aiohttp import web

from filefleet.http.metrics import METRICS
from filefleet.http.server import make_app
from filefleet.queue.factory import open_queue
from filefleet.runtime.settings import ControllerSettings
from filefleet.store.base import MetadataStore

from . import api, ui
from .context import LIFECYCLE, QUEUE, SETTINGS, STORE
from .lifecycle import Lifecycle
from .metrics import fleet_counters


def build_app(
    store: MetadataStore, settings: ControllerSettings, service_id: str
) -> web.Application:
    """The controller's app over an open store; the store is closed at app cleanup."""
    routes = api.api.including(ui.api)
    app = make_app(routes, service_id=service_id, secret=settings.secret)
    app[STORE] = store
    app[SETTINGS] = settings
    app[METRICS].read_at_scrape(partial(fleet_counters, store, settings))
    queue = open_queue(settings.queue) if settings.queue else None
    if queue is not None:
        app[QUEUE] = queue
    app[LIFECYCLE] = Lifecycle(store, settings.replicas, settings.node_ttl, queue)

    async def close_store(_: web.Application) -> None:
        await app[LIFECYCLE].close()
        await store.close()
        if queue is not None:
            await queue.close()

    app.on_cleanup.append(close_store)
    return app
