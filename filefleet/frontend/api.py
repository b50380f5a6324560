"""The frontend's public routes; thin: parse, call the uploader or downloader, answer."""

from __future__ import annotations

import contextlib
import html
import importlib.resources
import logging
from dataclasses import asdict
from pathlib import Path
from string import Template

from aiohttp import web

from filefleet.core import ids
from filefleet.core.errors import PayloadTooLarge, RangeNotSatisfiable
from filefleet.core.models import FileInfo, UploadResult
from filefleet.frontend.context import FRONTEND, FrontendContext
from filefleet.frontend.forms import file_part_pieces, read_form_fields
from filefleet.frontend.options import parse_options
from filefleet.frontend.page import index_page
from filefleet.frontend.ranges import ByteRange, content_disposition, parse_range
from filefleet.frontend.streaming import stream_body
from filefleet.http import access
from filefleet.http.bodies import body_pieces
from filefleet.http.sending import released, wait_for_kernel
from filefleet.http.server import Api

log = logging.getLogger(__name__)

api = Api("frontend")
api.static("/static", Path(str(importlib.resources.files("filefleet.frontend") / "static")))

# Served files never run script on our origin, and pages load nothing from elsewhere.
FILE_CSP = "sandbox; default-src 'none'"
PAGE_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "worker-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


@api.route("GET", "/", summary="The upload page.", public=True)
async def index(request: web.Request) -> web.Response:
    ctx = request.app[FRONTEND]
    settings = ctx.settings
    page = index_page(
        ctx.pages["index.html"], public_url=ctx.public_url(request),
        max_upload=settings.max_upload, default_expiry=settings.default_expiry,
        max_expiry=settings.max_expiry,
    )  # fmt: skip
    return web.Response(
        text=page, content_type="text/html", headers={"Content-Security-Policy": PAGE_CSP}
    )


@api.route(
    "POST",
    "/upload",
    summary="Upload a file (raw body or multipart field 'file').",
    response=UploadResult,
    public=True,
    access="upload",
)
async def upload_post(request: web.Request) -> web.Response:
    return await _upload(request, name=request.query.get("name"))


@api.route(
    "PUT",
    "/upload",
    summary="Upload a raw body (curl -T).",
    response=UploadResult,
    public=True,
    access="upload",
)
async def upload_put(request: web.Request) -> web.Response:
    return await _upload(request, name=request.query.get("name"))


@api.route(
    "PUT",
    "/upload/{name}",
    summary="Upload a raw body named by the path (curl -T FILE URL/upload/).",
    response=UploadResult,
    public=True,
    access="upload",
)
async def upload_put_named(request: web.Request) -> web.Response:
    return await _upload(request, name=request.match_info["name"])


async def _upload(request: web.Request, *, name: str | None) -> web.Response:
    ctx = request.app[FRONTEND]
    settings = ctx.settings
    if request.content_length is not None and request.content_length > settings.max_upload:
        raise PayloadTooLarge(
            f"upload of {request.content_length} bytes exceeds the maximum of {settings.max_upload}"
        )
    fields = dict(request.query)
    if request.content_type == "multipart/form-data":
        form, part, reader = await read_form_fields(request)
        fields.update(form)
        options = parse_options(
            fields,
            name=part.filename or name,
            content_type=part.headers.get("Content-Type"),
            default_expiry=settings.default_expiry,
            max_expiry=settings.max_expiry,
        )
        pieces = file_part_pieces(part, reader)
    else:
        options = parse_options(
            fields,
            name=name or request.headers.get("X-File-Name"),
            content_type=request.headers.get("Content-Type"),
            default_expiry=settings.default_expiry,
            max_expiry=settings.max_expiry,
        )
        pieces = body_pieces(request)  # as the parser hands them over: no joined copies
    result = await ctx.uploader.upload(pieces, options, ctx.public_url(request))
    return upload_answer(request, ctx, result)


