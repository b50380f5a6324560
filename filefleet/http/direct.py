"""HTTP/1.1 over the client's own kept connections: no per-read objects, no heavy imports.

Two jobs go through here, both through ``HttpClient`` (``client.py``), with the same
headers (cluster secret, request id), timeouts and error translation as every other call:

- ``get``, a chunk read: aiohttp hands a response body over as a new bytes object per
  socket read, which the caller then copies into its buffer: two copies and an allocation
  for every 256 KiB, about a quarter of the frontend's CPU while it serves a download.
  Here the body goes from the kernel into the caller's buffer in one ``recv_into`` per
  read, nothing in between. Only answers with a ``Content-Length`` (a node always sends
  one); anything else is refused as Unavailable, never guessed at.
- ``request``, any call whose answer is read whole (JSON, an error, a HEAD): what the
  command-line client uses for ``http://`` servers. Loading aiohttp costs a command about
  a third of a second before it does anything (it builds its TLS contexts at import);
  here a request body (a 4 MiB chunk) goes from the caller's buffer to the socket as it
  is. Answers may have a ``Content-Length``, be chunked, or end when the server closes.

``http://`` and ``https://`` URLs alike: a connection is a ``Channel`` (``channel.py``), a
plain socket or TLS over one (``tls.py``, loaded with the first ``https://`` URL), and
everything above it is the same. A kept connection the server has meanwhile closed fails
before the first byte of the answer; the request, which the server never saw, is then sent
once more on a new connection.

Every call is bounded phase by phase (``deadlines.py``): the connection, the wait for the
answer, and the pace of each body. A deadline that passes is ``TimedOut``, saying which
phase it was.
"""

from __future__ import annotations

import asyncio
import mmap
import socket
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from filefleet.core.errors import (
    ConnectTimedOut,
    HandshakeFailed,
    TimedOut,
    Unavailable,
    Unreachable,
)
from filefleet.http.channel import SEND_SLICE, Channel, Progress
from filefleet.http.deadlines import Deadlines, Watch
from filefleet.http.file_range import FileRange

if TYPE_CHECKING:
    import ssl

HEAD_LIMIT = 16 * 1024  # a response head longer than this is refused
ERROR_LIMIT = 1024 * 1024  # an error answer's body longer than this is refused
BODY_LIMIT = 64 * 1024 * 1024  # a whole answer read into memory (``request``)
IDLE_PER_HOST = 32  # kept connections per host:port
EARLY_ANSWER_WAIT = 2.0  # after a body the server stopped reading: wait this for its answer
# The kernel keeps at most this much of a body not yet sent on the wire: without a bound,
# a 4 MiB chunk vanishes into socket buffers at once whatever the link, so its send "made
# progress" even towards a node behind a 2 Mbit/s link, and only the answer deadline
# (10 s) noticed. With it, the pace of sending is the pace of the link, and the minimum
# rate (http/deadlines.py) gives a slow node's chunk to another node within ~2.5 s.
NOTSENT_LOWAT = 256 * 1024

# Called as bytes arrive: the body's view and how many of its bytes are in.
Arrived = Callable[[memoryview, int], None]
# What a body may be read into: a buffer of the caller's (a node's are page-aligned maps).
Into = bytearray | mmap.mmap
Body = bytes | bytearray | memoryview | FileRange


