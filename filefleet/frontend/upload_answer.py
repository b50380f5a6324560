"""A finished upload's answer, the same for every upload route: 201 with the link as JSON
(``Accept: application/json``), as a page (``text/html``), or alone on one line (curl)."""

from __future__ import annotations

import html
from string import Template

from aiohttp import web

from filefleet.core.models import UploadResult
from filefleet.frontend.context import FrontendContext
from filefleet.frontend.html_errors import PAGE_CSP
from filefleet.http import access


def upload_answer(request: web.Request, ctx: FrontendContext, result: UploadResult) -> web.Response:
    access.note(request, file_id=result.id, moved=result.size)
    headers = {"Location": result.url, "X-Url-Delete": result.delete_url}
    accept = request.headers.get("Accept", "")
    if "application/json" in accept:
        return web.Response(
            text=result.model_dump_json(exclude_none=True),
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
