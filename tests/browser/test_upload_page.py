"""The upload page in a real browser: several files through the resumable chunk API, the
no-JavaScript form, resuming after a reload, the QR code, the error messages, and the
incremental SHA-256 the page's worker uses."""

from __future__ import annotations

import hashlib
import io
import os
import random
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.harness.cluster import Cluster, http
from tests.harness.processes import ProcessGroup, wait_for

MiB = 1024 * 1024
DOCS = Path(__file__).resolve().parents[2] / "docs"
STATIC = Path(__file__).resolve().parents[2] / "filefleet" / "frontend" / "static"


@pytest.fixture
def cluster(procs: ProcessGroup, tmp_path: Path) -> Cluster:
    """Two nodes; 1 MiB chunks so small files make multi-chunk uploads."""
    return Cluster(procs, tmp_path, frontend_args=["--chunk-size", "1MiB"]).start(nodes=2)


def make_file(folder: Path, name: str, size: int) -> tuple[Path, bytes]:
    data = os.urandom(size)
    path = folder / name
    path.write_bytes(data)
    return path, data


def frontend_stats(cluster: Cluster) -> dict[str, Any]:
    stats: dict[str, Any] = cluster.frontend_stats()["resumable"]
    return stats


def open_page(browser: Any, url: str, errors: list[str], **context: Any) -> Any:
    """A fresh page at ``url`` that records console errors (CSP violations are reported
    there) and uncaught exceptions into ``errors``."""
    page = browser.new_context(**context).new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.goto(url)
    return page