class Headers(Mapping[str, str]):
    """A response's header fields, looked up whatever the case of the name."""

    def __init__(self, fields: dict[str, str]) -> None:
        self._fields = {name.lower(): value for name, value in fields.items()}

    def __getitem__(self, name: str) -> str:
        return self._fields[name.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytearray | memoryview  # a view of the caller's buffer, or a buffer of its own
    headers: Headers


class _Stale(Exception):
    """A kept connection closed by the server before it answered: safe to send again."""


@dataclass(frozen=True)
class _Head:
    status: int
    fields: dict[str, str]  # names in lower case
    keep: bool  # the server keeps the connection open after this answer
    length: int | None  # Content-Length, if given
    chunked: bool  # Transfer-Encoding: chunked


# Where a kept connection goes: scheme, host, port.
Origin = tuple[str, str, int]


class DirectHttp:
    """Kept connections per origin. ``tls_ca``: the CA bundle ``https://`` servers are
    checked against (``tls.client_context``; the system's store when None)."""

    def __init__(self, tls_ca: str | Path | None = None) -> None:
        self._idle: dict[Origin, list[Channel]] = {}
        self.tls_ca = tls_ca
        self._tls: ssl.SSLContext | None = None

    def close(self) -> None:
        for channels in self._idle.values():
            for channel in channels:
                channel.close()
        self._idle.clear()

    def tls_context(self) -> ssl.SSLContext:
        """What ``https://`` servers are checked against, made at its first use (an
        unreadable bundle is an InvalidInput then)."""
        if self._tls is None:
            from filefleet.http.tls import client_context

            self._tls = client_context(self.tls_ca)
        return self._tls

    async def get(
        self,
        url: str,
        headers: Mapping[str, str],
        into: Into | None,
        deadlines: Deadlines,
        arrived: Arrived | None = None,
    ) -> Answer:
        """GET ``url``; a 2xx body lands in ``into`` if it fits (else in a new buffer),
        ``arrived`` following it. Raises Unavailable for connection failures, timeouts and
        answers this reader does not handle; the status is the caller's to judge."""

        async def body(reader: _Reader, head: _Head) -> bytearray | memoryview:
            if head.chunked:
                raise ValueError("Transfer-Encoding: chunked is not read into a buffer")
            length = head.length
            if length is None:
                raise ValueError("the answer has no Content-Length")
            ok = 200 <= head.status < 300
            if not ok and length > ERROR_LIMIT:
                raise ValueError(f"a {head.status} answer of {length} bytes")
            if ok and into is not None and len(into) >= length:
                view = memoryview(into)[:length]
                await reader.fill(view, arrived)
                return view
            own = bytearray(length)
            await reader.fill(memoryview(own), arrived if ok else None)
            return own

        return await self._call("GET", url, headers, None, deadlines, body)

    async def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: Body | None,
        deadlines: Deadlines,
    ) -> Answer:
        """Send ``method url`` with ``body``; the whole answer, read into memory. Raises
        Unreachable when no connection can be made (ConnectTimedOut within the connect
        deadline), TimedOut for a later deadline, Unavailable for a connection lost and for
        malformed or oversized answers; the status is the caller's to judge."""

        async def whole(reader: _Reader, head: _Head) -> bytearray | memoryview:
            limit = BODY_LIMIT if 200 <= head.status < 400 else ERROR_LIMIT
            if method == "HEAD" or head.status in (204, 304):
                return bytearray()
            if head.chunked:
                return await reader.chunked(limit)
            length = head.length
            if length is None:
                return await reader.until_closed(limit)
            if length > limit:
                raise ValueError(f"a {head.status} answer of {length} bytes")
            buffer = bytearray(length)
            await reader.fill(memoryview(buffer), None)
            return buffer

        return await self._call(method, url, headers, body, deadlines, whole)

    async def _call(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: Body | None,
        deadlines: Deadlines,
        read_body: _BodyReader,
    ) -> Answer:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise Unavailable(f"{method} {url}: not an http:// or https:// URL")
        origin = (parts.scheme, parts.hostname, parts.port or _PORTS[parts.scheme])
        _, host, port = origin
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"  # IPv6 literal
        request = _request_head(method, path, authority, headers, body)
        watch: Watch | None = None
        try:
            async with asyncio.timeout(None) as timeout:
                watch = Watch(deadlines, timeout)
                exchange = (request, body, read_body, watch)
                channel = self._take(origin)
                if channel is not None:
                    try:
                        return await self._exchange(channel, origin, *exchange)
                    except _Stale:
                        pass  # closed while it was kept: once more on a new connection
                watch.connecting()
                try:
                    channel = await self._connect(origin)
                except HandshakeFailed as exc:
                    raise Unavailable(f"{method} {url}: {exc}") from exc
                except OSError as exc:
                    raise Unreachable(f"{method} {url}: {type(exc).__name__}: {exc}") from exc
                try:
                    return await self._exchange(channel, origin, *exchange)
                except _Stale as exc:
                    raise ConnectionResetError("closed before answering") from exc
        except TimeoutError as exc:
            phase = watch.expired() if watch is not None else "timed out"
            connecting = watch is not None and watch.phase == "connect"
            raise (ConnectTimedOut if connecting else TimedOut)(f"{method} {url}: {phase}") from exc
        except (OSError, ValueError) as exc:
            raise Unavailable(f"{method} {url}: {type(exc).__name__}: {exc}") from exc

    def _take(self, origin: Origin) -> Channel | None:
        idle = self._idle.get(origin)
        return idle.pop() if idle else None

    def _keep(self, origin: Origin, channel: Channel) -> None:
        idle = self._idle.setdefault(origin, [])
        if len(idle) < IDLE_PER_HOST:
            idle.append(channel)
        else:
            channel.close()

    async def _connect(self, origin: Origin) -> Channel:
        """A new connection; for ``https`` with its TLS handshake done, within the same
        connect deadline (HandshakeFailed if it fails)."""
        scheme, host, port = origin
        sock = await _connect_socket(host, port)
        if scheme == "http":
            return Channel(sock)
        from filefleet.http.tls import open_tls

        try:
            where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            return await open_tls(sock, self.tls_context(), host, where)
        except BaseException:
            sock.close()
            raise

    async def _exchange(
        self,
        channel: Channel,
        origin: Origin,
        request: bytes,
        body: Body | None,
        read_body: _BodyReader,
        watch: Watch,
    ) -> Answer:
        """One request and its answer on ``channel``; it is kept afterwards if the answer
        was read whole and the server keeps the connection, else closed. ``watch`` is told
        each phase, and every slice sent and every read received."""
        reader = _Reader(channel, watch.moved)
        keep = False
        try:
            watch.sending()
            try:
                await channel.send(request)
            except (ConnectionResetError, BrokenPipeError) as exc:
                raise _Stale() from exc
            stopped = False  # the server stopped reading the body (it may have answered)
            if body:
                try:
                    await _send_body(channel, body, watch.moved)
                except (ConnectionResetError, BrokenPipeError):
                    stopped = True
            watch.waiting()
            try:
                async with asyncio.timeout(EARLY_ANSWER_WAIT if stopped else None):
                    head = _parse_head(await reader.head())
            except TimeoutError as exc:
                if stopped:  # no answer came: a kept connection already closed, or a crash
                    raise _Stale() from exc
                raise
            watch.receiving()
            answer = Answer(head.status, await read_body(reader, head), Headers(head.fields))
            keep = (
                head.keep
                and not stopped
                and not reader.closed
                and not reader.pending
                and not channel.buffered()
            )
            return answer
        except BaseException:
            keep = False
            raise
        finally:
            if keep:
                self._keep(origin, channel)
            else:
                channel.close()


