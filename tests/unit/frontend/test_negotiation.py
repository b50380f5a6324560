"""Who gets the landing page and who gets the bytes on one link."""

from __future__ import annotations

import pytest

from filefleet.frontend.negotiation import accept_weights, is_preview, prefers_html, wants_page

CHROME = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
)
FIREFOX = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        (CHROME, True),
        (FIREFOX, True),
        ("*/*", False),  # curl, wget
        (None, False),  # the CLI, scripts
        ("", False),
        ("application/json", False),
        ("application/json, text/html;q=0.5", False),
        ("text/html;q=0", False),
        ("text/*", False),
        ("text/html, application/octet-stream;q=0.9", True),
        ("application/octet-stream, text/html;q=0.9", False),
        ("text/html;q=nonsense, */*", False),
    ],
)
def test_prefers_html(accept: str | None, html: bool) -> None:
    assert prefers_html(accept) is html


def test_accept_weights_take_the_highest_of_repeats() -> None:
    assert accept_weights("a/b;q=0.2, A/B;q=0.7, c/d") == {"a/b": 0.7, "c/d": 1.0}


@pytest.mark.parametrize(
    "agent",
    [
        "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
        "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
        "TelegramBot (like TwitterBot)",
        "WhatsApp/2.23.20.0",
        "Twitterbot/1.0",
    ],
)
def test_preview_bots_get_the_page_whatever_they_accept(agent: str) -> None:
    headers = {"User-Agent": agent, "Accept": "*/*"}
    assert is_preview(headers)
    assert wants_page(headers, download=False)
    assert wants_page(headers, download=True)  # never a download, even with ?dl=1


@pytest.mark.parametrize(
    ("headers", "download", "page"),
    [
        ({"Accept": CHROME}, False, True),
        ({"Accept": CHROME}, True, False),  # the Download button
        ({"Accept": CHROME, "Range": "bytes=100-"}, False, False),  # a resumed download
        ({"Accept": "*/*", "User-Agent": "curl/8.5.0"}, False, False),
        ({"Accept": "*/*", "User-Agent": "Wget/1.21.4"}, False, False),
        ({"User-Agent": "filefleet/0.1.0"}, False, False),
        ({"Accept": CHROME, "Sec-Purpose": "prefetch"}, True, True),
    ],
)
def test_wants_page(headers: dict[str, str], download: bool, page: bool) -> None:
    assert wants_page(headers, download) is page
