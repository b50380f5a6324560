"""Routes of the resumable upload API; the logic is in ``resumable.py``."""

from __future__ import annotations

from aiohttp import web

from filefleet.core import ids
from filefleet.core.errors import InvalidInput
from filefleet.core.models import UploadResult
from filefleet.frontend.context import FRONTEND
from filefleet.frontend.models import (
    ChunkAnswer,
    ClaimAnswer,
    ClaimRequest,
    UploadComplete,
    UploadCreate,
    UploadStatus,
)
from filefleet.frontend.options import parse_options
from filefleet.frontend.passwords import protect
from filefleet.frontend.upload_answer import upload_answer
from filefleet.http.bodies import chunk_body
from filefleet.http.server import Api, json_model, read_model

api = Api("frontend")  # registered on the app by app.py


@api.route("POST", "/uploads", summary="Start a resumable upload.", body=UploadCreate,
           response=UploadStatus, public=True)  # fmt: skip
async def create_upload(request: web.Request) -> web.Response:
    ctx = request.app[FRONTEND]
    body = await read_model(request, UploadCreate)
    fields = {"expires": body.expires or "", "max_downloads": str(body.max_downloads or "")}
    options = parse_options(
        fields, name=body.name, content_type=body.content_type,
        default_expiry=ctx.settings.default_expiry, max_expiry=ctx.settings.max_expiry,
    )  # fmt: skip
    options = await protect(options, body.password)
    return json_model(await ctx.resumable.create(options, body.size), status=201)


@api.route("GET", "/uploads/{id}", summary="An upload's state and missing chunks.",
           response=UploadStatus, public=True)  # fmt: skip
async def upload_status(request: web.Request) -> web.Response:
    ctx = request.app[FRONTEND]
    return json_model(await ctx.resumable.status(request.match_info["id"]))


@api.route("PUT", "/uploads/{id}/chunks/{index}", summary="Send chunk `index` (?sha256=).",
           response=ChunkAnswer, public=True)  # fmt: skip
async def put_chunk(request: web.Request) -> web.Response:
    ctx = request.app[FRONTEND]
    upload_id, index = request.match_info["id"], _index(request)
    sha256 = ids.chunk_id(request.query.get("sha256", ""))
    await ctx.resumable.put_chunk(
        upload_id, index, sha256,
        chunk_body(request, ctx.settings.chunk_size, ctx.chunk_bodies),
    )  # fmt: skip
    return json_model(ChunkAnswer(index=index, id=sha256, stored=True, claimed=False), status=201)


@api.route("POST", "/uploads/{id}/chunks/{index}/claim",
           summary="Claim chunk `index` by hash without its bytes (?sha256=); dedup.",
           response=ChunkAnswer, public=True)  # fmt: skip
async def claim_chunk(request: web.Request) -> web.Response:
    ctx = request.app[FRONTEND]
    upload_id, index = request.match_info["id"], _index(request)
    sha256 = ids.chunk_id(request.query.get("sha256", ""))
    claimed = await ctx.resumable.claim_chunk(upload_id, index, sha256)
    return json_model(ChunkAnswer(index=index, id=sha256, stored=False, claimed=claimed))


@api.route("POST", "/uploads/{id}/claims",
           summary="Claim many chunks by hash without their bytes (dedup); at most 1,000.",
           body=ClaimRequest, response=ClaimAnswer, public=True)  # fmt: skip
async def claim_chunks(request: web.Request) -> web.Response:
    ctx = request.app[FRONTEND]
    body = await read_model(request, ClaimRequest)
    wanted = [(c.index, c.sha256) for c in body.chunks]
    claimed = await ctx.resumable.claim_chunks(request.match_info["id"], wanted)
    return json_model(ClaimAnswer(claimed=sorted(claimed)))


@api.route("POST", "/uploads/{id}/complete", summary="Finish: every chunk present, hash checked.",
           body=UploadComplete, response=UploadResult, public=True, access="upload")  # fmt: skip
async def complete_upload(request: web.Request) -> web.Response:
    ctx = request.app[FRONTEND]
    body = await read_model(request, UploadComplete)
    result = await ctx.resumable.complete(
        request.match_info["id"], body.sha256, body.delete_token, ctx.public_url(request)
    )
    return upload_answer(request, ctx, result)


@api.route("DELETE", "/uploads/{id}", summary="Abandon an upload (?delete_token=).",
           public=True)  # fmt: skip
async def abandon_upload(request: web.Request) -> web.Response:
    ctx = request.app[FRONTEND]
    upload_id = request.match_info["id"]
    await ctx.resumable.abandon(upload_id, request.query.get("delete_token", ""))
    return web.json_response({"id": upload_id, "abandoned": True})


def _index(request: web.Request) -> int:
    raw = request.match_info["index"]
    if not raw.isdigit() or len(raw) > 9:
        raise InvalidInput(f"chunk index must be a whole number, got {raw[:20]!r}")
    return int(raw)
