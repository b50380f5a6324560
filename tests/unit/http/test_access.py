"""Access lines in process: their JSON keys under ``--log-json``, and a client that leaves
in the middle of a download or an upload told in one INFO line, never an ERROR."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import struct
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from filefleet.frontend.download import DownloadCounters
from filefleet.frontend.streaming import stream_body
from filefleet.http import access
from filefleet.http.access import Access
from filefleet.http.server import Api, make_app
from filefleet.runtime.logging import ContextFilter, JsonFormatter
from tests.harness.metrics import Samples, parse

MiB = 1024 * 1024
FILE_ID = "F" * 24
PIECES = 64  # a 64 MiB body: far more than socket buffers hold, so the client can leave
AUTH = {"Authorization": "Bearer s"}

api = Api("access-test")
COUNTERS = web.AppKey("counters", DownloadCounters)
CLOSED = web.AppKey("closed", asyncio.Event)


@api.route("POST", "/upload", summary="Take a body.", public=True, access="upload")
async def upload(request: web.Request) -> web.Response:
    received = 0
    async for piece in request.content.iter_any():
        received += len(piece)
    access.note(request, file_id=FILE_ID, moved=received)
    return web.json_response({"id": FILE_ID}, status=201)


@api.route("GET", "/download/{id}", summary="Stream a body.", public=True, access="download")
async def download(request: web.Request) -> web.StreamResponse:
    access.note(request, file_id=request.match_info["id"])

    async def pieces() -> AsyncGenerator[bytes, None]:
        try:
            for _ in range(PIECES):
                yield bytes(MiB)
        finally:
            request.app[CLOSED].set()

    response = web.StreamResponse(headers={"Content-Length": str(PIECES * MiB)})
    await response.prepare(request)
    rest = pieces()
    async with contextlib.aclosing(rest):
        await stream_body(request, response, None, rest, request.app[COUNTERS])
    return response


class JsonLines(logging.Handler):
    """The access lines as ``--log-json`` writes them, parsed back."""

    def __init__(self) -> None:
        super().__init__()
        self.addFilter(ContextFilter("frontend"))
        self.setFormatter(JsonFormatter())
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def lines() -> Iterator[JsonLines]:
    handler = JsonLines()
    logger = logging.getLogger("filefleet.access")
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


@dataclass
class Served:
    app: web.Application
    url: str
    session: aiohttp.ClientSession
    cancelling: bool  # aiohttp cancels a handler whose client left (not as served)

    async def scrape(self) -> Samples:
        async with self.session.get(f"{self.url}/metrics", headers=AUTH) as resp:
            return parse(await resp.text())


@pytest.fixture(params=[False, True], ids=["as-served", "handler-cancellation"])
async def served(request: pytest.FixtureRequest) -> AsyncIterator[Served]:
    """The app served as ``runtime/service.py`` serves every service (aiohttp lets a
    handler run on when its client left), and also with the handler cancelled then."""
    app = make_app(api, service_id="t", secret="s")
    app[COUNTERS] = DownloadCounters()
    app[CLOSED] = asyncio.Event()
    runner = web.AppRunner(
        app, access_log=None, handle_signals=False, handler_cancellation=request.param
    )
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with aiohttp.ClientSession() as session:
            yield Served(app, f"http://127.0.0.1:{port}", session, request.param)
    finally:
        await runner.cleanup()


async def wait_for_line(lines: JsonLines, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while not lines.lines:
        assert time.monotonic() < deadline, "no access line"
        await asyncio.sleep(0.01)
    return lines.lines[0]


async def reset_after(served: Served, request: bytes, *, read: int) -> None:
    """Send ``request``, read ``read`` bytes of the answer, then reset the connection (a
    browser tab closed, curl interrupted)."""
    url = URL(served.url)
    reader, writer = await asyncio.open_connection(url.host, url.port)
    writer.write(request)
    await writer.drain()
    if read:
        await reader.readexactly(read)
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def test_an_upload_line_has_its_values_as_json_keys(served: Served, lines: JsonLines) -> None:
    body = bytes(3 * MiB + 5)
    headers = {"X-Request-Id": "req-1"}
    async with served.session.post(f"{served.url}/upload", data=body, headers=headers) as resp:
        assert resp.status == 201
    line = await wait_for_line(lines)
    assert line["level"] == "info" and line["logger"] == "filefleet.access"
    assert line["request_id"] == "req-1"
    assert {k: line[k] for k in ("event", "id", "method", "bytes", "status", "result")} == {
        "event": "upload", "id": FILE_ID, "method": "POST", "bytes": len(body), "status": 201,
        "result": "ok",
    }  # fmt: skip
    assert line["client"] == "127.0.0.1" and isinstance(line["seconds"], float)
    assert line["msg"].startswith(f"upload {FILE_ID}: 201, {len(body)} bytes in ")
    assert (await served.scrape()).value("filefleet_uploads_total", result="ok") == 1


async def test_a_client_that_leaves_mid_download_is_one_info_line(
    served: Served, lines: JsonLines, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    request = f"GET /download/{FILE_ID} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    await reset_after(served, request, read=2 * MiB)

    line = await wait_for_line(lines)
    # The status is the answer's once it began; a handler cancelled never learns it.
    status = 499 if served.cancelling else 200
    assert (line["level"], line["event"], line["status"]) == ("info", "download", status)
    assert line["result"] == "client_gone"
    assert 2 * MiB <= line["bytes"] < PIECES * MiB
    assert line["msg"].endswith(f"client went away after {line['bytes']} bytes")
    await asyncio.wait_for(served.app[CLOSED].wait(), 5)  # the body's source was closed
    assert served.app[COUNTERS].bytes_sent == line["bytes"]
    assert len(lines.lines) == 1
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    samples = await served.scrape()
    assert samples.value("filefleet_downloads_total", result="client_gone") == 1


async def test_a_client_that_leaves_mid_upload_is_one_info_line_and_a_499(
    served: Served, lines: JsonLines, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    head = f"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: {10 * MiB}\r\n\r\n".encode()
    await reset_after(served, head + bytes(MiB), read=0)

    line = await wait_for_line(lines)
    assert (line["level"], line["status"], line["result"]) == ("info", 499, "client_gone")
    assert line["msg"].endswith(f"client went away after {line['bytes']} bytes")
    assert line["bytes"] <= MiB
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    samples = await served.scrape()
    assert samples.value("filefleet_uploads_total", result="client_gone") == 1
    requests = "filefleet_http_requests_total"
    assert samples.value(requests, service="access-test", method="POST", route="/upload",
                         status="499") == 1  # fmt: skip


@pytest.mark.parametrize(
    ("record", "status", "result"),
    [
        (Access("upload"), 201, "ok"),
        (Access("download"), 206, "ok"),
        (Access("download"), 404, "rejected"),
        (Access("upload"), 503, "failed"),
        (Access("download", failure="every replica of a chunk failed"), 200, "failed"),
        (Access("download", gone=True), 200, "client_gone"),
        (Access("upload", gone=True), 499, "client_gone"),
    ],
)
def test_results(record: Access, status: int, result: str) -> None:
    assert record.result(status) == result
