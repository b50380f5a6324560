"""Serving an aiohttp app over HTTPS, and saying so to a client that speaks plain HTTP.

aiohttp's own TLS site hands every connection to TLS at once; a plain ``http://`` request
to it is then a connection closed without a byte, which tells the caller nothing. This
site looks at a connection's first byte before deciding (nginx does the same, with its
"plain HTTP request was sent to HTTPS port"):

- a TLS handshake record (``0x16``): TLS is set up on the connection (within
  ``HANDSHAKE_WAIT``) and the app serves it as usual;
- anything else: one plain HTTP answer, ``400 {"error": "... speaks HTTPS only: use
  https://HOST/PATH"}``, then the connection is closed. Our own client turns it into an
  InvalidInput with that message, so a node or a command pointed at ``http://`` says at
  once what is wrong;
- nothing within ``FIRST_BYTE_WAIT``: closed.

Each accepted connection waits for its first byte in a task of its own, so a client that
connects and sends nothing delays no one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import ssl
from collections.abc import Coroutine
from typing import Any

from aiohttp import web
from yarl import URL

log = logging.getLogger(__name__)

TLS_HANDSHAKE = 0x16  # the content type of a TLS record that starts a handshake
FIRST_BYTE_WAIT = 30.0
HANDSHAKE_WAIT = 10.0
PLAIN_HEAD_LIMIT = 16 * 1024  # of a plain request, read to name the URL it should use
PLAIN_DRAIN = 2.0  # after answering a plain request: how long its body is read and dropped
ACCEPT_RETRY = 1.0  # after accept() failed (no file descriptor left): as asyncio waits


class HttpsSite(web.BaseSite):
    """The runner's app on ``host:port`` (every address the name has), over TLS only."""

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext,
        *,
        backlog: int = 128,
    ) -> None:
        super().__init__(runner, ssl_context=ssl_context, backlog=backlog)
        self.host, self.port = host, port
        self.tls = ssl_context
        self.listeners: list[socket.socket] = []
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def name(self) -> str:
        return str(URL.build(scheme="https", host=self.host, port=self.port))

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(
            self.host, self.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind((address[0], self.port, *address[2:]))
                sock.listen(self._backlog)
                sock.setblocking(False)
            except OSError:
                sock.close()
                self._close_listeners()
                raise
            self.listeners.append(sock)
            self.port = sock.getsockname()[1]  # port 0: the same free port on every address
        for sock in self.listeners:
            self._spawn(self._accept(sock))

    async def stop(self) -> None:
        self._close_listeners()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await super().stop()

    def _close_listeners(self) -> None:
        for sock in self.listeners:
            sock.close()
        self.listeners.clear()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _accept(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, peer = await loop.sock_accept(listener)
            except OSError as exc:
                if listener.fileno() < 0:  # closed by stop()
                    return
                log.warning("accepting a connection failed: %s; again in %gs", exc, ACCEPT_RETRY)
                await asyncio.sleep(ACCEPT_RETRY)
                continue
            self._spawn(self._hand_over(conn, peer))

    async def _hand_over(self, conn: socket.socket, peer: object) -> None:
        """TLS for a connection that starts a handshake; a plain answer for one that does
        not; nothing for one that sends nothing."""
        loop = asyncio.get_running_loop()
        conn.setblocking(False)
        try:
            async with asyncio.timeout(FIRST_BYTE_WAIT):
                first = await _peek(loop, conn)
            if first and first[0] == TLS_HANDSHAKE:
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                server = self._runner.server
                assert server is not None
                await loop.connect_accepted_socket(
                    server, conn, ssl=self.tls, ssl_handshake_timeout=HANDSHAKE_WAIT
                )
                return  # the app's protocol owns the connection now
            if first:
                await _refuse_plain(loop, conn, self.port)
            conn.close()
        except (OSError, TimeoutError) as exc:  # ssl.SSLError is an OSError
            log.debug("connection from %s dropped before it was served: %s", peer, exc)
            conn.close()


async def _peek(loop: asyncio.AbstractEventLoop, conn: socket.socket) -> bytes:
    """The connection's first byte, left in the socket for whoever reads next; ``b""`` if
    the client closed without sending any."""
    while True:
        try:
            return conn.recv(1, socket.MSG_PEEK)
        except BlockingIOError:
            ready = loop.create_future()
            loop.add_reader(conn.fileno(), ready.set_result, None)
            try:
                await ready
            finally:
                loop.remove_reader(conn.fileno())


async def _refuse_plain(loop: asyncio.AbstractEventLoop, conn: socket.socket, port: int) -> None:
    """Answer a plain HTTP request with a 400 naming the https:// URL it meant, then read
    and drop what it still sends for a moment, so the answer is not lost to a reset."""
    head = b""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(PLAIN_DRAIN):
            while b"\r\n\r\n" not in head and len(head) < PLAIN_HEAD_LIMIT:
                more = await loop.sock_recv(conn, PLAIN_HEAD_LIMIT)
                if not more:
                    break
                head += more
    body = json.dumps({"error": plain_refusal(head, port)}).encode()
    answer = (
        b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
        b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    await loop.sock_sendall(conn, answer)
    with contextlib.suppress(OSError):
        conn.shutdown(socket.SHUT_WR)
    with contextlib.suppress(TimeoutError, OSError):
        async with asyncio.timeout(PLAIN_DRAIN):
            while await loop.sock_recv(conn, 256 * 1024):
                pass


def plain_refusal(head: bytes, port: int) -> str:
    """What a plain HTTP request to this port is told: the same URL, with ``https://``."""
    lines = head.decode("latin-1").split("\r\n")
    target = lines[0].split(" ")[1] if len(lines[0].split(" ")) == 3 else "/"
    host = next(
        (line.split(":", 1)[1].strip() for line in lines[1:] if line.lower().startswith("host:")),
        "",
    )
    if not target.startswith("/") or not host or any(c in host for c in "/\\ @"):
        return f"this service speaks HTTPS only: use an https:// URL (port {port})"
    return f"this service speaks HTTPS only: use https://{host}{target[:200]}"
