"""The frontend's public routes; thin: parse, call the uploader or downloader, answer.

The delete link (``delete.py``), the QR code (``qr.py``), the chunk API
(``resumable_api.py``) and bundles (``bundles_api.py``) have route tables of their own;
``app.py`` puts them all on the app."""

from __future__ import annotations

import importlib.resources
import logging
from dataclasses import asdict
from pathlib import Path

from aiohttp import web

from filefleet.core import ids
from filefleet.core.errors import PayloadTooLarge
from filefleet.core.models import FileInfo, UploadResult, utcnow
from filefleet.frontend import serving
from filefleet.frontend.bundles import bundle_name, upload_parts
from filefleet.frontend.context import FRONTEND, FrontendContext
from filefleet.frontend.forms import file_part_pieces, file_parts, read_form_fields
from filefleet.frontend.html_errors import PAGE_CSP, html_page
from filefleet.frontend.landing import landing_page
from filefleet.frontend.negotiation import is_preview, wants_page
from filefleet.frontend.options import parse_flag, parse_options
from filefleet.frontend.page import index_page
from filefleet.frontend.passwords import given_password, password_page, protect, refusal
from filefleet.frontend.upload_answer import upload_answer
from filefleet.http import access
from filefleet.http.bodies import body_pieces
from filefleet.http.server import Api

log = logging.getLogger(__name__)

api = Api("frontend")
STATIC = Path(str(importlib.resources.files("filefleet.frontend") / "static"))
api.static("/static", STATIC)


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
        if parse_flag("bundle", fields.get("bundle")):
            options = parse_options(
                fields, name=bundle_name(fields.get("name")), content_type="application/zip",
                default_expiry=settings.default_expiry, max_expiry=settings.max_expiry,
            )  # fmt: skip
            options = await protect(options, fields.get("password"))
            result = await upload_parts(
                ctx.uploader, ctx.bundles, file_parts(part, reader), options,
                ctx.public_url(request),
            )  # fmt: skip
            return upload_answer(request, ctx, result)
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
    options = await protect(options, fields.get("password"))
    result = await ctx.uploader.upload(pieces, options, ctx.public_url(request))
    return upload_answer(request, ctx, result)


@api.route(
    "GET",
    "/download/{id}",
    summary="A file's landing page (browsers), or its bytes: Range, HEAD, ?dl=1; a "
    "bundle's bytes are one zip.",
    public=True,
    access="download",
)
async def download(request: web.Request) -> web.StreamResponse:
    ctx = request.app[FRONTEND]
    file_id = ids.file_id(request.match_info["id"])
    access.note(request, file_id=file_id)
    dl = parse_flag("dl", request.query.get("dl"))
    info = await ctx.downloader.live_file(file_id)
    if wants_page(request.headers, dl):
        return _landing(request, ctx, info)
    if refused := await refusal(request, ctx, info, given_password(request.headers)):
        return refused
    return await serving.send_link(request, ctx, info)


@api.route(
    "GET",
    r"/download/{id}/{n:\d+}",
    summary="File n (0-based, as in the bundle's `files`) of a bundle (Range and HEAD).",
    public=True,
    access="download",
)
async def download_member(request: web.Request) -> web.StreamResponse:
    ctx = request.app[FRONTEND]
    file_id = ids.file_id(request.match_info["id"])
    access.note(request, file_id=file_id)
    parse_flag("dl", request.query.get("dl"))
    n = int(request.match_info["n"][:9])
    info = await ctx.downloader.live_file(file_id)
    preview = is_preview(request.headers)  # a preview bot never takes a download
    # A protected bundle says nothing of itself, not even how many files it has, before
    # its password.
    refused = (
        None if preview else await refusal(request, ctx, info, given_password(request.headers))
    )
    if refused is not None:
        return refused
    served = serving.member(info, n)
    if preview:
        return _landing(request, ctx, info)
    return await serving.send(request, ctx, info, served)


def _landing(request: web.Request, ctx: FrontendContext, info: FileInfo) -> web.Response:
    """The landing page: it reads the record only, and takes no download (a protected
    file's asks for the password instead)."""
    if info.protected:
        return password_page(ctx, request, info)
    link = f"{ctx.public_url(request)}/download/{info.id}"
    page = landing_page(ctx.pages["landing.html"], info, link=link, now=utcnow())
    return html_page(page)


@api.route("GET", "/favicon.ico", summary="The site's icon.", public=True)
async def favicon(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "favicon.svg", headers={"Content-Type": "image/svg+xml"})


# Behind the cluster secret, as every service's /stats: what the fleet's nodes and
# replicas are doing is the operator's to read, not the public's.
@api.route("GET", "/stats", summary="The frontend's counters (cluster secret).")
async def stats(request: web.Request) -> web.Response:
    ctx = request.app[FRONTEND]
    return web.json_response(
        {
            "upload": asdict(ctx.uploader.counters),
            "resumable": asdict(ctx.resumable.counters),
            "writer": {
                **asdict(ctx.uploader.steps.writer.counters),
                **asdict(ctx.uploader.steps.counters),
            },
            "download": {
                **asdict(ctx.downloader.counters),
                # Now: downloads streaming, and the read-ahead chunks lent to them.
                "streaming": ctx.downloader.pool.downloads,
                "read_ahead_lent": ctx.downloader.pool.lent,
            },
            "replicas": asdict(ctx.downloader.replicas.counters),
            "suspects": ctx.downloader.directory.suspects.current(),
        }
    )
