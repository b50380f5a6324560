"""The person who receives a link, on a real cluster: one link that is a page for a
browser and the bytes for curl, a one-time link that page views and a preview bot do not
burn, friendly errors for browsers and JSON for scripts, options that name themselves
when wrong, and bundles served as one zip that resumes."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import uuid
import zipfile
from pathlib import Path
from typing import Any

from tests.harness.cluster import Cluster, HttpAnswer, http
from tests.harness.processes import FILEFLEET

BROWSER = {
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120 Safari/537.36",
}
CURL = {"Accept": "*/*", "User-Agent": "curl/8.5.0"}
SLACKBOT = {
    "Accept": "*/*",
    "User-Agent": "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
}


def is_page(answer: HttpAnswer) -> bool:
    return answer.headers.get("Content-Type", "").startswith("text/html")


def multipart(fields: list[tuple[str, str]], files: list[tuple[str, bytes]]) -> tuple[bytes, str]:
    """A multipart/form-data body as a browser sends it: fields, then ``file`` parts."""
    boundary = uuid.uuid4().hex
    out = io.BytesIO()
    for name, value in fields:
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode())
        out.write(value.encode() + b"\r\n")
    for filename, data in files:
        out.write(
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
        )
        out.write(data + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


def upload_bundle(
    cluster: Cluster, files: list[tuple[str, bytes]], **options: str
) -> dict[str, Any]:
    body, content_type = multipart([("bundle", "1"), *options.items()], files)
    headers = {"Content-Type": content_type, "Accept": "application/json"}
    answer = http("POST", f"{cluster.url}/upload", body, headers)
    assert answer.status == 201, (answer.status, answer.body)
    result: dict[str, Any] = answer.json()
    return result


def test_one_link_is_a_page_for_a_browser_and_the_bytes_for_curl(cluster: Cluster) -> None:
    data = os.urandom(300_000)
    result = cluster.upload(data, name="report <2026>.pdf", max_downloads="5")
    url = result["url"]
    page = http("GET", url, headers=BROWSER)
    assert page.status == 200 and is_page(page)
    text = page.body.decode()
    assert "report &lt;2026&gt;.pdf" in text and result["sha256"] in text
    assert f"/download/{result['id']}?dl=1" in text and f"/download/{result['id']}/qr" in text
    assert "Downloads left" in text and ">5<" in text
    assert "Accept" in page.headers.get("Vary", "")
    for headers in (CURL, {}, {"User-Agent": "Wget/1.21.4", "Accept": "*/*"}):
        answer = http("GET", url, headers=headers)
        assert answer.status == 200 and answer.body == data
        assert answer.headers["Content-Disposition"].startswith("attachment")
    button = http("GET", f"{url}?dl=1", headers=BROWSER)
    assert button.status == 200 and button.body == data
    resumed = http("GET", url, headers={**BROWSER, "Range": "bytes=1000-"})
    assert resumed.status == 206 and resumed.body == data[1000:]
    assert http("HEAD", url, headers=CURL).headers["Content-Length"] == str(len(data))
    assert cluster.file_info(result["id"])["downloads"] == 4  # the page views took none


def test_a_one_time_link_survives_page_views_and_a_preview_bot(cluster: Cluster) -> None:
    data = b"one time only\n" * 1000
    result = cluster.upload(data, name="secret.txt", max_downloads="1")
    url = result["url"]
    for _ in range(3):
        assert is_page(http("GET", url, headers=BROWSER))
    bot = http("GET", url, headers=SLACKBOT)
    assert bot.status == 200 and is_page(bot)
    assert is_page(http("GET", f"{url}?dl=1", headers=SLACKBOT))  # not even the button
    assert cluster.file_info(result["id"])["downloads"] == 0
    got = http("GET", f"{url}?dl=1", headers=BROWSER)
    assert got.status == 200 and got.body == data
    gone = http("GET", url, headers=BROWSER)
    assert gone.status == 410 and is_page(gone)
    assert "no longer works" in gone.body.decode()
    script = http("GET", url, headers=CURL)
    assert script.status == 410 and "maximum number of downloads" in script.json()["error"]


def test_errors_are_pages_for_browsers_and_json_for_scripts(cluster: Cluster) -> None:
    unknown = f"{cluster.url}/download/{'A' * 24}"
    page = http("GET", unknown, headers=BROWSER)
    assert page.status == 404 and is_page(page) and "No such file" in page.body.decode()
    script = http("GET", unknown, headers=CURL)
    assert script.status == 404 and "no file with id" in script.json()["error"]
    nowhere = http("GET", f"{cluster.url}/no/such/page", headers=BROWSER)
    assert nowhere.status == 404 and is_page(nowhere)
    result = cluster.upload(b"to be deleted", name="old.txt")
    wrong = result["delete_url"].rsplit("/", 1)[0] + "/" + "x" * 32
    forbidden = http("POST", wrong, headers=BROWSER)
    assert forbidden.status == 403 and is_page(forbidden)
    assert http("DELETE", wrong, headers=CURL).json()["error"] == "wrong delete token"


def test_the_delete_link_in_a_browser_asks_before_it_deletes(cluster: Cluster) -> None:
    result = cluster.upload(b"keep me until I say", name="draft.txt")
    confirm = http("GET", result["delete_url"], headers=BROWSER)
    assert confirm.status == 200 and is_page(confirm)
    text = confirm.body.decode()
    assert "draft.txt" in text and 'method="post"' in text
    assert http("GET", result["url"], headers=CURL).status == 200  # nothing deleted
    done = http("POST", result["delete_url"], headers=BROWSER)
    assert done.status == 200 and "File deleted" in done.body.decode()
    gone = http("GET", result["url"], headers=BROWSER)
    assert gone.status == 410 and is_page(gone)
    assert http("GET", result["delete_url"], headers=BROWSER).status == 410


def test_every_bad_option_names_itself(cluster: Cluster) -> None:
    for query, field in [
        ("expires=abc", "expires"),
        ("expires=-5s", "expires"),
        ("expires=10x", "expires"),
        ("expires=400d", "expires"),
        ("max_downloads=x", "max_downloads"),
        ("max_downloads=0", "max_downloads"),
    ]:
        answer = http("POST", f"{cluster.url}/upload?name=a&{query}", b"data", CURL)
        assert answer.status == 400, (query, answer.status)
        assert answer.json()["error"].startswith(f"{field}: "), (query, answer.json())
    body, content_type = multipart([("bundle", "maybe")], [("a.txt", b"a")])
    answer = http("POST", f"{cluster.url}/upload", body, {"Content-Type": content_type})
    assert answer.status == 400 and answer.json()["error"].startswith("bundle: ")
    file_id = cluster.upload(b"x")["id"]
    answer = http("GET", f"{cluster.url}/download/{file_id}?dl=perhaps", headers=CURL)
    assert answer.status == 400 and answer.json()["error"].startswith("dl: ")
    assert cluster.file_info(file_id)["downloads"] == 0


def test_a_bundle_is_one_link_one_zip_and_each_file(cluster: Cluster) -> None:
    files = [
        ("empty.txt", b""),
        ("Grüße – 日本語.txt", "ünïcödé\n".encode() * 100),
        ("data.bin", os.urandom(3 * 1024 * 1024 + 17)),
    ]
    result = upload_bundle(cluster, files, expires="1h", max_downloads="10", name="holiday")
    assert result["name"] == "holiday.zip"
    assert [(f["name"], f["size"], f["sha256"]) for f in result["files"]] == [
        (name, len(data), hashlib.sha256(data).hexdigest()) for name, data in files
    ]
    url = result["url"]
    page = http("GET", url, headers=BROWSER)
    assert page.status == 200 and is_page(page)
    assert all(f"/download/{result['id']}/{n}?dl=1" in page.body.decode() for n in range(3))
    whole = http("GET", url, headers=CURL)
    assert whole.status == 200 and whole.headers["Content-Type"] == "application/zip"
    assert int(whole.headers["Content-Length"]) == len(whole.body)
    with zipfile.ZipFile(io.BytesIO(whole.body)) as zf:
        assert zf.testzip() is None
        assert [(i.filename, i.compress_type) for i in zf.infolist()] == [
            (name, zipfile.ZIP_STORED) for name, _ in files
        ]
        assert all(zf.read(name) == data for name, data in files)
    for n, (_name, data) in enumerate(files):
        member = http("GET", f"{url}/{n}", headers=CURL)
        assert member.status == 200 and member.body == data
        assert "UTF-8''" in member.headers["Content-Disposition"]
    assert http("GET", f"{url}/3", headers=CURL).status == 404
    # A download cut after 1 MiB resumes with a range, and the pieces are the same zip.
    etag = whole.headers["ETag"]
    cut = 1024 * 1024 + 5
    first = http("GET", url, headers={**CURL, "Range": f"bytes=0-{cut - 1}"})
    rest = http("GET", url, headers={**CURL, "Range": f"bytes={cut}-", "If-Range": etag})
    assert (first.status, rest.status) == (206, 206) and first.headers["ETag"] == etag
    assert first.body + rest.body == whole.body
    stale = http("GET", url, headers={**CURL, "Range": "bytes=10-", "If-Range": '"other"'})
    assert stale.status == 200 and stale.body == whole.body
    # One record: the zip and the files counted against one limit, one delete link.
    info = cluster.file_info(result["id"])
    assert info["downloads"] == 6 and info["max_downloads"] == 10  # zip, 3 files, 2 from 0
    assert http("DELETE", result["delete_url"], headers=CURL).status == 200
    assert http("GET", url, headers=CURL).status == 410
    assert http("GET", f"{url}/1", headers=CURL).status == 410


def test_filefleet_share_bundle_makes_one_link_for_all(cluster: Cluster, tmp_path: Path) -> None:
    files = {"a.txt": b"first\n", "empty": b"", "Ünïcode name.bin": os.urandom(200_000)}
    paths = []
    for name, data in files.items():
        path = tmp_path / name
        path.write_bytes(data)
        paths.append(str(path))
    env = {"FILEFLEET_SERVER": cluster.url, "FILEFLEET_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run(
        [*FILEFLEET, "share", *paths, "--bundle", "--json", "--max-downloads", "2"],
        env={**os.environ, **env}, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert result["name"] == "files.zip"
    assert [f["name"] for f in result["files"]] == list(files)
    whole = http("GET", result["url"], headers=CURL)
    with zipfile.ZipFile(io.BytesIO(whole.body)) as zf:
        assert {n: zf.read(n) for n in zf.namelist()} == files
    assert cluster.file_info(result["id"])["max_downloads"] == 2
