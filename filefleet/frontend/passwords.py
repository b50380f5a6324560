"""Password links on the frontend: taking a password at upload, asking for it at download.

At upload the password (query, form field before the file, the chunk API's session, a
bundle) is hashed here, in a worker thread, and only the hash goes to the controller with
the file's record (``protect``): the password itself reaches no other service, no log
and no database.

At download a protected file needs its password: ``X-Password``, or HTTP Basic with any
user name (``curl -u :PASSWORD``), or the password page's form (``POST``). The frontend
forwards the candidate to the controller, which owns the rule (``controller/passwords.py``:
right, wrong, or too many wrong tries), and refuses before anything is served or counted:
a refused try takes no download. The refusal is JSON for API clients (401
``password_needed`` with ``WWW-Authenticate: Basic`` so curl and the CLI know to ask, 401
``password_wrong``, 429 with ``Retry-After``); a browser gets the password page again, with
the same status and no ``WWW-Authenticate`` (which would open the browser's own dialog).
"""

from __future__ import annotations

import asyncio
import dataclasses
import html
from collections.abc import Mapping
from string import Template

from aiohttp import web

from filefleet.core.errors import PasswordNeeded, PasswordWrong, TooManyTries
from filefleet.core.models import FileInfo
from filefleet.core.passwords import check_password, hash_password
from filefleet.frontend.context import FrontendContext
from filefleet.frontend.html_errors import html_page
from filefleet.frontend.negotiation import prefers_html
from filefleet.frontend.options import UploadOptions
from filefleet.http.server import basic_auth_password, error_response, too_many_tries

PASSWORD_HEADER = "X-Password"
CHALLENGE = 'Basic realm="filefleet", charset="UTF-8"'
Refusal = PasswordNeeded | PasswordWrong | TooManyTries


async def protect(options: UploadOptions, password: str | None) -> UploadOptions:
    """``options`` with the hash of ``password`` (none for a missing or empty one); a
    password too long is a 400 naming the field, before anything is stored."""
    if not password:
        return options
    check_password(password)
    hashed = await asyncio.to_thread(hash_password, password)  # ~40 ms of CPU
    return dataclasses.replace(options, password_hash=hashed)


def given_password(headers: Mapping[str, str]) -> str | None:
    """The password a request carries: ``X-Password``, else the password of HTTP Basic
    (the user name is ignored); None without one."""
    header = headers.get(PASSWORD_HEADER)
    if header:
        return header
    basic = basic_auth_password(headers.get("Authorization", ""))
    return basic.decode("utf-8", "replace") if basic else None


async def refusal(
    request: web.Request, ctx: FrontendContext, info: FileInfo, candidate: str | None
) -> web.Response | None:
    """None when the request may have the file's bytes (no password, or the right one);
    else the answer that refuses it. Nothing is counted here: the download is taken only
    after this said None."""
    if not info.protected:
        return None
    try:
        if candidate is None:
            raise PasswordNeeded(
                f"file {info.id} needs a password: send it as {PASSWORD_HEADER} or with HTTP "
                "Basic (any user name)"
            )
        await ctx.controller.check_password(info.id, candidate)
    except (PasswordNeeded, PasswordWrong, TooManyTries) as exc:
        return _refused(request, ctx, info, exc)
    return None


def _refused(
    request: web.Request, ctx: FrontendContext, info: FileInfo, exc: Refusal
) -> web.Response:
    ctx.downloader.counters.passwords_refused += 1
    if prefers_html(request.headers.get("Accept")):
        page = password_page(ctx, request, info, error=_advice(exc))
        if isinstance(exc, TooManyTries):
            page.headers["Retry-After"] = str(exc.retry_after)
        page.set_status(exc.status)
        return page
    if isinstance(exc, TooManyTries):
        return too_many_tries(exc)
    answer = error_response(exc.status, exc.message, exc.code)
    if isinstance(exc, PasswordNeeded):
        answer.headers["WWW-Authenticate"] = CHALLENGE
    return answer


def _advice(exc: Refusal) -> str:
    if isinstance(exc, PasswordWrong):
        return "That is not the password. Try again."
    if isinstance(exc, TooManyTries):
        return f"Too many wrong passwords for this link. Try again in {exc.retry_after} seconds."
    return "Enter the password to download."


def password_page(
    ctx: FrontendContext, request: web.Request, info: FileInfo, *, error: str = ""
) -> web.Response:
    """The page of a protected link: a password form that POSTs to the link and gets the
    bytes. It names nothing of the file (docs/privacy.md)."""
    link = f"{ctx.public_url(request)}/download/{info.id}"
    limited = info.max_downloads is not None
    values = {
        "kind": "bundle" if info.members else "file",
        "action": html.escape(f"/download/{info.id}"),
        "link": html.escape(link),
        "button": "Download all (.zip)" if info.members else "Download",
        "error": (
            f'  <p class="message error" id="password-error" role="alert">{html.escape(error)}</p>'
            if error
            else ""
        ),
        "limit_note": " (each download counts toward the link's limit)" if limited else "",
    }
    text = Template(ctx.pages["password.html"]).substitute(values)
    return html_page(text)
