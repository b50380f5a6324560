"""``filefleet controller``: open the metadata store, migrate it, serve the API."""

from __future__ import annotations

import logging

from aiohttp import web

from filefleet.core import ids
from filefleet.core.errors import FilefleetError
from filefleet.runtime.logging import setup_logging
from filefleet.runtime.service import run
from filefleet.runtime.settings import ControllerSettings
from filefleet.store.sql import open_store

from .app import build_app

log = logging.getLogger("filefleet.controller")


def main(settings: ControllerSettings) -> None:
    setup_logging("controller", json_lines=settings.log_json, level=settings.log_level)
    service_id = ids.new_node_id()  # one per process: tells controllers behind one DB apart

    async def app_factory() -> web.Application:
        store = await open_store(settings.db)
        log.info(
            "metadata store ready (%s), node TTL %.1fs", _shown(settings.db), settings.node_ttl
        )
        return build_app(store, settings, service_id)

    try:
        run(app_factory, settings)
    except FilefleetError as exc:
        log.error("cannot start: %s", exc.message)
        raise SystemExit(1) from None
    except OSError as exc:
        log.error("cannot listen on %s:%d: %s", settings.host, settings.port, exc.strerror or exc)
        raise SystemExit(1) from None


def _shown(url: str) -> str:
    """The database URL without its password, for the log."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        creds, _, host = rest.rpartition("@")
        rest = f"{creds.split(':', 1)[0]}:***@{host}" if ":" in creds else rest
    return scheme + sep + rest
