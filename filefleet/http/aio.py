"""What the HTTP client needs from aiohttp beyond a session, kept apart so that importing
``client.py`` does not load aiohttp (a command-line run that never needs it is spared
a third of a second)."""

from __future__ import annotations

import aiohttp
from aiohttp.abc import AbstractStreamWriter

LARGE_BODY = 64 * 1024


class UncopiedBody(aiohttp.BytesPayload):
    """A request body sent from the caller's buffer as it is.

    aiohttp holds a request's headers back to send them in one write with the start of the
    body; on Python before 3.12.9 that write joins the two into a new object: a copy of
    the whole 4 MiB chunk (and its page faults) for every chunk stored. Sending the headers
    first leaves the body to go out uncopied."""

    async def write_with_length(
        self, writer: AbstractStreamWriter, content_length: int | None
    ) -> None:
        writer.send_headers()
        await super().write_with_length(writer, content_length)


def uncopied(
    body: bytes | bytearray | memoryview | None,
) -> bytes | bytearray | memoryview | UncopiedBody | None:
    """``body`` as aiohttp should send it: a large one wrapped so it is not copied."""
    return UncopiedBody(body) if body is not None and len(body) >= LARGE_BODY else body
