"""The pages a person who receives a link sees (pure: templates filled from a record).

- the landing page of ``GET /download/{id}`` for a browser (``negotiation.py`` decides):
  what the file is, until when, how many downloads are left, its SHA-256, a QR code and a
  Download button (``?dl=1``); for a bundle, its files, each with its own link;
- the error page, with the status of the error, for a browser that meets one;
- the confirmation page of a delete link opened in a browser (its button POSTs).

Every value from a record or a request is HTML-escaped here; moments are written
``YYYY-MM-DD HH:MM UTC`` (``static/format.js`` writes them the same way).
"""

from __future__ import annotations

import html
from datetime import datetime
from string import Template

from filefleet.core.models import FileInfo
from filefleet.core.units import format_size

# status -> (title, what the person can do about it)
ERROR_TEXT = {
    400: ("That request was not right", "Something in the link or the form was wrong."),
    403: ("Not allowed", "This link does not allow that. Check that you have the whole link."),
    404: ("No such file", "Nothing is shared under this link: check that it is complete. "
          "A file that expired a while ago is forgotten, too."),
    405: ("Not allowed", "This address does not take that kind of request."),
    410: ("This link no longer works", "The file expired, was deleted by its owner, or was "
          "downloaded as many times as it allowed. Ask the sender for a new link."),
    413: ("Too large", "The file is larger than this server accepts."),
    416: ("Range not satisfiable", "The part of the file asked for does not exist."),
    503: ("Temporarily unavailable", "The storage fleet cannot serve this right now. Try "
          "again in a minute: nothing is lost."),
    507: ("The fleet is full", "The storage nodes have no room for this now."),
}  # fmt: skip
DEFAULT_ERROR = ("Something went wrong", "Try again in a moment.")


def format_moment(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def remaining(until: datetime, now: datetime) -> str:
    """``in 6 d 23 h``, ``in 4 min 12 s`` or ``expired`` (as ``format.js`` counts)."""
    seconds = int((until - now).total_seconds())
    if seconds <= 0:
        return "expired"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"in {days} d {hours} h"
    if hours:
        return f"in {hours} h {minutes} min"
    if minutes:
        return f"in {minutes} min {secs} s"
    return f"in {secs} s"


def downloads_left(info: FileInfo) -> str:
    if info.max_downloads is None:
        return "unlimited"
    return str(max(0, info.max_downloads - info.downloads))


def landing_page(template: str, info: FileInfo, *, link: str, now: datetime) -> str:
    """The page of ``link`` for ``info``, a live file or bundle."""
    e = html.escape
    size = info.size or 0
    bundle = bool(info.members)
    if bundle:
        count = len(info.members)
        summary = f"{count} file{'s' if count != 1 else ''}, {format_size(size)} in all"
        label = f"Download all ({count} files, .zip)"
    else:
        summary = f"A file shared with you: {format_size(size)}"
        label = f"Download ({format_size(size)})"
    limited = info.max_downloads is not None
    values = {
        "name": e(info.name),
        "summary": e(summary),
        "kind": "bundle" if bundle else "file",
        "size_text": e(format_size(size)),
        "size": str(size),
        "content_type": e(info.content_type),
        "expires_iso": e(info.expires_at.isoformat()),
        "expires_text": e(format_moment(info.expires_at)),
        "remaining": e(f"({remaining(info.expires_at, now)})"),
        "downloads_left": e(downloads_left(info)),
        "sha256_row": "" if bundle else (
            f'      <dt>SHA-256</dt><dd><code id="sha256">{e(info.sha256 or "")}</code></dd>'
        ),
        "members": _members_table(info) if bundle else "",
        "qr_src": e(f"/download/{info.id}/qr"),
        "download_href": e(f"/download/{info.id}?dl=1"),
        "download_label": e(label),
        "limit_note": " (each download counts toward the limit)" if limited else "",
        "link": e(link),
    }  # fmt: skip
    return Template(template).substitute(values)


def _members_table(info: FileInfo) -> str:
    e = html.escape
    rows = "\n".join(
        f'      <tr><td><a class="member" href="/download/{e(info.id)}/{n}?dl=1">{e(m.name)}</a>'
        f'</td><td class="num">{e(format_size(m.size))}</td>'
        f"<td><code>{e(m.sha256)}</code></td></tr>"
        for n, m in enumerate(info.members)
    )
    return (
        '  <table class="members" id="members">\n'
        "    <thead><tr><th>File</th><th>Size</th><th>SHA-256</th></tr></thead>\n"
        f"    <tbody>\n{rows}\n    </tbody>\n  </table>"
    )


def error_page(template: str, status: int, message: str) -> str:
    title, advice = ERROR_TEXT.get(status, DEFAULT_ERROR)
    return Template(template).substitute(
        status=str(status),
        title=html.escape(title),
        advice=html.escape(advice),
        message=html.escape(message),
    )


def confirm_delete_page(template: str, info: FileInfo, *, action: str, link: str) -> str:
    return Template(template).substitute(
        name=html.escape(info.name),
        size_text=html.escape(format_size(info.size or 0)),
        expires_iso=html.escape(info.expires_at.isoformat()),
        expires_text=html.escape(format_moment(info.expires_at)),
        action=html.escape(action),
        link=html.escape(link),
    )


def deleted_page(template: str, name: str) -> str:
    return Template(template).substitute(name=html.escape(name))
