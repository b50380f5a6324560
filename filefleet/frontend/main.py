"""``filefleet frontend``: build the app (``app.py``) and serve it."""

from __future__ import annotations

from aiohttp import web

from filefleet.frontend.app import build_app
from filefleet.runtime import service
from filefleet.runtime.logging import setup_logging
from filefleet.runtime.settings import FrontendSettings


def main(settings: FrontendSettings) -> None:
    setup_logging("frontend", json_lines=settings.log_json, level=settings.log_level)

    async def factory() -> web.Application:
        return await build_app(settings)

    service.run(factory, settings)
