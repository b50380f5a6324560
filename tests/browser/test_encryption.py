"""End-to-end encryption in Chromium: the page encrypts and the CLI decrypts, the CLI
encrypts and the landing page decrypts (streamed to disk by a Service Worker), both
identical, across a resume too; a wrong key says so and saves nothing; e2e.js writes
exactly the bytes core/encryption.py pins."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from filefleet.core.encryption import PLACEHOLDER_NAME, FileHeader, encrypt, key_to_text, new_key
from tests.browser.test_landing_page import screenshot
from tests.browser.test_upload_page import frontend_stats, open_page, throttle
from tests.e2e.test_encryption import MARKER, env_for, forge_chunk, marked, share_encrypted
from tests.e2e.test_resumable import cli
from tests.harness.cluster import Cluster
from tests.harness.processes import ProcessGroup, wait_for
from tests.unit.core.test_encryption import GOLDEN_SHA256

MiB = 1024 * 1024


@pytest.fixture
def cluster(procs: ProcessGroup, tmp_path: Path) -> Cluster:
    """Two nodes; 1 MiB chunks so small files make multi-chunk uploads."""
    return Cluster(procs, tmp_path, frontend_args=["--chunk-size", "1MiB"]).start(nodes=2)


@pytest.fixture
def client_dir(tmp_path: Path) -> Path:
    path = tmp_path / "client"
    path.mkdir()
    return path


def upload_encrypted(page: Any, path: Path) -> str:
    page.check("#encrypt")
    page.set_input_files("#file", str(path))
    page.wait_for_selector(".card[data-state=done]", timeout=60_000)
    card = page.locator(".card")
    assert card.get_attribute("data-encrypted") == "true"
    link: str = card.locator(".link").input_value()
    return link


def marked_file(folder: Path, name: str, size: int) -> tuple[Path, bytes]:
    data = marked(size)
    (folder / name).write_bytes(data)
    return folder / name, data


def cli_get(link: str, target: Path, cluster: Cluster) -> Any:
    return cli("get", link, "-o", str(target), env={"FILEFLEET_SERVER": cluster.url})


def test_the_page_encrypts_and_the_cli_decrypts_identical(
    browser: Any, cluster: Cluster, tmp_path: Path, client_dir: Path
) -> None:
    source, data = marked_file(client_dir, "MARKER-plans.txt", 3 * MiB + 4321)
    errors: list[str] = []
    page = open_page(browser, cluster.url, errors)
    link = upload_encrypted(page, source)
    base, _, key = link.partition("#")
    assert len(key) == 43 and base.startswith(f"{cluster.url}/download/")
    file_id = base.rsplit("/", 1)[-1]
    assert cluster.file_info(file_id)["name"] == PLACEHOLDER_NAME
    for node in cluster.nodes:  # ciphertext only on the nodes
        for chunk in (node.data / "chunks").rglob("*"):
            if chunk.is_file():
                assert MARKER not in chunk.read_bytes()
    target = client_dir / "decrypted.txt"
    got = cli_get(link, target, cluster)
    assert got.returncode == 0, got.stderr
    assert target.read_bytes() == data
    assert errors == []


def test_the_cli_encrypts_and_the_landing_page_decrypts_identical(
    browser: Any, cluster: Cluster, tmp_path: Path, client_dir: Path
) -> None:
    source, data = marked_file(client_dir, "budget 2027 — final.xlsx", 5 * MiB + 99)
    result = share_encrypted(source, env_for(cluster, client_dir))
    errors: list[str] = []
    page = open_page(browser, result["url"], errors, accept_downloads=True)
    assert page.locator("main").get_attribute("data-encrypted") == "true"
    assert page.locator("#download").inner_text() == "Decrypt and download"
    with page.expect_download(timeout=60_000) as download:
        page.click("#download")
    saved = tmp_path / "saved.bin"
    download.value.save_as(saved)
    assert download.value.failure() is None
    assert download.value.suggested_filename == source.name
    assert saved.read_bytes() == data
    page.wait_for_selector("main[data-e2e-state=ok]", timeout=30_000)
    assert "decrypted and verified" in page.locator("#e2e-status").inner_text()
    assert page.locator("#file-name").inner_text() == source.name
    screenshot(page, tmp_path, "encrypted-landing-page.png")
    # The page's requests never carried the key: it is only in the fragment.
    assert errors == []


def test_a_wrong_key_on_the_landing_page_says_so_and_saves_nothing(
    browser: Any, cluster: Cluster, tmp_path: Path, client_dir: Path
) -> None:
    source = client_dir / "a.txt"
    source.write_bytes(b"secret " * 1000)
    result = share_encrypted(source, env_for(cluster, client_dir))
    wrong = result["url"].partition("#")[0] + "#" + key_to_text(bytes(32))
    errors: list[str] = []
    page = open_page(browser, wrong, errors, accept_downloads=True)
    downloads: list[Any] = []
    page.on("download", lambda d: downloads.append(d))
    page.click("#download")
    page.wait_for_selector("main[data-e2e-state=error]", timeout=30_000)
    assert "wrong key" in page.locator("#e2e-status").inner_text()
    assert downloads == []


def test_changed_ciphertext_fails_the_page_download_with_a_message(
    browser: Any, cluster: Cluster, tmp_path: Path, client_dir: Path
) -> None:
    """The fleet serves a forged chunk that passes every server-side check: the record's
    tag fails in the Service Worker, the download fails and the page says why."""
    source, _ = marked_file(client_dir, "b.bin", 5 * MiB)
    result = share_encrypted(source, env_for(cluster, client_dir))
    forge_chunk(cluster, tmp_path, result["id"], 2)
    page = open_page(browser, result["url"], [], accept_downloads=True)
    with page.expect_download(timeout=60_000) as download:
        page.click("#download")
    assert download.value.failure() is not None  # never saved as a finished file
    page.wait_for_selector("main[data-e2e-state=error]", timeout=30_000)
    assert "does not verify" in page.locator("#e2e-status").inner_text()


def test_an_encrypted_upload_resumes_after_a_reload_identical(
    browser: Any, cluster: Cluster, tmp_path: Path, client_dir: Path
) -> None:
    size = 20 * MiB + 7
    source, data = marked_file(client_dir, "large.bin", size)
    errors: list[str] = []
    page = open_page(browser, cluster.url, errors)
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    throttle(cdp, 8 * MiB)
    page.check("#encrypt")
    page.set_input_files("#file", str(source))
    wait_for(lambda: frontend_stats(cluster)["chunks_received"] >= 4, timeout=30, what="4 chunks")
    page.reload()
    throttle(cdp, -1)
    before = frontend_stats(cluster)
    assert before["completed"] == 0

    link = upload_encrypted(page, source)
    assert int(page.locator(".card").get_attribute("data-resumed-chunks") or 0) >= 4
    resent = frontend_stats(cluster)["bytes_received"] - before["bytes_received"]
    assert 0 < resent < size  # only the missing chunks of the same ciphertext
    target = client_dir / "large-again.bin"
    got = cli_get(link, target, cluster)
    assert got.returncode == 0, got.stderr
    assert target.read_bytes() == data


def test_e2e_js_writes_the_bytes_python_pins(browser: Any, cluster: Cluster) -> None:
    """The golden vector of tests/unit/core/test_encryption.py, made by e2e.js."""
    page = open_page(browser, cluster.url, [])

    def text(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    secrets = {"key": text(bytes(range(32))), "salt": text(bytes(16)), "nonce": text(bytes(12))}
    digest = page.evaluate(
        """async (secrets) => {
          const E = window.filefleetE2E;
          const sealer = await E.Sealer.create(
            secrets, {name: "a.txt", size: 3, content_type: "text/plain"});
          const plain = new TextEncoder().encode("abc");
          const bytes = await sealer.range(
            async (at, n) => plain.slice(at, at + n), 0, sealer.size);
          const sum = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
          return Array.from(sum, (b) => b.toString(16).padStart(2, "0")).join("");
        }""",
        secrets,
    )
    assert digest == GOLDEN_SHA256

    # And back: what Python seals, e2e.js opens, fed in uneven pieces.
    data = os.urandom(3 * 65536 + 17)
    key = new_key()
    sealed = encrypt(key, FileHeader("été.txt", len(data), "text/plain"), data)
    opened = page.evaluate(
        """async ([key, sealedText]) => {
          const E = window.filefleetE2E;
          const sealed = Uint8Array.from(atob(sealedText), (c) => c.charCodeAt(0));
          const opener = new E.Opener(key);
          const out = [];
          for (let at = 0; at < sealed.length; at += 10000) {
            out.push(...(await opener.feed(sealed.subarray(at, at + 10000))));
          }
          const header = opener.finish();
          const joined = new Uint8Array(await new Blob(out).arrayBuffer());
          const sum = new Uint8Array(await crypto.subtle.digest("SHA-256", joined));
          return {name: header.name, size: header.size,
                  sha256: Array.from(sum, (b) => b.toString(16).padStart(2, "0")).join("")};
        }""",
        [key_to_text(key), base64.b64encode(sealed).decode()],
    )
    assert opened == {"name": "été.txt", "size": len(data),
                      "sha256": hashlib.sha256(data).hexdigest()}  # fmt: skip
