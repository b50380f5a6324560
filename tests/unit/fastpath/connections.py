"""What the kept-connection tests share: a server dropping the client's idle connection."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time

from filefleet.http.client import HttpClient


async def server_drops_the_kept_connection(
    http: HttpClient, transport: asyncio.BaseTransport
) -> None:
    """Close the server's end of ``http``'s one idle connection (``transport``) and wait,
    within 10 s, until the client's socket sees it closed."""
    [kept] = [channel.sock for idle in http._direct._idle.values() for channel in idle]
    transport.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(BlockingIOError):
            if kept.recv(1, socket.MSG_PEEK) == b"":
                return
        await asyncio.sleep(0.02)
    raise AssertionError("the client never saw the server close its kept connection")
