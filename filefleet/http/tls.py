"""TLS between the services: what a server presents, what a client trusts, and TLS over one
kept connection of the HTTP client.

- ``server_context(cert, key)``: a service started with ``--tls-cert`` and ``--tls-key``
  serves HTTPS only (TLS 1.2 or later; ``runtime/https_site.py``).
- ``client_context(ca)``: what a client trusts. Given a CA bundle (``--tls-ca``), exactly
  that bundle, so a cluster with a private CA trusts no one else with its secret; without
  one, the system's store. Certificates are always verified, host names always checked:
  there is no setting that turns either off.
- ``TlsChannel``: TLS over a socket of ``direct.py``'s own, through memory buffers
  (``ssl.MemoryBIO``): the socket stays ours, so the per-hop deadlines and the reads into
  the caller's buffer work as over plain TCP. A received record is decrypted straight
  into the caller's buffer; a body to send is encrypted slice by slice, and a stretch of
  a file (``sendfile`` over plain TCP) is read into one reused buffer first.

Imported only when an ``https://`` URL is first called or served: ``ssl`` costs a
command-line run ~13 ms to load, and its system store as much again.
"""

from __future__ import annotations

import os
import socket
import ssl
from pathlib import Path
from typing import cast

from filefleet.core.errors import HandshakeFailed, InvalidInput
from filefleet.http.channel import SEND_SLICE, Buffer, Channel, Progress
from filefleet.http.file_range import FileRange

RECV_SIZE = 256 * 1024  # bytes taken from the socket at once, decrypted as the reader asks
# OpenSSL's verify codes for a certificate that does not name the host (or address) called.
NAME_MISMATCH = frozenset({62, 63, 64})  # X509_V_ERR_HOSTNAME/EMAIL/IP_ADDRESS_MISMATCH


def client_context(ca: str | Path | None) -> ssl.SSLContext:
    """Verification on, host names checked; trusting the bundle ``ca`` only, or the
    system's store without one. A bundle that cannot be read is an InvalidInput."""
    try:
        context = ssl.create_default_context(cafile=str(ca) if ca is not None else None)
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"cannot read the CA bundle {ca}: {_reason(exc)}") from exc
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def server_context(cert: str | Path, key: str | Path) -> ssl.SSLContext:
    """What a service presents: the certificate chain in ``cert`` (the server's own
    certificate first, then any intermediates) and its private key."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # No renegotiation (TLS 1.2; 1.3 has none): a write then never waits for a read, so
    # the transport encrypts a body as it is written (``sending.py`` relies on it).
    context.options |= ssl.OP_NO_RENEGOTIATION
    try:
        context.load_cert_chain(str(cert), str(key))
    except (OSError, ValueError) as exc:
        raise InvalidInput(
            f"cannot use the certificate {cert} with the key {key}: {_reason(exc)}"
        ) from exc
    return context


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return exc.reason.lower().replace("_", " ")
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc)


def handshake_failure(exc: ssl.SSLError, where: str) -> str:
    """What went wrong in a TLS handshake with ``where`` (``host:port``), said so that the
    operator knows which setting to look at."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        said = str(exc.verify_message).rstrip(".")
        if exc.verify_code in NAME_MISMATCH:
            return (
                f"the certificate of {where} is not valid for the name in the URL ({said}); "
                "call it by a name or address its certificate lists (subjectAltName)"
            )
        return (
            f"the certificate of {where} is not trusted ({said}); "
            "give the CA that signed it with --tls-ca (FILEFLEET_TLS_CA)"
        )
    reason = _reason(exc)
    if reason in ("wrong version number", "packet length too long", "record layer failure"):
        return f"{where} does not speak TLS ({reason}): is it an http:// service?"
    return f"TLS handshake with {where} failed: {reason}"


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
