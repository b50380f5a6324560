"""The byte pipe under one kept connection of the HTTP client (``direct.py``): a plain TCP
socket here, or TLS over one (``tls.py``'s ``TlsChannel``, the same calls).

``direct.py`` speaks HTTP/1.1 over whichever it is given, so every per-hop deadline, the
reads into the caller's buffer and the ``arrived`` callbacks work the same for ``http://``
and ``https://``. What differs is below this line: a plain socket hands a chunk's body to
the kernel as it is (``sendfile`` for a stretch of a file, ``recv_into`` straight into the
caller's buffer); TLS must encrypt and decrypt every byte in this process.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable

from filefleet.http.file_range import FileRange

SEND_SLICE = 1024 * 1024  # a body is sent in slices of this, each one progress (deadlines)

# Told how many more bytes went out or came in (``Watch.moved``).
Progress = Callable[[int], None]
Buffer = bytes | bytearray | memoryview


class Channel:
    """A connected, non-blocking TCP socket, driven by the running event loop."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    async def send(self, data: Buffer) -> None:
        await asyncio.get_running_loop().sock_sendall(self.sock, data)

    async def recv(self, limit: int) -> bytes:
        """Up to ``limit`` bytes; ``b""`` once the other side has closed."""
        return await asyncio.get_running_loop().sock_recv(self.sock, limit)

    async def recv_into(self, view: memoryview) -> int:
        """Bytes straight into ``view``; 0 once the other side has closed."""
        return await asyncio.get_running_loop().sock_recv_into(self.sock, view)

    async def send_file(self, body: FileRange, progress: Progress) -> None:
        """``sendfile`` from the page cache to the socket, with no copy through this
        process, waiting for the socket to take more whenever its buffer is full."""
        loop = asyncio.get_running_loop()
        done = 0
        while done < body.length:
            try:
                sent = os.sendfile(
                    self.sock.fileno(),
                    body.fd,
                    body.offset + done,
                    min(SEND_SLICE, body.length - done),
                )
            except BlockingIOError:
                await _writable(loop, self.sock)
                continue
            if sent == 0:
                raise body.changed(done)
            done += sent
            progress(sent)

    def buffered(self) -> bool:
        """Whether bytes already arrived that no read has taken (none: the socket keeps
        them)."""
        return False

    def close(self) -> None:
        self.sock.close()


async def _writable(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
    ready = loop.create_future()
    fd = sock.fileno()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_writer(fd, wake)
    try:
        await ready
    finally:
        loop.remove_writer(fd)
