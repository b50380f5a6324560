"""``POST /download/{id}``: the password page's form, answered with the file's bytes (a
bundle's zip), or the page again saying what was wrong (``passwords.py`` decides).

Its own route table, put on the app by ``app.py``.
"""

from __future__ import annotations

from aiohttp import web

from filefleet.core import ids
from filefleet.frontend import serving
from filefleet.frontend.context import FRONTEND
from filefleet.frontend.passwords import given_password, refusal
from filefleet.http import access
from filefleet.http.server import Api

api = Api("frontend")  # registered on the app by app.py


@api.route(
    "POST",
    "/download/{id}",
    summary="A protected file's bytes (a bundle's zip) for the form field 'password'.",
    public=True,
    access="download",
)
async def unlock(request: web.Request) -> web.StreamResponse:
    ctx = request.app[FRONTEND]
    file_id = ids.file_id(request.match_info["id"])
    access.note(request, file_id=file_id)
    info = await ctx.downloader.live_file(file_id)
    form = await request.post()
    field = form.get("password")
    candidate = field if isinstance(field, str) and field else given_password(request.headers)
    if refused := await refusal(request, ctx, info, candidate):
        return refused
    return await serving.send_link(request, ctx, info)
