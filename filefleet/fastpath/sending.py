"""Sending a response body from a reused buffer, and knowing when the buffer is free again.

The event loop's transport does not copy what it is given: bytes the kernel did not take at
once stay in the transport's queue as a view of the caller's buffer. A buffer may go back
to its pool only when that queue is empty, or the next chunk read into it would overwrite
bytes not yet sent. ``wait_for_kernel`` makes every ``await response.write(...)`` of a
large body return only once the kernel has every byte (the transport pauses the writer
while anything is queued), and ``released`` checks that nothing is queued before a buffer
is reused. A buffer that is not released is simply not reused: a fresh one is made.

Over TLS it is simpler: the TLS transport (asyncio's and uvloop's alike) encrypts what it
is given as it is written, into bytes of its own, so the caller's buffer is free as soon as
the write returns; only the encrypted copy waits for the kernel (bounded by the transport's
usual flow control). Its flow control must not be set to a high-water mark of 0 either: it
then pauses the writer even with nothing queued, and never resumes it.
"""

from __future__ import annotations

import asyncio

from aiohttp import web


def _encrypts(transport: asyncio.BaseTransport) -> bool:
    return transport.get_extra_info("sslcontext") is not None


def wait_for_kernel(request: web.Request) -> None:
    """From now on, a write that leaves bytes queued waits until the queue is empty."""
    transport = request.transport
    if transport is not None and not _encrypts(transport):
        transport.set_write_buffer_limits(high=0)


def released(request: web.Request) -> bool:
    """Whether the transport holds none of the bytes written so far (it is still open and
    its queue is empty, or it encrypted them into its own), so the buffers they came from
    may be reused."""
    transport = request.transport
    if transport is None:
        return False
    if _encrypts(transport):  # closing, it may still flush what it had not encrypted
        return not transport.is_closing()
    return transport.get_write_buffer_size() == 0
