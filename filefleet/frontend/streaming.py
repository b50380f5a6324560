"""Writing a download's body: the file's chunks, as the downloader yields them, to an
answer whose headers are sent, counting the bytes as they go.

Three ends, each said once in the request's access line (``http/access.py``):
- every byte written: the body is finished;
- the client went away (its connection reset or lost under a write): nothing more to do
  but stop fetching, and the line says after how many bytes; an INFO line, no traceback,
  since a reader closing a tab is no fault of the fleet;
- the fleet failed a chunk after the first byte (every replica gone): the answer has
  begun, so no error status can be sent any more; the connection is cut and the client
  sees a body shorter than its Content-Length (never a silently truncated file, and never
  a connection left waiting for bytes that will not come).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from filefleet.core.errors import FilefleetError
from filefleet.frontend.download import DownloadCounters
from filefleet.http import access

Piece = bytes | bytearray | memoryview


async def stream_body(
    request: web.Request,
    response: web.StreamResponse,
    first: Piece | None,
    rest: AsyncIterator[Piece],
    counters: DownloadCounters,
) -> None:
    """Write ``first`` (fetched before the headers went, so that a file with a lost chunk
    is a clean 503) and then ``rest`` to the prepared ``response``. ``counters.bytes_sent``
    grows with every write, so a long download shows in the metrics while it runs."""
    sent = 0

    async def write(data: Piece) -> None:
        nonlocal sent
        await response.write(data)
        sent += len(data)
        counters.bytes_sent += len(data)

    try:
        if first is not None:
            await write(first)
        async for data in rest:
            await write(data)
    except ConnectionError:  # reset under a write, or lost while waiting to write more
        access.note(request, gone=True)
        return
    except FilefleetError as exc:
        access.note(request, failure=exc.message)
        if request.transport is not None:
            request.transport.abort()
        return
    finally:
        access.note(request, moved=sent)
    await response.write_eof()
