"""The owner's delete link (DESIGN §6): ``DELETE /delete/{id}/{token}``, and ``POST`` from the
page that showed the link. Opened in a browser (``GET``), the link answers a confirmation
page whose button POSTs: a ``GET`` deletes nothing, so neither a click by mistake nor a
link-preview bot can delete a file.

The token is the capability: the controller keeps only its SHA-256 and compares in
constant time. A wrong token is 403 and changes nothing; an unknown id is 404; a file that
is already deleted is 410 (the link works once). Deleting only marks the file
``deleting``: from that moment downloads answer 410, and the GC frees its chunks on its
next pass (404 once it removed the record).
"""

from __future__ import annotations

import hashlib

from aiohttp import web

from filefleet.core import ids
from filefleet.core.errors import Gone
from filefleet.frontend.context import FRONTEND
from filefleet.frontend.html_errors import html_page
from filefleet.frontend.landing import confirm_delete_page, deleted_page
from filefleet.frontend.negotiation import prefers_html
from filefleet.http.controller_api import ControllerClient
from filefleet.http.server import Api

api = Api("frontend")  # registered on the app by app.py


async def delete_file(controller: ControllerClient, file_id: str, token: str) -> str:
    """Mark the file ``deleting`` with the owner's token; returns the file's name.

    NotFound (404) for an unknown file, Forbidden (403) for a wrong token, Gone (410) when
    the file was already deleted (the token is checked first, so a wrong token learns
    nothing about the file's state).
    """
    token_sha256 = hashlib.sha256(token.encode()).hexdigest()
    before = await controller.get_file(file_id)
    # Checks the token (Forbidden) and sets the state; setting `deleting` twice is harmless.
    await controller.mark_deleting(file_id, token_sha256)
    if before.state == "deleting":
        raise Gone(f"file {file_id} was already deleted")
    return before.name


async def _delete(request: web.Request) -> web.Response:
    file_id = ids.file_id(request.match_info["id"])
    token = ids.token(request.match_info["token"])
    ctx = request.app[FRONTEND]
    name = await delete_file(ctx.controller, file_id, token)
    if prefers_html(request.headers.get("Accept")):
        return html_page(deleted_page(ctx.pages["deleted.html"], name))
    return web.json_response({"id": file_id, "deleted": True})


@api.route(
    "GET",
    "/delete/{id}/{token}",
    summary="The delete link opened in a browser: a confirmation page that POSTs; deletes nothing.",
    public=True,
)
async def confirm_delete(request: web.Request) -> web.Response:
    ctx = request.app[FRONTEND]
    file_id = ids.file_id(request.match_info["id"])
    token = ids.token(request.match_info["token"])
    info = await ctx.downloader.live_file(file_id)  # 404 unknown, 410 deleted or expired
    public_url = ctx.public_url(request)
    page = confirm_delete_page(
        ctx.pages["confirm-delete.html"], info,
        action=f"/delete/{file_id}/{token}", link=f"{public_url}/download/{file_id}",
    )  # fmt: skip
    return html_page(page)


@api.route(
    "DELETE", "/delete/{id}/{token}", summary="Delete a file with its delete link.", public=True
)
async def delete_by_link(request: web.Request) -> web.Response:
    return await _delete(request)


@api.route(
    "POST",
    "/delete/{id}/{token}",
    summary="Delete a file with its delete link (the page's form).",
    public=True,
)
async def delete_by_form(request: web.Request) -> web.Response:
    return await _delete(request)
