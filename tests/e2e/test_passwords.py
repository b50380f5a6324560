"""Password links on a real cluster: the password given at upload (query, form field,
chunk API, bundle, CLI), asked for at download (X-Password, HTTP Basic, the page's
form), wrong tries limited per file, and kept nowhere in plain."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import pty
import select
import signal
import sys
import time
import urllib.parse
import zipfile
from pathlib import Path
from typing import Any

from tests.e2e.test_resumable import cli
from tests.harness.cluster import Cluster, HttpAnswer, http

PASSWORD = "Tr0ub4dor & 3 – ünïcode"  # the test looks for it in every log and database
BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8", "User-Agent": "Mozilla/5.0"}


def basic(password: str, user: str = "") -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def multipart(fields: list[tuple[str, str | bytes]]) -> tuple[bytes, str]:
    """A multipart/form-data body with ``fields`` in order (bytes: a file part)."""
    boundary = "filefleet-test-boundary"
    out = io.BytesIO()
    for name, value in fields:
        out.write(f"--{boundary}\r\n".encode())
        if isinstance(value, bytes):
            out.write(
                f'Content-Disposition: form-data; name="{name}"; filename="{name}-{len(value)}.bin"'
                "\r\nContent-Type: application/octet-stream\r\n\r\n".encode()
            )
            out.write(value)
        else:
            out.write(f'Content-Disposition: form-data; name="{name}"\r\n\r\n{value}'.encode())
        out.write(b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


def upload_form(cluster: Cluster, fields: list[tuple[str, str | bytes]]) -> dict[str, Any]:
    body, content_type = multipart(fields)
    headers = {"Content-Type": content_type, "Accept": "application/json"}
    answer = http("POST", f"{cluster.url}/upload", body, headers)
    assert answer.status == 201, answer.body
    result: dict[str, Any] = answer.json()
    return result


def error_of(answer: HttpAnswer) -> dict[str, Any]:
    assert answer.headers.get("Content-Type", "").startswith("application/json"), answer
    body: dict[str, Any] = answer.json()
    return body


def test_a_password_set_at_upload_is_needed_to_download(cluster: Cluster) -> None:
    data = os.urandom(9 * 1024 * 1024 + 17)  # three chunks
    file_id = cluster.upload(data, name="secret.bin", password=PASSWORD)["id"]
    url = f"{cluster.url}/download/{file_id}"
    assert cluster.file_info(file_id)["protected"] is True
    assert "protected" not in cluster.file_info(cluster.upload(b"open")["id"])

    missing = http("GET", url)
    assert missing.status == 401 and error_of(missing)["code"] == "password_needed"
    assert missing.headers["WWW-Authenticate"].startswith('Basic realm="filefleet"')
    wrong = http("GET", url, headers={"X-Password": "guess"})
    assert wrong.status == 401 and error_of(wrong)["code"] == "password_wrong"
    assert "WWW-Authenticate" not in wrong.headers

    right = http("GET", url, headers=basic(PASSWORD, user="anyone"))
    assert right.status == 200 and right.body == data
    assert http("GET", url, headers=basic(PASSWORD)).body == data
    ascii_only = cluster.upload(b"plain header", password="plain-ascii-password")["id"]
    by_header = http("GET", f"{cluster.url}/download/{ascii_only}",
                     headers={"X-Password": "plain-ascii-password"})  # fmt: skip
    assert by_header.status == 200 and by_header.body == b"plain header"
    ranged = http("GET", url, headers={"Range": "bytes=5000000-5000099", **basic(PASSWORD)})
    assert ranged.status == 206 and ranged.body == data[5000000:5000100]
    assert http("GET", url, headers={"Range": "bytes=0-9"}).status == 401
    assert http("HEAD", url).status == 401
    head = http("HEAD", url, headers=basic(PASSWORD))
    assert head.status == 200 and head.headers["Content-Length"] == str(len(data))


def test_a_browser_gets_the_password_page_never_a_native_dialog(cluster: Cluster) -> None:
    data = b"for your eyes only"
    file_id = cluster.upload(data, name="plans.txt", password=PASSWORD)["id"]
    url = f"{cluster.url}/download/{file_id}"
    page = http("GET", url, headers=BROWSER)
    text = page.body.decode()
    assert page.status == 200 and 'id="password-form"' in text
    assert "plans.txt" not in text and "WWW-Authenticate" not in page.headers
    direct = http("GET", url + "?dl=1", headers=BROWSER)
    assert direct.status == 401 and 'id="password-form"' in direct.body.decode()
    assert "WWW-Authenticate" not in direct.headers
    form = {**BROWSER, "Content-Type": "application/x-www-form-urlencoded"}
    wrong = http("POST", url, urllib.parse.urlencode({"password": "nope"}).encode(), form)
    assert wrong.status == 401 and "not the password" in wrong.body.decode()
    right = http("POST", url, urllib.parse.urlencode({"password": PASSWORD}).encode(), form)
    assert right.status == 200 and right.body == data
    assert "plans.txt" in right.headers["Content-Disposition"]


def test_ten_wrong_tries_a_minute_then_429_and_a_refused_try_takes_no_download(
    cluster: Cluster,
) -> None:
    data = b"one download only"
    file_id = cluster.upload(data, max_downloads="1", password=PASSWORD)["id"]
    url = f"{cluster.url}/download/{file_id}"
    assert http("GET", url).status == 401
    assert http("HEAD", url, headers={"X-Password": "guess"}).status == 401
    for n in range(8):  # with the HEAD: nine wrong tries
        assert http("GET", url, headers=basic(f"guess {n}")).status == 401
    assert cluster.file_info(file_id)["downloads"] == 0  # no refused try took the download
    # Right passwords do not count: the file opens as long as the limit is not reached.
    assert http("HEAD", url, headers=basic(PASSWORD)).status == 200
    assert http("GET", url, headers={"Range": "bytes=1-2", **basic(PASSWORD)}).status == 206
    assert http("GET", url, headers=basic("guess 9")).status == 401  # the tenth
    limited = http("GET", url, headers=basic("guess 10"))
    assert limited.status == 429 and error_of(limited)["code"] == "too_many_tries"
    assert 50 <= int(limited.headers["Retry-After"]) <= 60
    assert error_of(limited)["retry_after"] == int(limited.headers["Retry-After"])
    # Within the minute even the right password is refused, and takes nothing.
    assert http("GET", url, headers=basic(PASSWORD)).status == 429
    page = http("GET", url + "?dl=1", headers={**BROWSER, **basic(PASSWORD)})
    assert page.status == 429 and "Too many wrong passwords" in page.body.decode()
    assert cluster.file_info(file_id)["downloads"] == 0
    assert cluster.frontend_stats()["download"]["passwords_refused"] == 14
    # The limit is per file: another protected file opens at once.
    other = cluster.upload(b"other", password=PASSWORD)["id"]
    assert http("GET", f"{cluster.url}/download/{other}", headers=basic(PASSWORD)).body == b"other"


def test_form_field_chunk_api_and_bundle_honour_the_password(cluster: Cluster) -> None:
    data = os.urandom(5000)
    # A form field before the file; a password field after it is refused like any option.
    file_id = upload_form(cluster, [("password", PASSWORD), ("file", data)])["id"]
    url = f"{cluster.url}/download/{file_id}"
    assert http("GET", url).status == 401
    assert http("GET", url, headers=basic(PASSWORD)).body == data
    body, content_type = multipart([("file", data), ("password", PASSWORD)])
    late = http("POST", f"{cluster.url}/upload", body, {"Content-Type": content_type})
    assert late.status == 400 and "comes after the file" in error_of(late)["error"]

    # The chunk API takes it when the upload is created.
    created = http("POST", f"{cluster.url}/uploads",
                   json.dumps({"name": "c.bin", "size": len(data), "password": PASSWORD}).encode(),
                   {"Content-Type": "application/json"}).json()  # fmt: skip
    sha = hashlib.sha256(data).hexdigest()
    put = http("PUT", f"{cluster.url}/uploads/{created['id']}/chunks/0?sha256={sha}", data)
    assert put.status == 201, put.body
    done = http("POST", f"{cluster.url}/uploads/{created['id']}/complete",
                json.dumps({"delete_token": created["delete_token"]}).encode(),
                {"Content-Type": "application/json", "Accept": "application/json"})  # fmt: skip
    assert done.status == 201, done.body
    chunk_link = f"{cluster.url}/download/{created['id']}"
    assert http("GET", chunk_link).status == 401
    assert http("GET", chunk_link, headers=basic(PASSWORD)).body == data

    # A bundle: the zip and each of its files.
    bundle = upload_form(
        cluster, [("bundle", "1"), ("password", PASSWORD), ("file", b"a" * 10), ("file", b"b")]
    )
    zip_url = f"{cluster.url}/download/{bundle['id']}"
    assert http("GET", zip_url).status == 401 and http("GET", zip_url + "/1").status == 401
    archive = zipfile.ZipFile(io.BytesIO(http("GET", zip_url, headers=basic(PASSWORD)).body))
    assert [archive.read(n) for n in archive.namelist()] == [b"a" * 10, b"b"]
    assert http("GET", zip_url + "/1", headers=basic(PASSWORD)).body == b"b"
    assert http("GET", zip_url + "/7").status == 401  # how many files: not before the password
    assert http("GET", zip_url + "/7", headers=basic(PASSWORD)).status == 404

    # Bad input is a 400 naming the field, and creates nothing.
    too_long = http("POST", f"{cluster.url}/upload?password={'x' * 1025}", b"data")
    assert too_long.status == 400 and error_of(too_long)["error"].startswith("password:")


def test_the_cli_shares_and_gets_protected_links(cluster: Cluster, tmp_path: Path) -> None:
    path = tmp_path / "report.pdf"
    data = os.urandom(4 * 1024 * 1024 + 3)
    path.write_bytes(data)
    env = {"FILEFLEET_SERVER": cluster.url, "FILEFLEET_CACHE_DIR": str(tmp_path / "cache")}
    secret = {**env, "FILEFLEET_PASSWORD": PASSWORD}
    shared = cli("share", str(path), "--json", env=secret)
    assert shared.returncode == 0, shared.stderr
    link = json.loads(shared.stdout)["url"]
    assert http("GET", link).status == 401

    refused = cli("get", link, "-o", str(tmp_path / "nothing.pdf"), env=env)
    assert refused.returncode == 1 and "needs a password" in refused.stderr
    assert "FILEFLEET_PASSWORD" in refused.stderr and "Traceback" not in refused.stderr
    wrong = cli("get", link, "-o", str(tmp_path / "nothing.pdf"),
                env={**env, "FILEFLEET_PASSWORD": "guess"})  # fmt: skip
    assert wrong.returncode == 1 and "wrong password" in wrong.stderr
    got = cli("get", link, "-o", str(tmp_path / "got.pdf"), env=secret)
    assert got.returncode == 0, got.stderr
    assert (tmp_path / "got.pdf").read_bytes() == data

    # --password asks on a terminal; without one (and without the variable) it says so.
    no_tty = cli("share", str(path), "--password", env=env)
    assert no_tty.returncode == 2 and "FILEFLEET_PASSWORD" in no_tty.stderr
    assert "Traceback" not in no_tty.stderr

    bundled = cli("share", str(path), str(path), "--bundle", "--json", env=secret)
    assert bundled.returncode == 0, bundled.stderr
    zip_link = json.loads(bundled.stdout)["url"]
    assert http("GET", zip_link).status == 401
    assert http("GET", zip_link, headers=basic(PASSWORD)).status == 200


def test_the_password_is_in_no_log_and_no_database(cluster: Cluster, tmp_path: Path) -> None:
    file_id = cluster.upload(b"x" * 100, password=PASSWORD)["id"]
    url = f"{cluster.url}/download/{file_id}"
    assert http("GET", url, headers=basic(PASSWORD)).status == 200
    assert http("GET", url, headers={"X-Password": "wrong-" + PASSWORD[:4]}).status == 401
    form = {**BROWSER, "Content-Type": "application/x-www-form-urlencoded"}
    http("POST", url, urllib.parse.urlencode({"password": PASSWORD}).encode(), form)
    assert cluster.controller is not None
    cluster.controller.stop()  # its database closed: everything it wrote is on disk
    needles = [PASSWORD.encode(), urllib.parse.quote(PASSWORD).encode(),
               urllib.parse.quote_plus(PASSWORD).encode()]  # fmt: skip
    looked = 0
    for path in tmp_path.rglob("*"):
        if path.is_file() and "chunks" not in path.parts:
            content = path.read_bytes()
            looked += 1
            assert not any(n in content for n in needles), f"the password is in {path}"
    assert looked > 3
    db = b"".join(p.read_bytes() for p in tmp_path.glob("meta.db*"))
    assert b"scrypt$16384$8$1$" in db  # what is kept instead


def run_on_a_terminal(args: list[str], env: dict[str, str], typed: list[str]) -> tuple[int, str]:
    """Run ``filefleet ARGS`` with a terminal of its own (getpass reads /dev/tty), typing
    each of ``typed`` once a new prompt ending in ': ' shows; its exit code and what it
    wrote (killed after a minute)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: its controlling terminal is the pty
        os.execve(sys.executable, [sys.executable, "-m", "filefleet", *args], {**os.environ, **env})
    seen = b""
    answered = 0  # how much had been shown when the last answer was typed
    deadline = time.monotonic() + 60
    pending = list(typed)
    while True:
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            break
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                piece = os.read(fd, 4096)
            except OSError:  # the child ended: its side of the terminal is gone
                break
            if not piece:
                break
            seen += piece
            # A new prompt: type the next answer (getpass flushes what was typed before).
            if pending and seen[answered:].rstrip().endswith(b":"):
                os.write(fd, pending.pop(0).encode() + b"\n")
                answered = len(seen)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), seen.decode(errors="replace")


