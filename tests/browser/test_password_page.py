"""Password links in a real browser: the upload page's password field (with and without
JavaScript), and the page a protected link shows: a form that names nothing of the file,
says when the password is wrong, and downloads identical bytes when it is right. A
screenshot of that page goes to docs/ when FILEFLEET_UPDATE_SCREENSHOT=1."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from tests.browser.test_landing_page import screenshot
from tests.browser.test_upload_page import MiB, cluster, make_file, open_page
from tests.harness.cluster import Cluster, http

__all__ = ["cluster"]  # the two-node fixture of the upload page's tests

PASSWORD = "horse battery staple ✓"


def basic(password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f":{password}".encode()).decode()}


def assert_protected(link: str, data: bytes) -> None:
    assert http("GET", link).status == 401
    answer = http("GET", link, headers=basic(PASSWORD))
    assert answer.status == 200 and answer.body == data


def test_the_upload_page_protects_a_link(browser: Any, cluster: Cluster, tmp_path: Path) -> None:
    path, data = make_file(tmp_path, "contract.pdf", MiB + 99)
    errors: list[str] = []
    page = open_page(browser, cluster.url, errors)
    page.fill("#password", PASSWORD)
    page.set_input_files("#file", str(path))
    page.wait_for_selector(".card[data-state=done]", timeout=30_000)
    assert_protected(page.locator(".card .link").input_value(), data)
    assert errors == []


def test_the_form_without_javascript_protects_a_link(
    browser: Any, cluster: Cluster, tmp_path: Path
) -> None:
    path, data = make_file(tmp_path, "plain.bin", 2 * MiB + 7)
    page = open_page(browser, cluster.url, [], java_script_enabled=False)
    page.fill("#password", PASSWORD)
    page.set_input_files("#file", str(path))
    page.click("button[type=submit]")
    page.wait_for_selector("#download-link")
    assert_protected(page.locator("#link").input_value(), data)


def test_a_protected_link_asks_for_its_password(
    browser: Any, cluster: Cluster, tmp_path: Path
) -> None:
    data = b"the plans" * 1000
    result = cluster.upload(data, name="secret plans.txt", max_downloads="2", password=PASSWORD)
    errors: list[str] = []
    page = open_page(browser, result["url"], errors, accept_downloads=True,
                     viewport={"width": 760, "height": 700})  # fmt: skip
    assert page.title() == "A protected file — filefleet"
    text = page.locator("main").inner_text()
    assert "secret plans" not in text and "9000" not in text and "9.0 KB" not in text
    screenshot(page, tmp_path, "password-page.png")

    page.fill("#password", "not it")
    page.click("#unlock")
    page.wait_for_selector("#password-error")
    assert "not the password" in page.locator("#password-error").inner_text()
    assert cluster.file_info(result["id"])["downloads"] == 0  # a refused try takes none

    page.fill("#password", PASSWORD)
    with page.expect_download() as download:
        page.click("#unlock")
    saved = tmp_path / "saved.txt"
    download.value.save_as(saved)
    assert download.value.suggested_filename == "secret plans.txt"
    assert saved.read_bytes() == data
    assert cluster.file_info(result["id"])["downloads"] == 1
    # The only errors are the wrong try's own 401.
    assert [e for e in errors if "401" not in e] == [], errors