_PORTS = {"http": 80, "https": 443}


async def _connect_socket(host: str, port: int) -> socket.socket:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    last: OSError = OSError(f"no address for {host}")
    for family, kind, proto, _, address in infos:
        sock = socket.socket(family, kind, proto)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, address)
        except BaseException as exc:
            sock.close()
            if not isinstance(exc, OSError):
                raise
            last = exc
            continue
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if NOTSENT_LOWAT and hasattr(socket, "TCP_NOTSENT_LOWAT"):  # Linux, macOS
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NOTSENT_LOWAT, NOTSENT_LOWAT)
        return sock
    raise last


async def _send_body(channel: Channel, body: Body, progress: Progress) -> None:
    """The body in slices of SEND_SLICE, each one progress: from the caller's buffer as it
    is, or, for a FileRange, from the file (by the kernel, ``sendfile``, over plain TCP)."""
    if isinstance(body, FileRange):
        await channel.send_file(body, progress)
        return
    view = memoryview(body).cast("B")
    for start in range(0, len(view), SEND_SLICE):
        piece = view[start : start + SEND_SLICE]
        await channel.send(piece)
        progress(len(piece))


class _Reader:
    """Bytes of one answer from a connection: the head, then the body in one of its
    framings. What arrived beyond the part being read waits in ``pending``."""

    def __init__(self, channel: Channel, progress: Progress) -> None:
        self.channel = channel
        self.progress = progress
        self.pending = bytearray()
        self.closed = False  # the server closed its side

    async def _more(self, limit: int = 256 * 1024) -> int:
        data = await self.channel.recv(limit)
        self.progress(len(data))
        if not data:
            self.closed = True
        self.pending += data
        return len(data)

    async def head(self) -> bytes:
        """The response head, up to the blank line; _Stale if the server closed before
        sending a byte of it."""
        while (end := self.pending.find(b"\r\n\r\n")) < 0:
            if len(self.pending) >= HEAD_LIMIT:
                raise ValueError(f"response head longer than {HEAD_LIMIT} bytes")
            try:
                more = await self._more(HEAD_LIMIT)
            except ConnectionResetError:
                if not self.pending:
                    raise _Stale() from None
                raise
            if not more:
                if not self.pending:
                    raise _Stale()
                raise ConnectionResetError("closed inside the head")
        head = bytes(self.pending[:end])
        del self.pending[: end + 4]
        return head

    async def fill(self, view: memoryview, arrived: Arrived | None) -> None:
        """Fill ``view`` exactly: first from what already came, then straight from the
        socket into it; ``arrived`` is told as it fills (once at least, maybe at 0)."""
        length = len(view)
        filled = min(length, len(self.pending))
        if len(self.pending) > length:
            raise ValueError(f"{len(self.pending)} bytes after the head, {length} announced")
        view[:filled] = self.pending[:filled]
        self.pending.clear()
        if arrived is not None:
            arrived(view, filled)
        while filled < length:
            n = await self.channel.recv_into(view[filled:])
            self.progress(n)
            if n == 0:
                self.closed = True
                raise ConnectionResetError(f"closed after {filled} of {length} bytes")
            filled += n
            if arrived is not None:
                arrived(view, filled)

    async def _line(self) -> bytes:
        while (end := self.pending.find(b"\r\n")) < 0:
            if len(self.pending) > HEAD_LIMIT:
                raise ValueError("a chunk-size line is too long")
            if not await self._more():
                raise ConnectionResetError("closed inside a chunked body")
        line = bytes(self.pending[:end])
        del self.pending[: end + 2]
        return line

    async def _exactly(self, n: int) -> bytes:
        while len(self.pending) < n:
            if not await self._more(max(n - len(self.pending), 64 * 1024)):
                raise ConnectionResetError("closed inside a chunked body")
        data = bytes(self.pending[:n])
        del self.pending[:n]
        return data

    async def chunked(self, limit: int) -> bytearray:
        """A ``Transfer-Encoding: chunked`` body (RFC 9112 §7.1), trailers skipped."""
        body = bytearray()
        while True:
            size_field = (await self._line()).split(b";", 1)[0].strip()
            try:
                size = int(size_field, 16)
            except ValueError:
                raise ValueError(f"bad chunk size {size_field[:20]!r}") from None
            if size == 0:
                while await self._line():  # trailer fields, up to the blank line
                    pass
                return body
            if len(body) + size > limit:
                raise ValueError(f"a chunked answer over {limit} bytes")
            body += await self._exactly(size)
            if await self._exactly(2) != b"\r\n":
                raise ValueError("a chunk does not end with CRLF")

    async def until_closed(self, limit: int) -> bytearray:
        """A body without a length: everything until the server closes the connection."""
        while not self.closed:
            if len(self.pending) > limit:
                raise ValueError(f"an answer over {limit} bytes")
            await self._more()
        body, self.pending = self.pending, bytearray()
        return body


