"""The client side of the benchmarks: fresh files and the curl command lines."""

from __future__ import annotations

import hashlib
from pathlib import Path

from bench.transfer import curl_command, make_file, parse_write_out


def test_make_file_writes_fresh_bytes_and_returns_their_hash(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    digest = make_file(one, 5 * 1024 * 1024 + 3)
    make_file(two, 5 * 1024 * 1024 + 3)
    assert one.stat().st_size == 5 * 1024 * 1024 + 3
    assert digest == hashlib.sha256(one.read_bytes()).hexdigest()
    assert one.read_bytes() != two.read_bytes()


def test_an_upload_sends_the_file_with_its_length_and_keeps_the_answer() -> None:
    command = curl_command(
        "http://127.0.0.1:1/v1/AUTH_test/bench/f",
        upload=Path("/tmp/f.bin"),
        method="PUT",
        headers={"X-Auth-Token": "tok"},
    )
    assert command[0] == "curl"
    assert command[command.index("--request") + 1] == "PUT"
    assert command[command.index("--upload-file") + 1] == "/tmp/f.bin"
    assert command[command.index("--output") + 1] == "-"
    headers = [command[i + 1] for i, arg in enumerate(command) if arg == "--header"]
    assert headers == ["Expect:", "X-Auth-Token: tok"]
    assert command[-1] == "http://127.0.0.1:1/v1/AUTH_test/bench/f"


def test_a_download_goes_to_dev_null() -> None:
    command = curl_command("http://127.0.0.1:1/download/abc")
    assert command[command.index("--output") + 1] == "/dev/null"
    assert "--upload-file" not in command
    assert command[command.index("--request") + 1] == "GET"


def test_write_out_is_split_from_the_body() -> None:
    assert parse_write_out(b'{"id": "x"}\n201 11') == (b'{"id": "x"}', 201, 11)
    assert parse_write_out(b"\n200 1073741824") == (b"", 200, 1073741824)
    assert parse_write_out(b"line\nline\n\n201 0") == (b"line\nline\n", 201, 0)
