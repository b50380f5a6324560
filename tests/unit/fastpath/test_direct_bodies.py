"""A large request body leaves the client as it is (``fastpath/direct.py``): no chunk-sized
object is made on the way out, and the bytes arrive intact."""

from __future__ import annotations

import hashlib
import os
import tracemalloc

from aiohttp import web
from aiohttp.test_utils import TestServer

from filefleet.http.client import HttpClient


async def test_a_4_mib_body_is_sent_without_a_copy_of_it() -> None:
    received: list[str] = []

    async def digest(request: web.Request) -> web.Response:
        sha = hashlib.sha256()
        async for piece in request.content.iter_chunked(64 * 1024):  # never the whole body
            sha.update(piece)
        received.append(sha.hexdigest())
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/chunk", digest)
    server = TestServer(app)
    await server.start_server()
    body = bytearray(os.urandom(4 * 1024 * 1024))
    try:
        async with HttpClient() as http:
            await http.request("POST", str(server.make_url("/chunk")), data=memoryview(body))
            tracemalloc.start()
            try:
                await http.request("POST", str(server.make_url("/chunk")), data=memoryview(body))
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
    finally:
        await server.close()
    assert received == [hashlib.sha256(body).hexdigest()] * 2
    assert peak < len(body) // 2, f"{peak} bytes allocated at the peak to send {len(body)}"
