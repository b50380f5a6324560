"""Access lines: one per upload and one per download (the routes an ``Api`` marks with
``access=``), saying what an operator looks for: the file's id, the bytes moved, the
seconds it took, the status and the client's address. With ``--log-json`` each of them is a
key of its own (``event``, ``id``, ``method``, ``bytes``, ``seconds``, ``status``,
``client``, ``result``, and ``forwarded_for`` behind a proxy).

    upload Zq3...: 201, 1048576 bytes in 0.120s from 10.0.0.7
    download Zq3...: 200, 65536 bytes in 0.310s from 10.0.0.7: client went away after 65536 bytes

A client that leaves in the middle is no error of ours: its line is INFO like any other.
Only a failure of the fleet (a 5xx, a download cut short) is a WARNING.

A handler tells what only it knows through ``note``: the file's id, the bytes it sent (a
download's; an upload's default is the request body received), that the client went
away, or why an answer that had begun was cut short.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiohttp import web

from filefleet.runtime.logging import fields

log = logging.getLogger("filefleet.access")


@dataclass
class Access:
    """What one access-logged request did, beside its status."""

    event: str  # "upload" or "download"
    file_id: str | None = None
    bytes: int | None = None  # None: the request body's bytes received
    gone: bool = False  # the client left before the end
    failure: str | None = None  # the answer had begun when the fleet failed it: why

    def result(self, status: int) -> str:
        if self.gone:
            return "client_gone"
        if self.failure is not None or status >= 500:
            return "failed"
        return "rejected" if status >= 400 else "ok"


ACCESS = web.RequestKey("access", Access)


def begin(request: web.Request, event: str) -> Access:
    record = Access(event)
    request[ACCESS] = record
    return record


def note(
    request: web.Request,
    *,
    file_id: str | None = None,
    moved: int | None = None,
    gone: bool = False,
    failure: str | None = None,
) -> None:
    """Add to the request's access line what the handler knows; nothing on a route that
    has none."""
    record = request.get(ACCESS)
    if record is None:
        return
    record.file_id = file_id or record.file_id
    record.bytes = record.bytes if moved is None else moved
    record.gone = record.gone or gone
    record.failure = failure or record.failure


def write_line(request: web.Request, record: Access, status: int, seconds: float) -> str:
    """Log the request's access line; returns its result."""
    moved = record.bytes if record.bytes is not None else request.content.total_bytes
    result = record.result(status)
    client = request.remote or "-"
    detail = ""
    if record.gone:
        detail = f": client went away after {moved} bytes"
    elif record.failure is not None:
        detail = f": cut short: {record.failure}"
    values: dict[str, object] = {
        "event": record.event, "id": record.file_id, "method": request.method,
        "bytes": moved, "seconds": round(seconds, 6), "status": status, "client": client,
        "result": result,
    }  # fmt: skip
    forwarded = request.headers.get("X-Forwarded-For")
    if forwarded:
        values["forwarded_for"] = forwarded
    level = logging.WARNING if result == "failed" else logging.INFO
    log.log(
        level,
        "%s %s: %d, %d bytes in %.3fs from %s%s",
        record.event, record.file_id or "-", status, moved, seconds, client, detail,
        extra=fields(**values),
    )  # fmt: skip
    return result
