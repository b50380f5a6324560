"""``GET /download/{id}/qr``: the file's download link as a QR code (SVG, made by ``segno``).

The code is made from the id alone (``<public url>/download/{id}``), so this route cannot be
used to turn arbitrary text into a QR code on our origin, and it never reads the file's
record: it neither counts a download nor tells whether the file exists. The same link
always gives the same SVG, so browsers may cache it.
"""

from __future__ import annotations

import io

import segno
from aiohttp import web

from filefleet.core import ids
from filefleet.frontend.context import FRONTEND
from filefleet.frontend.html_errors import PAGE_CSP
from filefleet.http.server import Api

api = Api("frontend")  # registered on the app by app.py


def download_link(public_url: str, file_id: str) -> str:
    return f"{public_url}/download/{ids.file_id(file_id)}"


def qr_svg(link: str) -> bytes:
    """The QR code of ``link`` as a standalone SVG (deterministic; error correction M)."""
    out = io.BytesIO()
    segno.make(link, error="m", micro=False).save(
        out, kind="svg", scale=4, border=4, dark="#000", light="#fff", xmldecl=False
    )
    return out.getvalue()


@api.route("GET", "/download/{id}/qr", summary="The download link as a QR code (SVG).",
           public=True)  # fmt: skip
async def download_qr(request: web.Request) -> web.Response:
    ctx = request.app[FRONTEND]
    link = download_link(ctx.public_url(request), request.match_info["id"])
    return web.Response(
        body=qr_svg(link),
        content_type="image/svg+xml",
        headers={
            "Content-Security-Policy": PAGE_CSP,
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "public, max-age=86400",
        },
    )
