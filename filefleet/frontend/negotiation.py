"""Who gets a page and who gets the bytes, on the same link (pure).

The rule (docs/api.md, "One link, two answers"):

1. A request with a ``Range`` header gets bytes: it is a download being resumed.
2. A known link-preview bot (chat apps unfurling a link, ``Slackbot``, ``Twitterbot``,
   ``facebookexternalhit``, ...) or a browser's speculative prefetch (``Sec-Purpose:
   prefetch``) gets the page, whatever it asks for: it must never take a download of a
   link with ``max_downloads``.
3. ``?dl=1`` gets bytes (the page's Download button).
4. A client whose ``Accept`` prefers HTML (a browser: ``text/html`` listed, with a weight
   at least that of JSON and of ``application/octet-stream``) gets the page.
5. Everyone else (curl and wget send ``*/*``; the CLI, scripts, no ``Accept`` at all) gets
   the bytes, exactly as before the page existed.

The page takes no download; only a body of bytes served from byte 0 does.
"""

from __future__ import annotations

from collections.abc import Mapping

HTML_TYPES = ("text/html", "application/xhtml+xml")
RIVAL_TYPES = ("application/json", "application/octet-stream")

# Substrings of the User-Agent of crawlers that fetch a link to show a preview of it.
PREVIEW_BOTS = (
    "slackbot",
    "slack-imgproxy",
    "twitterbot",
    "facebookexternalhit",
    "facebot",
    "discordbot",
    "whatsapp",
    "telegrambot",
    "linkedinbot",
    "skypeuripreview",
    "microsoftpreview",
    "teams",
    "mattermost",
    "rocket.chat",
    "synapse",
    "mastodon",
    "pleroma",
    "redditbot",
    "pinterest",
    "vkshare",
    "iframely",
    "embedly",
    "googlebot",
    "bingbot",
    "applebot",
    "yandex",
    "baiduspider",
    "duckduckbot",
    "signal",
    "viber",
    "line/",
    "zoom",
    "snapchat",
    "bitlybot",
    "outbrain",
    "quora link preview",
    "google-pagerenderer",
    "bot/",
    "crawler",
    "spider",
    "link preview",
    "linkpreview",
)


def accept_weights(accept: str | None) -> dict[str, float]:
    """Media type -> weight (``q``) of each type an ``Accept`` header lists."""
    weights: dict[str, float] = {}
    for item in (accept or "").split(","):
        media, *params = (part.strip() for part in item.split(";"))
        if not media:
            continue
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = max(0.0, min(1.0, float(value)))
                except ValueError:
                    q = 0.0
        weights[media.lower()] = max(q, weights.get(media.lower(), 0.0))
    return weights


def prefers_html(accept: str | None) -> bool:
    """Whether the client lists HTML and weighs it at least as JSON and raw bytes."""
    weights = accept_weights(accept)
    html = max((weights.get(t, 0.0) for t in HTML_TYPES), default=0.0)
    rival = max((weights.get(t, 0.0) for t in RIVAL_TYPES), default=0.0)
    return html > 0 and html >= rival


def is_preview(headers: Mapping[str, str]) -> bool:
    """A link-preview bot, or a browser prefetching a link nobody clicked yet."""
    purpose = (headers.get("Sec-Purpose") or headers.get("Purpose") or "").lower()
    if "prefetch" in purpose or headers.get("X-Moz", "").lower() == "prefetch":
        return True
    agent = headers.get("User-Agent", "").lower()
    return any(bot in agent for bot in PREVIEW_BOTS)


def wants_page(headers: Mapping[str, str], download: bool) -> bool:
    """Whether ``GET /download/{id}`` answers the landing page (see the module's rule);
    ``download`` is ``?dl=1``."""
    if "Range" in headers:
        return False
    if is_preview(headers):
        return True
    if download:
        return False
    return prefers_html(headers.get("Accept"))
