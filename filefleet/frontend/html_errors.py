"""Errors as small HTML pages for browsers, JSON for everyone else (docs/api.md).

A client whose ``Accept`` prefers HTML (``negotiation.prefers_html``: a browser following
a link or posting a form) gets the error page with the error's own status (404, 410, 403,
503, ...), so a dead link says what happened and what to do; curl, the CLI and the
upload page's scripts (which ask for JSON) get ``{"error": ...}`` as before.
"""

from __future__ import annotations

import logging

from aiohttp import web

from filefleet.core.errors import FilefleetError
from filefleet.frontend.context import FRONTEND
from filefleet.frontend.landing import error_page
from filefleet.frontend.negotiation import prefers_html
from filefleet.http.server import Handler

log = logging.getLogger(__name__)

# Pages load nothing from elsewhere.
PAGE_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "worker-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def html_page(text: str, status: int = 200) -> web.Response:
    return web.Response(
        text=text,
        status=status,
        content_type="text/html",
        headers={"Content-Security-Policy": PAGE_CSP, "Vary": "Accept, User-Agent"},
    )


@web.middleware
async def html_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except FilefleetError as exc:
        if not prefers_html(request.headers.get("Accept")):
            raise
        if exc.status >= 500:
            log.warning("%s %s -> %d: %s", request.method, request.path, exc.status, exc.message)
        status, message = exc.status, exc.message
    except web.HTTPException as exc:
        if exc.status < 400 or not prefers_html(request.headers.get("Accept")):
            raise
        status, message = exc.status, exc.reason or f"HTTP {exc.status}"
    template = request.app[FRONTEND].pages["error.html"]
    return html_page(error_page(template, status, message), status)
