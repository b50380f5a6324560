"""The owner's delete link (DESIGN §6): ``DELETE /delete/{id}/{token}``, and ``POST`` from the
page that showed the link.

The token is the capability: the controller keeps only its SHA-256 and compares in
constant time. A wrong token is 403 and changes nothing; an unknown id is 404; a file that
is already deleted is 410 (the link works once). Deleting only marks the file
``deleting``: from that moment downloads answer 410, and the GC frees its chunks on its
next pass (404 once it removed the record).

The routes register on the frontend's ``api`` when ``filefleet.frontend.api`` imports this
module.
"""

from __future__ import annotations

import hashlib
import html

from aiohttp import web

from filefleet.core import ids
from filefleet.core.errors import Gone
from filefleet.frontend.api import PAGE_CSP, api
from filefleet.frontend.context import FRONTEND
from filefleet.http.controller_api import ControllerClient

_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>filefleet — file deleted</title>
<link rel="stylesheet" href="/static/style.css"></head>
<body><main>
<h1>File deleted</h1>
<p><strong>{name}</strong> is deleted: its link no longer works, and its chunks are freed
on every node shortly.</p>
<p><a href="/">Share another file</a></p>
</main></body>
</html>
"""


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
    name = await delete_file(request.app[FRONTEND].controller, file_id, token)
    if "text/html" in request.headers.get("Accept", ""):
        return web.Response(
            text=_PAGE.format(name=html.escape(name)),
            content_type="text/html",
            headers={"Content-Security-Policy": PAGE_CSP},
        )
    return web.json_response({"id": file_id, "deleted": True})


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
