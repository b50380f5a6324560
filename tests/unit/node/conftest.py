"""Fixtures the node's tests share: a chunk store on a temporary directory, and a fake
controller that records what a node tells it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from filefleet.http.client import HttpClient
from filefleet.http.controller_api import ControllerClient
from filefleet.node.chunkstore import ChunkStore
from filefleet.node.main import PING_RETRY


@dataclass
class FakeController:
    """Records what the node tells the controller; ``status`` sets every answer."""

    status: int = 200
    calls: list[tuple[str, str, object]] = field(default_factory=list)
    older: bool = False  # refuses pings with fields beyond the seed's, as an older one does

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else None
        self.calls.append((request.method, request.path, body))
        seed = {"id", "url", "capacity", "free", "chunks"}
        if self.older and request.path == "/ping" and set(body or {}) - seed:
            return web.json_response({"error": "extra fields not permitted"}, status=400)
        if self.status >= 400:
            return web.json_response({"error": "nope"}, status=self.status)
        if request.method == "DELETE":  # remove a location: the chunk as it is now
            chunk = request.path.split("/")[2]
            info = {"id": chunk, "size": 1, "locations": [], "live": 0, "references": 1}
            return web.json_response({**info, "collecting": False})
        return web.json_response({})


@pytest.fixture
async def controller() -> AsyncIterator[tuple[FakeController, ControllerClient]]:
    fake = FakeController()
    server = TestServer(fake.app())
    await server.start_server()
    http = HttpClient(secret="s")
    try:
        yield fake, ControllerClient(http, [str(server.make_url("")).rstrip("/")], PING_RETRY)
    finally:
        await http.close()
        await server.close()


@pytest.fixture
def store(tmp_path: Path) -> ChunkStore:
    return ChunkStore(tmp_path / "data")