def upload_answer(request: web.Request, ctx: FrontendContext, result: UploadResult) -> web.Response:
    access.note(request, file_id=result.id, moved=result.size)
    headers = {"Location": result.url, "X-Url-Delete": result.delete_url}
    accept = request.headers.get("Accept", "")
    if "application/json" in accept:
        return web.Response(
            text=result.model_dump_json(),
            status=201,
            content_type="application/json",
            headers=headers,
        )
    if "text/html" in accept:
        page = Template(ctx.pages["uploaded.html"]).safe_substitute(
            {k: html.escape(str(v)) for k, v in result.model_dump(mode="json").items()}
        )
        headers["Content-Security-Policy"] = PAGE_CSP
        return web.Response(text=page, status=201, content_type="text/html", headers=headers)
    return web.Response(
        text=result.url + "\n", status=201, content_type="text/plain", headers=headers
    )


@api.route(
    "GET",
    "/download/{id}",
    summary="Download a file (Range and HEAD supported).",
    public=True,
    access="download",
)
async def download(request: web.Request) -> web.StreamResponse:
    ctx = request.app[FRONTEND]
    file_id = ids.file_id(request.match_info["id"])
    access.note(request, file_id=file_id)
    info = await ctx.downloader.live_file(file_id)
    size = info.size or 0
    try:
        wanted = (
            parse_range(request.headers.get("Range"), size)
            if _range_applies(request, info)
            else None
        )
    except RangeNotSatisfiable as exc:
        return web.json_response(
            {"error": exc.message}, status=416, headers={"Content-Range": f"bytes */{size}"}
        )
    headers = _file_headers(info, wanted)
    status = 206 if wanted is not None else 200
    if request.method == "HEAD":
        return web.Response(status=status, headers=headers)
    if wanted is None or wanted.start == 0:
        # A read from byte 0 counts as a download; later ranges (a resumed download) do not.
        info = await ctx.downloader.take_download(info)
    # Chunks are sent from reused buffers: each write returns once the kernel has all of
    # it, and a buffer is reused only when the transport holds none of its bytes.
    wait_for_kernel(request)
    chunks = ctx.downloader.stream(info, wanted, released=lambda: released(request))
    async with contextlib.aclosing(chunks):  # a client that left stops the fetching
        # The first chunk comes before the answer: if every replica is gone, a clean 503.
        first = await anext(chunks, None)
        response = web.StreamResponse(status=status, headers=headers)
        await response.prepare(request)
        await stream_body(request, response, first, chunks, ctx.downloader.counters)
    return response


# Behind the cluster secret, as every service's /stats: what the fleet's nodes and
# replicas are doing is the operator's to read, not the public's.
@api.route("GET", "/stats", summary="The frontend's counters (cluster secret).")
async def stats(request: web.Request) -> web.Response:
    ctx = request.app[FRONTEND]
    return web.json_response(
        {
            "upload": asdict(ctx.uploader.counters),
            "resumable": asdict(ctx.resumable.counters),
            "writer": asdict(ctx.uploader.writer.counters),
            "download": asdict(ctx.downloader.counters),
            "replicas": asdict(ctx.downloader.replicas.counters),
            "suspects": ctx.downloader.directory.suspects.current(),
        }
    )


def _range_applies(request: web.Request, info: FileInfo) -> bool:
    if_range = request.headers.get("If-Range")
    return if_range is None or if_range == f'"{info.sha256}"'


def _file_headers(info: FileInfo, wanted: ByteRange | None) -> dict[str, str]:
    size = info.size or 0
    headers = {
        "Content-Type": info.content_type,
        "Content-Disposition": content_disposition(info.name),
        "Content-Length": str(wanted.length if wanted else size),
        "Accept-Ranges": "bytes",
        "ETag": f'"{info.sha256}"',
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": FILE_CSP,
        "Cache-Control": "private, no-store",
    }
    if wanted is not None:
        headers["Content-Range"] = f"bytes {wanted.start}-{wanted.end}/{size}"
    return headers


# The owner's delete link lives in its own module; importing it registers its routes on `api`.
from filefleet.frontend import delete as _delete  # noqa: E402, F401
from filefleet.frontend import qr as _qr  # noqa: E402, F401
from filefleet.frontend import resumable_api as _resumable_api  # noqa: E402, F401