def test_get_asks_for_the_password_on_a_terminal(cluster: Cluster, tmp_path: Path) -> None:
    data = os.urandom(70_000)
    link = cluster.upload(data, name="asked.bin", password=PASSWORD)["url"]
    env = {"FILEFLEET_SERVER": cluster.url}
    target = tmp_path / "asked.bin"
    code, shown = run_on_a_terminal(["get", link, "-o", str(target)], env, [PASSWORD])
    assert code == 0, shown
    assert "This link needs a password" in shown and PASSWORD not in shown  # no echo
    assert target.read_bytes() == data
    code, shown = run_on_a_terminal(
        ["get", link, "-o", str(tmp_path / "again.bin"), "--password"], env, ["nope"]
    )
    assert code == 1 and "wrong password" in shown and "Traceback" not in shown

    # share --password asks twice; two different answers share nothing.
    path = tmp_path / "typed.bin"
    path.write_bytes(data)
    share_env = {**env, "FILEFLEET_CACHE_DIR": str(tmp_path / "cache")}
    code, shown = run_on_a_terminal(["share", str(path), "--password"], share_env, ["a", "b"])
    assert code == 2 and "differ" in shown
    code, shown = run_on_a_terminal(
        ["share", str(path), "--password", "--json"], share_env, [PASSWORD, PASSWORD]
    )
    assert code == 0, shown
    shared = json.loads(shown[shown.index("{") :])
    assert http("GET", shared["url"]).status == 401
    assert http("GET", shared["url"], headers=basic(PASSWORD)).body == data
