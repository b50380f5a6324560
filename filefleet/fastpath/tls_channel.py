"""TLS over one kept connection of the HTTP client (``direct.py``), through memory buffers
(``ssl.MemoryBIO``): the socket stays ours, so the per-hop deadlines and the reads into
the caller's buffer work as over plain TCP. A received record is decrypted straight into
the caller's buffer; a body to send is encrypted slice by slice, and a stretch of a file
(``sendfile`` over plain TCP) is read into one reused buffer first.

What a client trusts (``client_context``) and how a failed handshake is said
(``handshake_failure``) are ``http/tls.py``'s. Imported only when an ``https://`` URL is
first called: ``ssl`` costs a command-line run ~13 ms to load.
"""

from __future__ import annotations

import os
import socket
import ssl
from typing import cast

from filefleet.core.errors import HandshakeFailed
from filefleet.fastpath.channel import SEND_SLICE, Buffer, Channel, Progress
from filefleet.fastpath.file_range import FileRange
from filefleet.http.tls import handshake_failure

RECV_SIZE = 256 * 1024  # bytes taken from the socket at once, decrypted as the reader asks


class TlsChannel(Channel):
    """TLS over a connected non-blocking socket, as a client (``server_hostname`` is
    checked against the certificate)."""

    def __init__(self, sock: socket.socket, context: ssl.SSLContext, host: str) -> None:
        super().__init__(sock)
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self.tls = context.wrap_bio(self._incoming, self._outgoing, server_hostname=host)
        self._closed = False  # the other side closed the TCP connection

    async def handshake(self, where: str) -> None:
        """Complete the handshake, or raise HandshakeFailed saying why."""
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                await self._flush()
                if not await self._fill():
                    raise HandshakeFailed(
                        f"{where} closed the connection during the TLS handshake"
                    ) from None
            except ssl.SSLError as exc:
                raise HandshakeFailed(handshake_failure(exc, where)) from exc
        await self._flush()

    async def _flush(self) -> None:
        """Send what TLS has written: records, handshake messages, alerts."""
        if self._outgoing.pending:
            await super().send(self._outgoing.read())

    async def _fill(self) -> bool:
        """Take what the socket has for TLS to read; False once the other side closed."""
        if self._closed:
            return False
        data = await super().recv(RECV_SIZE)
        if not data:
            self._closed = True
            self._incoming.write_eof()
            return False
        self._incoming.write(data)
        return True

    async def send(self, data: Buffer) -> None:
        view = memoryview(data).cast("B")
        done = 0
        while done < len(view):  # a memory BIO takes all at once; looped to be sure
            done += self.tls.write(view[done:])
        await self._flush()

    async def recv(self, limit: int) -> bytes:
        while True:
            try:
                return self.tls.read(limit)
            except ssl.SSLWantReadError:
                await self._flush()
                if not await self._fill():
                    return b""
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):  # closed, with or without notice
                return b""

    async def recv_into(self, view: memoryview) -> int:
        """Decrypt straight into ``view``: every record already received, or, when none
        is, the ones that come next from the socket. 0 once the other side closed (a body
        cut short is then seen by its length, as over plain TCP)."""
        got = 0
        while got < len(view):
            try:
                # With a buffer, read() answers how many bytes it put there (typeshed
                # says bytes, as without one).
                got += cast(int, self.tls.read(len(view) - got, view[got:]))
            except ssl.SSLWantReadError:
                if got:
                    return got
                await self._flush()
                if not await self._fill():
                    return 0
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                return got
        return got

    async def send_file(self, body: FileRange, progress: Progress) -> None:
        """The stretch of the file read slice by slice into one buffer, each encrypted and
        sent: TLS needs the bytes in this process (no ``sendfile``)."""
        view = memoryview(bytearray(min(SEND_SLICE, body.length)))
        done = 0
        while done < body.length:
            want = min(len(view), body.length - done)
            got = os.preadv(body.fd, [view[:want]], body.offset + done)
            if got <= 0:
                raise body.changed(done)
            await self.send(view[:got])
            done += got
            progress(got)

    def buffered(self) -> bool:
        return self.tls.pending() > 0 or self._incoming.pending > 0


async def open_tls(
    sock: socket.socket, context: ssl.SSLContext, host: str, where: str
) -> TlsChannel:
    channel = TlsChannel(sock, context, host)
    await channel.handshake(where)
    return channel
