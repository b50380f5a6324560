"""Reading a GET response's body straight into the caller's buffer (chunk reads).

aiohttp hands a response body over as a new bytes object per socket read, which the
caller then copies into its buffer: two copies and an allocation for every 256 KiB, about
a quarter of the frontend's CPU while it serves a download. Here the body goes from the
kernel into the buffer in one ``recv_into`` per read, nothing in between.

It is the HTTP client's own path for one job, used through ``HttpClient.get_into``: a
plain HTTP/1.1 GET over keep-alive connections kept per host, the same headers (cluster
secret, request id), timeouts and error translation as every other call. Only what a
chunk read needs: ``http://`` URLs, and answers with a ``Content-Length`` (a node always
sends one); anything else is refused as Unavailable, never guessed at.

A kept connection the server has meanwhile closed fails before the first byte of the
answer; the request, a GET, is then sent once more on a new connection.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from filefleet.core.errors import Unavailable

HEAD_LIMIT = 16 * 1024  # a response head longer than this is refused
ERROR_LIMIT = 1024 * 1024  # an error answer's body longer than this is refused
IDLE_PER_HOST = 32  # kept connections per host:port

# Called as bytes arrive: the body's view and how many of its bytes are in.
Arrived = Callable[[memoryview, int], None]


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytearray | memoryview  # a view of the caller's buffer, or a buffer of its own


class _Stale(Exception):
    """A kept connection closed by the server before it answered: safe to send again."""


class DirectGets:
    def __init__(self, connect_timeout: float) -> None:
        self.connect_timeout = connect_timeout
        self._idle: dict[tuple[str, int], list[socket.socket]] = {}

    def close(self) -> None:
        for sockets in self._idle.values():
            for sock in sockets:
                sock.close()
        self._idle.clear()

    async def get(
        self,
        url: str,
        headers: Mapping[str, str],
        into: bytearray | None,
        timeout: float,
        arrived: Arrived | None = None,
    ) -> Answer:
        """GET ``url``; a 2xx body lands in ``into`` if it fits (else in a new buffer),
        ``arrived`` following it. Raises Unavailable for connection failures, timeouts and
        answers this reader does not handle; the status is the caller's to judge."""
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise Unavailable(f"GET {url}: only http:// URLs are read directly")
        host, port = parts.hostname, parts.port or 80
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"  # IPv6 literal
        request = _request_head(path, authority, headers)
        try:
            async with asyncio.timeout(timeout):
                sock = self._take(host, port)
                if sock is not None:
                    try:
                        return await self._exchange(sock, (host, port), request, into, arrived)
                    except _Stale:
                        pass  # closed while it was kept: once more on a new connection
                sock = await self._connect(host, port)
                try:
                    return await self._exchange(sock, (host, port), request, into, arrived)
                except _Stale as exc:
                    raise ConnectionResetError("closed before answering") from exc
        except (OSError, TimeoutError, ValueError) as exc:
            raise Unavailable(f"GET {url}: {type(exc).__name__}: {exc}") from exc

    def _take(self, host: str, port: int) -> socket.socket | None:
        idle = self._idle.get((host, port))
        return idle.pop() if idle else None

    def _keep(self, key: tuple[str, int], sock: socket.socket) -> None:
        idle = self._idle.setdefault(key, [])
        if len(idle) < IDLE_PER_HOST:
            idle.append(sock)
        else:
            sock.close()

    async def _connect(self, host: str, port: int) -> socket.socket:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(self.connect_timeout):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            last: OSError = OSError(f"no address for {host}")
            for family, kind, proto, _, address in infos:
                sock = socket.socket(family, kind, proto)
                sock.setblocking(False)
                try:
                    await loop.sock_connect(sock, address)
                except OSError as exc:
                    sock.close()
                    last = exc
                    continue
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                return sock
            raise last

    async def _exchange(
        self,
        sock: socket.socket,
        key: tuple[str, int],
        request: bytes,
        into: bytearray | None,
        arrived: Arrived | None,
    ) -> Answer:
        """One request and its answer on ``sock``; the socket is kept afterwards if the
        answer was read whole and the server keeps the connection, else closed."""
        loop = asyncio.get_running_loop()
        keep = False
        try:
            try:
                await loop.sock_sendall(sock, request)
                head, rest = await _read_head(loop, sock)
            except (ConnectionResetError, BrokenPipeError, _Stale) as exc:
                raise _Stale() from exc
            status, length, keep = _parse_head(head)
            if not 200 <= status < 300 and length > ERROR_LIMIT:
                raise ValueError(f"a {status} answer of {length} bytes")
            fits = 200 <= status < 300 and into is not None and len(into) >= length
            buffer = into if fits and into is not None else bytearray(length)
            view = memoryview(buffer)[:length]
            if len(rest) > length:
                raise ValueError(f"{len(rest)} bytes after the head, {length} announced")
            view[: len(rest)] = rest
            filled = len(rest)
            report = arrived if 200 <= status < 300 else None
            if report is not None:
                report(view, filled)  # what came with the head (maybe nothing)
            while filled < length:
                n = await loop.sock_recv_into(sock, view[filled:])
                if n == 0:
                    raise ConnectionResetError(f"closed after {filled} of {length} bytes")
                filled += n
                if report is not None:
                    report(view, filled)
            return Answer(status, view if buffer is into else buffer)
        except BaseException:
            keep = False
            raise
        finally:
            if keep:
                self._keep(key, sock)
            else:
                sock.close()


def _request_head(path: str, host: str, headers: Mapping[str, str]) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}", "Accept-Encoding: identity"]
    for name, value in headers.items():
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
            raise ValueError(f"header {name!r} holds a line break")
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _read_head(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> tuple[bytes, bytes]:
    """The response head (up to the blank line) and the body bytes that came with it."""
    buffer = bytearray(HEAD_LIMIT)
    view = memoryview(buffer)
    got = 0
    while True:
        n = await loop.sock_recv_into(sock, view[got:])
        if n == 0:
            raise _Stale() if got == 0 else ConnectionResetError("closed inside the head")
        got += n
        end = buffer.find(b"\r\n\r\n", 0, got)
        if end >= 0:
            return bytes(buffer[:end]), bytes(buffer[end + 4 : got])
        if got == len(buffer):
            raise ValueError(f"response head longer than {HEAD_LIMIT} bytes")


def _parse_head(head: bytes) -> tuple[int, int, bool]:
    """(status, Content-Length, whether the connection stays open) of a response head."""
    status_line, *lines = head.decode("latin-1").split("\r\n")
    version, _, rest = status_line.partition(" ")
    code = rest[:3]
    if not version.startswith("HTTP/1.") or not code.isdigit():
        raise ValueError(f"not an HTTP/1.x status line: {status_line[:80]!r}")
    fields: dict[str, str] = {}
    for line in lines:
        name, sep, value = line.partition(":")
        if not sep:
            raise ValueError(f"malformed header line: {line[:80]!r}")
        fields[name.strip().lower()] = value.strip()
    if "transfer-encoding" in fields:
        raise ValueError(f"Transfer-Encoding {fields['transfer-encoding']} is not read here")
    length = fields.get("content-length", "")
    if not length.isdigit():
        raise ValueError("the answer has no Content-Length")
    connection = fields.get("connection", "").lower()
    keep = connection != "close" and (version != "HTTP/1.0" or connection == "keep-alive")
    return int(code), int(length), keep
