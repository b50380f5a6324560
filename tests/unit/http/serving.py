"""A real aiohttp server for HTTP client tests, on a free port, stopped afterwards; over
plain HTTP, or HTTPS with a certificate of a test CA (``tests/harness/certs.py``)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from aiohttp import web
from aiohttp.test_utils import TestServer

from filefleet.http.tls import server_context
from filefleet.runtime.https_site import HttpsSite
from tests.harness.certs import ServerFiles


@contextlib.asynccontextmanager
async def served(app: web.Application) -> AsyncIterator[str]:
    """``app`` served on a free port: its base URL (no trailing slash)."""
    server = TestServer(app)
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


@contextlib.asynccontextmanager
async def served_https(app: web.Application, files: ServerFiles) -> AsyncIterator[str]:
    """``app`` served over HTTPS (``HttpsSite``, as every service serves it) with the
    certificate ``files`` on a free port: its base URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = HttpsSite(runner, "127.0.0.1", 0, server_context(files.cert, files.key))
    await site.start()
    try:
        yield f"https://127.0.0.1:{site.port}"
    finally:
        await runner.cleanup()
