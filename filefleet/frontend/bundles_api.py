"""``POST /bundles``: one link for several finished files; the logic is in ``bundles.py``."""

from __future__ import annotations

from aiohttp import web

from filefleet.core.models import UploadResult
from filefleet.frontend.bundles import Member, bundle_name
from filefleet.frontend.context import FRONTEND
from filefleet.frontend.models import BundleRequest
from filefleet.frontend.options import parse_options
from filefleet.frontend.passwords import protect
from filefleet.frontend.upload_answer import upload_answer
from filefleet.http.server import Api, read_model

api = Api("frontend")  # registered on the app by app.py


@api.route("POST", "/bundles", summary="One link for several finished files (a bundle).",
           body=BundleRequest, response=UploadResult, public=True, access="upload")  # fmt: skip
async def create_bundle(request: web.Request) -> web.Response:
    ctx = request.app[FRONTEND]
    body = await read_model(request, BundleRequest)
    fields = {"expires": body.expires or "", "max_downloads": str(body.max_downloads or "")}
    options = parse_options(
        fields, name=bundle_name(body.name), content_type="application/zip",
        default_expiry=ctx.settings.default_expiry, max_expiry=ctx.settings.max_expiry,
    )  # fmt: skip
    options = await protect(options, body.password)
    members = [Member(f.id, f.delete_token) for f in body.files]
    result = await ctx.bundles.make(members, options, ctx.public_url(request))
    return upload_answer(request, ctx, result)