def test_two_files_by_the_file_chooser(browser: Any, cluster: Cluster, tmp_path: Path) -> None:
    first, first_data = make_file(tmp_path, "holiday photos.zip", 3 * MiB + 12345)
    second, second_data = make_file(tmp_path, "notes.txt", MiB // 2)
    errors: list[str] = []
    page = open_page(browser, cluster.url, errors, viewport={"width": 760, "height": 1000})
    with page.expect_file_chooser() as chooser:
        page.click("label[for=file]")
    chooser.value.set_files([first, second])

    cards = page.locator(".card")
    page.wait_for_selector(".card:nth-child(2)[data-state=done]", timeout=30_000)
    page.wait_for_selector(".card:nth-child(1)[data-state=done]", timeout=30_000)
    for index, (path, data) in enumerate([(first, first_data), (second, second_data)]):
        card = cards.nth(index)
        assert card.locator(".name").inner_text() == path.name
        assert card.locator("progress").evaluate("bar => bar.value") == 100
        assert card.locator(".progress-text").inner_text().startswith("100 %")
        link = card.locator(".link").input_value()
        assert link.startswith(f"{cluster.url}/download/")
        assert "/delete/" in card.locator(".delete-link").input_value()
        assert "shown only once" in card.locator(".warning").inner_text()
        answer = http("GET", link)
        assert answer.status == 200 and answer.body == data
    assert errors == []

    page.wait_for_function("() => [...document.images].every(i => i.complete && i.naturalWidth)")
    shot = tmp_path / "upload-page.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size < 200_000
    if os.environ.get("FILEFLEET_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(shot, DOCS / "upload-page.png")

    # The QR code shown on the card reads back as the link.
    qr = cards.nth(1).locator(".qr")
    assert_qr_reads(qr.screenshot(), cards.nth(1).locator(".link").input_value())

    # A file dropped on the drop zone is uploaded the same way.
    page.evaluate(
        """() => {
            const dropped = new DataTransfer();
            dropped.items.add(new File(["dropped bytes"], "dropped.txt", {type: "text/plain"}));
            const zone = document.getElementById("drop");
            zone.dispatchEvent(new DragEvent("drop", {dataTransfer: dropped, bubbles: true}));
        }"""
    )
    page.wait_for_selector(".card:nth-child(3)[data-state=done]")
    answer = http("GET", cards.nth(2).locator(".link").input_value())
    assert answer.body == b"dropped bytes"

    # On a phone's width nothing is wider than the screen.
    page.set_viewport_size({"width": 360, "height": 740})
    wide = page.evaluate(
        """() => [...document.querySelectorAll("body *")]
            .filter(e => e.getBoundingClientRect().right > 360)
            .filter(e => ![...e.children].some(c => c.getBoundingClientRect().right > 360))
            .map(e => e.tagName + "." + e.className + " " + e.getBoundingClientRect().right)"""
    )
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 360, wide
    page.screenshot(path=str(tmp_path / "upload-page-phone.png"))


def assert_qr_reads(png: bytes, link: str) -> None:
    zxingcpp = pytest.importorskip("zxingcpp", reason="zxing-cpp decodes the QR code")
    image_module = pytest.importorskip("PIL.Image", reason="pillow reads the screenshot")
    decoded = zxingcpp.read_barcodes(image_module.open(io.BytesIO(png)))
    assert [code.text for code in decoded] == [link]


def test_qr_route_is_the_link_made_by_segno(cluster: Cluster) -> None:
    """Without a decoder: the SVG is segno's code of exactly this frontend's link."""
    from filefleet.frontend.qr import qr_svg

    upload = cluster.upload(b"qr me", name="qr.txt")
    answer = http("GET", f"{cluster.url}/download/{upload['id']}/qr")
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("image/svg+xml")
    assert answer.body == qr_svg(upload["url"])
    assert http("GET", f"{cluster.url}/download/not..an-id/qr").status == 400


def test_the_form_works_without_javascript(browser: Any, cluster: Cluster, tmp_path: Path) -> None:
    path, data = make_file(tmp_path, "plain.bin", 2 * MiB + 7)
    errors: list[str] = []
    page = open_page(browser, cluster.url, errors, java_script_enabled=False)
    page.select_option("#expires", "1h")
    page.fill("#max_downloads", "3")
    page.set_input_files("#file", str(path))
    page.click("button[type=submit]")
    page.wait_for_selector("#download-link")
    assert page.title() == "filefleet — link ready"
    link = page.locator("#link").input_value()
    assert "shown only once" in page.locator(".warning").inner_text()
    answer = http("GET", link)
    assert answer.status == 200 and answer.body == data
    file_id = link.rsplit("/", 1)[1]
    assert cluster.file_info(file_id)["max_downloads"] == 3


def test_a_reload_mid_upload_then_the_same_file_resumes(
    browser: Any, cluster: Cluster, tmp_path: Path
) -> None:
    size = 24 * MiB + 99
    path, data = make_file(tmp_path, "large.bin", size)
    errors: list[str] = []
    page = open_page(browser, cluster.url, errors)
    # Slow the page's uploads down (8 MiB/s) so the reload lands in the middle.
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    throttle(cdp, 8 * MiB)
    page.set_input_files("#file", str(path))
    wait_for(lambda: frontend_stats(cluster)["chunks_received"] >= 4, timeout=30, what="4 chunks")
    page.reload()
    throttle(cdp, -1)
    before = frontend_stats(cluster)
    assert before["completed"] == 0 and before["bytes_received"] < size

    page.set_input_files("#file", str(path))
    page.wait_for_selector(".card[data-state=done]", timeout=60_000)
    card = page.locator(".card")
    assert int(card.get_attribute("data-resumed-chunks") or 0) >= 4
    after = frontend_stats(cluster)
    resent = after["bytes_received"] - before["bytes_received"]
    # Fewer bytes than the file: only the chunks that were missing (those cut off by the
    # reload included) crossed the network again.
    assert 0 < resent < size
    assert resent <= size - before["chunks_received"] * MiB + 99
    answer = http("GET", card.locator(".link").input_value())
    assert answer.status == 200 and answer.body == data


def throttle(cdp: Any, upload_bytes_per_second: int) -> None:
    """Chromium's network emulation on the page's uploads (-1: no limit)."""
    conditions = {"offline": False, "latency": 0, "downloadThroughput": -1}
    cdp.send("Network.emulateNetworkConditions",
             {**conditions, "uploadThroughput": upload_bytes_per_second})  # fmt: skip


def test_errors_are_explained(browser: Any, procs: ProcessGroup, tmp_path: Path) -> None:
    """No active node: the cluster-unavailable message; a file over --max-upload: too large."""
    cluster = Cluster(procs, tmp_path, frontend_args=["--max-upload", "1MiB"])
    cluster.start_controllers()
    cluster.start_frontend()
    small, _ = make_file(tmp_path, "small.bin", 1000)
    large, _ = make_file(tmp_path, "large.bin", MiB + 1)
    errors: list[str] = []
    page = open_page(browser, cluster.url, errors)
    page.set_input_files("#file", [str(small), str(large)])
    page.wait_for_selector(".card:nth-child(1)[data-state=error]")
    page.wait_for_selector(".card:nth-child(2)[data-state=error]")
    unavailable = page.locator(".card").nth(0).locator(".message").inner_text()
    assert "cluster cannot store files right now" in unavailable
    assert "no active storage node" in unavailable
    too_large = page.locator(".card").nth(1).locator(".message").inner_text()
    assert too_large.startswith("Too large") and "1.0 MiB" in too_large


def test_incremental_sha256_matches_hashlib(browser: Any) -> None:
    page = browser.new_page()
    page.set_content("<p>sha256</p>")
    page.add_script_tag(content=(STATIC / "sha256.js").read_text())
    rng = random.Random(8)
    cases = [bytes(n) for n in (0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 128)]
    cases += [rng.randbytes(rng.randrange(1, 5000)) for _ in range(20)]
    for data in cases:
        cuts = sorted(rng.randrange(0, len(data) + 1) for _ in range(3))
        pieces = [list(data[a:b]) for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
        got = page.evaluate(
            """pieces => {
                const h = new FilefleetSha256();
                for (const p of pieces) h.update(new Uint8Array(p));
                return h.hex();
            }""",
            pieces,
        )
        assert got == hashlib.sha256(data).hexdigest(), len(data)
    page.close()