# How one kind of call reads the body that follows a head.
_BodyReader = Callable[[_Reader, _Head], Awaitable[bytearray | memoryview]]


def _request_head(
    method: str, path: str, host: str, headers: Mapping[str, str], body: Body | None
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Accept-Encoding: identity"]
    if body is not None or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body) if body is not None else 0}")
    for name, value in headers.items():
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
            raise ValueError(f"header {name!r} holds a line break")
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _parse_head(head: bytes) -> _Head:
    """Status, fields and whether the connection stays open, from a response head."""
    status_line, *lines = head.decode("latin-1").split("\r\n")
    version, _, rest = status_line.partition(" ")
    code = rest[:3]
    if not version.startswith("HTTP/1.") or not code.isdigit():
        raise ValueError(f"not an HTTP/1.x status line: {status_line[:80]!r}")
    if code.startswith("1"):
        raise ValueError(f"an interim {code} answer (no Expect was sent)")
    fields: dict[str, str] = {}
    for line in lines:
        name, sep, value = line.partition(":")
        if not sep:
            raise ValueError(f"malformed header line: {line[:80]!r}")
        fields[name.strip().lower()] = value.strip()
    connection = fields.get("connection", "").lower()
    keep = connection != "close" and (version != "HTTP/1.0" or connection == "keep-alive")
    length = fields.get("content-length")
    if length is not None and not length.isdigit():
        raise ValueError(f"bad Content-Length {length[:40]!r}")
    coding = fields.get("transfer-encoding")
    if coding is not None and coding.lower() != "chunked":
        raise ValueError(f"Transfer-Encoding {coding} is not read here")
    chunked = coding is not None
    return _Head(int(code), fields, keep, None if length is None else int(length), chunked)
