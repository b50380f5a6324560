"""Answering with bytes: a whole file, one file of a bundle, or a bundle as a zip.

Each is a run of the stored file's bytes (a bundle's member ``n`` is the run of its own
chunks) or, for the zip, header bytes made from the metadata (``core/ziplayout.py``) with
the members' runs between them. The rules are those of DESIGN §6 for all three: one
``Range`` (206/416, honoured only while ``If-Range`` names the current ETag), ``HEAD``,
a download counted when a body starts at byte 0 and never otherwise, the first chunk
fetched before the headers go (every replica gone: a clean 503), and each chunk verified
before a byte of it is sent.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from itertools import accumulate

from aiohttp import web

from filefleet.core.errors import NotFound, RangeNotSatisfiable
from filefleet.core.models import FileInfo
from filefleet.core.ziplayout import MemberSlice, ZipLayout, ZipMember
from filefleet.fastpath.sending import released, wait_for_kernel
from filefleet.frontend.context import FrontendContext
from filefleet.frontend.download import Downloader
from filefleet.frontend.ranges import ByteRange, content_disposition, parse_range
from filefleet.frontend.streaming import Piece, stream_body

# Served files never run script on our origin.
FILE_CSP = "sandbox; default-src 'none'"

_Body = Callable[[FileInfo, ByteRange | None], AsyncGenerator[Piece, None]]


@dataclass(frozen=True)
class Served:
    """What one answer serves: its name, type, length and validator, and where its bytes
    begin among the stored file's (0 but for a bundle's member)."""

    name: str
    content_type: str
    size: int
    etag: str  # quoted
    offset: int = 0


def whole_file(info: FileInfo) -> Served:
    return Served(info.name, info.content_type, info.size or 0, f'"{info.sha256}"')


def member(info: FileInfo, n: int) -> Served:
    """File ``n`` (0-based) of a bundle; 404 when there is no such file."""
    if not info.members:
        raise NotFound(f"file {info.id} is a single file, not a bundle")
    if not 0 <= n < len(info.members):
        raise NotFound(f"bundle {info.id} has {len(info.members)} files: no file {n}")
    m = info.members[n]
    offset = sum(x.size for x in info.members[:n])
    return Served(m.name, m.content_type, m.size, f'"{m.sha256}"', offset)


def zip_layout(info: FileInfo) -> ZipLayout:
    """The bundle's zip, each entry stamped with the bundle's creation time."""
    members = [ZipMember(m.name, m.size, m.crc32) for m in info.members]
    return ZipLayout(members, info.uploaded_at)


def zip_served(info: FileInfo, layout: ZipLayout) -> Served:
    """The zip as served: its ETag stands for everything its bytes depend on."""
    manifest = "\n".join(
        ["zip1", info.sha256 or "", info.uploaded_at.isoformat()]
        + [f"{m.name}\0{m.size}\0{m.crc32}\0{m.sha256}" for m in info.members]
    )
    digest = hashlib.sha256(manifest.encode()).hexdigest()[:40]
    return Served(info.name, "application/zip", layout.size, f'"zip-{digest}"')


def headers_for(served: Served, wanted: ByteRange | None) -> dict[str, str]:
    headers = {
        "Content-Type": served.content_type,
        "Content-Disposition": content_disposition(served.name),
        "Content-Length": str(wanted.length if wanted else served.size),
        "Accept-Ranges": "bytes",
        "ETag": served.etag,
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": FILE_CSP,
        "Cache-Control": "private, no-store",
        "Vary": "Accept, User-Agent",
    }
    if wanted is not None:
        headers["Content-Range"] = f"bytes {wanted.start}-{wanted.end}/{served.size}"
    return headers


def wanted_range(request: web.Request, served: Served) -> ByteRange | None:
    """The range asked for, if it applies to these bytes (``If-Range``); 416 if it cannot."""
    if_range = request.headers.get("If-Range")
    if if_range is not None and if_range != served.etag:
        return None
    return parse_range(request.headers.get("Range"), served.size)


async def send(
    request: web.Request, ctx: FrontendContext, info: FileInfo, served: Served
) -> web.StreamResponse:
    """The bytes of a whole file or of one member of a bundle."""

    def body(info: FileInfo, wanted: ByteRange | None) -> AsyncGenerator[Piece, None]:
        whole = ByteRange(served.offset, served.offset + served.size - 1)
        run = whole if wanted is None else ByteRange(
            served.offset + wanted.start, served.offset + wanted.end
        )  # fmt: skip
        return ctx.downloader.stream(info, run, released=lambda: released(request))

    return await _answer(request, ctx, info, served, body)


async def send_zip(
    request: web.Request, ctx: FrontendContext, info: FileInfo
) -> web.StreamResponse:
    """A bundle as one zip, or any range of it."""
    layout = zip_layout(info)

    def body(info: FileInfo, wanted: ByteRange | None) -> AsyncGenerator[Piece, None]:
        start, end = (0, None) if wanted is None else (wanted.start, wanted.end)
        return zip_bytes(ctx.downloader, info, layout, start, end, lambda: released(request))

    return await _answer(request, ctx, info, zip_served(info, layout), body)


async def send_link(
    request: web.Request, ctx: FrontendContext, info: FileInfo
) -> web.StreamResponse:
    """What a link downloads: a file's bytes, or a bundle's zip."""
    if info.members:
        return await send_zip(request, ctx, info)
    return await send(request, ctx, info, whole_file(info))


async def _answer(
    request: web.Request,
    ctx: FrontendContext,
    info: FileInfo,
    served: Served,
    body: _Body,
) -> web.StreamResponse:
    try:
        wanted = wanted_range(request, served)
    except RangeNotSatisfiable as exc:
        return web.json_response(
            {"error": exc.message}, status=416, headers={"Content-Range": f"bytes */{served.size}"}
        )
    headers = headers_for(served, wanted)
    status = 206 if wanted is not None else 200
    if request.method == "HEAD":
        return web.Response(status=status, headers=headers)
    if wanted is None or wanted.start == 0:
        # A body from byte 0 counts as a download; later ranges (a resumed download) do not.
        info = await ctx.downloader.take_download(info)
    # Chunks are sent from reused buffers: each write returns once the kernel has all of
    # it, and a buffer is reused only when the transport holds none of its bytes.
    wait_for_kernel(request)
    pieces = body(info, wanted)
    async with contextlib.aclosing(pieces):  # a client that left stops the fetching
        # The first chunk comes before the answer: if every replica is gone, a clean 503.
        first = await anext(pieces, None)
        response = web.StreamResponse(status=status, headers=headers)
        await response.prepare(request)
        await stream_body(request, response, first, pieces, ctx.downloader.counters)
    return response


async def zip_bytes(
    downloader: Downloader,
    info: FileInfo,
    layout: ZipLayout,
    start: int,
    end: int | None,
    released: Callable[[], bool],
) -> AsyncGenerator[Piece, None]:
    """The zip's bytes ``[start, end]``: header bytes from the layout, member bytes from the
    fleet. Header bytes wait for the member bytes after them, so the first piece comes only
    once the first chunk is fetched and verified (or the fleet failed it: no byte sent)."""
    offsets = [0, *accumulate(m.size for m in info.members)]
    waiting: list[bytes] = []
    for piece in layout.pieces(start, end):
        if not isinstance(piece, MemberSlice):
            waiting.append(piece)
            continue
        begin = offsets[piece.index] + piece.start
        run = ByteRange(begin, begin + piece.length - 1)
        chunks = downloader.stream(info, run, released=released)
        async with contextlib.aclosing(chunks):
            async for data in chunks:
                if waiting:
                    yield b"".join(waiting)
                    waiting.clear()
                yield data
    if waiting:
        yield b"".join(waiting)
