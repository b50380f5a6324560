"""The person who receives a link, and the upload page's finish, in a real browser.

Open a link: the landing page, and its Download button gives identical bytes; a one-time
link survives page views and a preview bot; a bundle of three files (one empty, one with
a non-ASCII name) made on the page downloads as a zip that unzips identical, and resumes;
error pages and the delete confirmation; on the upload page the result stays hidden until
the link exists, Cancel, "already stored", the copy button of the delete link and the
recent uploads. Screenshots of each page go to docs/ when FILEFLEET_UPDATE_SCREENSHOT=1.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.browser.test_upload_page import MiB, make_file, open_page, throttle
from tests.harness.cluster import Cluster, http
from tests.harness.processes import ProcessGroup, wait_for

DOCS = Path(__file__).resolve().parents[2] / "docs"
MOMENT = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC")
SLACKBOT = {
    "Accept": "*/*",
    "User-Agent": "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
}


@pytest.fixture
def cluster(procs: ProcessGroup, tmp_path: Path) -> Cluster:
    """Two nodes; 1 MiB chunks so small files make multi-chunk uploads."""
    return Cluster(procs, tmp_path, frontend_args=["--chunk-size", "1MiB"]).start(nodes=2)


def screenshot(page: Any, tmp_path: Path, name: str) -> None:
    """A PNG of the whole page (small), copied to docs/ on request."""
    page.wait_for_function(
        "() => [...document.images].filter(i => i.offsetParent)"
        ".every(i => i.complete && i.naturalWidth)"
    )
    shot = tmp_path / name
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size < 200_000
    if os.environ.get("FILEFLEET_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(shot, DOCS / name)


def test_open_a_link_then_download_identical_bytes(
    browser: Any, cluster: Cluster, tmp_path: Path
) -> None:
    data = os.urandom(2 * MiB + 321)
    result = cluster.upload(data, name="quarterly report.pdf", max_downloads="3", expires="2d")
    errors: list[str] = []
    page = open_page(browser, result["url"], errors, accept_downloads=True,
                     viewport={"width": 760, "height": 900})  # fmt: skip
    assert page.title() == "quarterly report.pdf — filefleet"
    assert page.locator("#file-name").inner_text() == "quarterly report.pdf"
    assert page.locator("#sha256").inner_text() == result["sha256"]
    assert page.locator("#downloads-left").inner_text() == "3"
    assert MOMENT.fullmatch(page.locator("#expires").inner_text())
    countdown = page.locator("#countdown")
    assert re.fullmatch(r"\(in 1 d 23 h\)|\(in 2 d 0 h\)", countdown.inner_text())
    screenshot(page, tmp_path, "landing-page.png")
    assert cluster.file_info(result["id"])["downloads"] == 0  # the page took none
    with page.expect_download() as download:
        page.click("#download")
    saved = tmp_path / "saved.pdf"
    download.value.save_as(saved)
    assert download.value.suggested_filename == "quarterly report.pdf"
    assert saved.read_bytes() == data
    assert cluster.file_info(result["id"])["downloads"] == 1
    page.reload()
    assert page.locator("#downloads-left").inner_text() == "2"
    assert errors == []


def test_a_one_time_link_survives_three_views_and_a_preview_bot(
    browser: Any, cluster: Cluster, tmp_path: Path
) -> None:
    data = b"for your eyes only\n" * 5000
    result = cluster.upload(data, name="once.txt", max_downloads="1")
    errors: list[str] = []
    page = open_page(browser, result["url"], errors, accept_downloads=True)
    for _ in range(2):
        page.reload()
    bot = http("GET", result["url"], headers=SLACKBOT)
    assert bot.status == 200 and bot.headers["Content-Type"].startswith("text/html")
    assert cluster.file_info(result["id"])["downloads"] == 0
    with page.expect_download() as download:
        page.click("#download")
    assert Path(download.value.path()).read_bytes() == data
    gone = page.goto(result["url"])
    assert gone is not None and gone.status == 410
    assert page.locator("h1").inner_text() == "This link no longer works"
    screenshot(page, tmp_path, "error-page.png")
    script = http("GET", result["url"])
    assert script.status == 410 and "error" in script.json()


def test_a_bundle_made_on_the_page_unzips_identical_and_resumes(
    browser: Any, cluster: Cluster, tmp_path: Path
) -> None:
    files = [
        make_file(tmp_path, "photos.tar", 2 * MiB + 99),
        (tmp_path / "empty.txt", b""),
        (tmp_path / "Grüße aus Köln – Ελλάδα.txt", "ünïcödé\n".encode() * 500),
    ]
    for path, data in files:
        path.write_bytes(data)
    errors: list[str] = []
    page = open_page(browser, cluster.url, errors, accept_downloads=True,
                     viewport={"width": 760, "height": 1000})  # fmt: skip
    page.check("#bundle")
    page.fill("#max_downloads", "5")
    page.set_input_files("#file", [str(p) for p, _ in files])
    bundle = page.locator(".card.bundle")
    bundle.wait_for(timeout=30_000)
    page.wait_for_selector(".card.bundle[data-state=done]", timeout=30_000)
    link = bundle.locator(".link").input_value()
    assert link.startswith(f"{cluster.url}/download/")
    for card in page.locator(".card:not(.bundle)").all():
        assert card.locator(".result").is_hidden()  # the files' own links never show
    screenshot(page, tmp_path, "upload-bundle.png")

    landing = open_page(browser, link, errors, accept_downloads=True,
                        viewport={"width": 760, "height": 900})  # fmt: skip
    rows = landing.locator("#members tbody tr")
    assert rows.count() == 3
    assert [rows.nth(i).locator("a").inner_text() for i in range(3)] == [p.name for p, _ in files]
    screenshot(landing, tmp_path, "bundle-page.png")
    with landing.expect_download() as download:
        landing.click("#download")
    archive = Path(download.value.path()).read_bytes()
    assert download.value.suggested_filename == "files.zip"
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        assert zf.testzip() is None
        assert [(i.filename, zf.read(i)) for i in zf.infolist()] == [(p.name, d) for p, d in files]
    with landing.expect_download() as one:
        rows.nth(2).locator("a").click()
    assert Path(one.value.path()).read_bytes() == files[2][1]
    # A download cut short resumes with a range of the same bytes.
    cut = len(archive) // 3
    rest = http("GET", link, headers={"Range": f"bytes={cut}-"})
    assert rest.status == 206 and archive[:cut] + rest.body == archive
    assert cluster.file_info(link.rsplit("/", 1)[1])["downloads"] == 2
    assert errors == []


def test_error_pages_and_the_delete_confirmation(
    browser: Any, cluster: Cluster, tmp_path: Path
) -> None:
    result = cluster.upload(b"draft", name="draft.txt")
    errors: list[str] = []
    page = open_page(browser, f"{cluster.url}/download/{'Z' * 24}", errors)
    assert page.locator("h1").inner_text() == "No such file"
    assert page.locator(".status").inner_text() == "404"
    answer = page.goto(result["delete_url"])
    assert answer is not None and answer.status == 200
    assert page.locator("h1").inner_text() == "Delete this file?"
    assert http("GET", result["url"]).status == 200  # opening it deleted nothing
    screenshot(page, tmp_path, "delete-confirm.png")
    page.click("#confirm-delete")
    page.wait_for_selector("text=File deleted")
    assert http("GET", result["url"]).status == 410


def test_the_result_shows_only_when_the_link_exists_and_cancel_abandons(
    browser: Any, cluster: Cluster, tmp_path: Path
) -> None:
    path, _ = make_file(tmp_path, "slow.bin", 12 * MiB)
    errors: list[str] = []
    page = open_page(browser, cluster.url, errors)
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    throttle(cdp, 2 * MiB)
    page.set_input_files("#file", str(path))
    card = page.locator(".card")
    wait_for(lambda: card.get_attribute("data-percent") not in (None, "0"), timeout=30,
             what="the upload under way")  # fmt: skip
    result = card.locator(".result")
    assert result.is_hidden() and result.bounding_box() is None
    assert not card.locator(".qr").is_visible() and not card.locator(".copy").is_visible()
    assert card.locator(".cancel").is_visible()
    card.locator(".cancel").click()
    page.wait_for_selector(".card[data-state=cancelled]")
    assert result.is_hidden()
    wait_for(lambda: bool(cluster.api("GET", "/files?state=deleting").json()["files"]),
             timeout=10, what="the upload abandoned on the server")  # fmt: skip
    assert (
        page.evaluate("() => Object.keys(localStorage).filter(k => k.includes(':upload:'))") == []
    )


def test_already_stored_copy_delete_link_and_recent_uploads(
    browser: Any, cluster: Cluster, tmp_path: Path
) -> None:
    path, _ = make_file(tmp_path, "twice.bin", MiB + 5)
    errors: list[str] = []
    page = open_page(browser, cluster.url, errors,
                     permissions=["clipboard-read", "clipboard-write"])  # fmt: skip
    page.set_input_files("#file", str(path))
    page.wait_for_selector(".card:nth-child(1)[data-state=done]")
    page.set_input_files("#file", str(path))
    page.wait_for_selector(".card:nth-child(2)[data-state=done]")
    second = page.locator(".card").nth(1)
    assert "already stored" in second.locator(".progress-text").inner_text()
    assert MOMENT.search(second.locator(".message").inner_text())
    second.locator(".copy-delete").click()
    assert page.evaluate("() => navigator.clipboard.readText()") == (
        second.locator(".delete-link").input_value()
    )
    page.reload()
    recent = page.locator("#recent-list li")
    assert page.locator("#recent").is_visible() and recent.count() == 2
    assert MOMENT.search(recent.nth(0).inner_text())
    link = recent.nth(0).locator("a").get_attribute("href")
    assert link is not None
    screenshot(page, tmp_path, "upload-page-recent.png")
    page.once("dialog", lambda dialog: dialog.accept())
    recent.nth(0).locator(".delete-recent").click()
    wait_for(lambda: recent.count() == 1, timeout=10, what="the deleted upload to go")
    assert http("GET", link).status == 410
    icon = http("GET", f"{cluster.url}/favicon.ico")
    assert icon.status == 200 and icon.body.startswith(b"<svg")
    external = page.evaluate(
        """() => [...document.querySelectorAll("script[src], link[href], img[src]")]
            .map(e => e.src || e.href).filter(u => !u.startsWith(location.origin))"""
    )
    assert external == []
    assert errors == []
