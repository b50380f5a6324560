"""What every benchmark's client does: make a file of fresh random bytes, and send or
fetch one with curl, timed from the moment curl starts until it exits.

curl sends a file as ``curl -T`` does (its Content-Length, not chunked) and reads a
download to /dev/null; it runs outside the benchmark's process, so the client's work is
neither a Python event loop's nor counted as any server's CPU. ``Expect: 100-continue``
is turned off: a server that does not answer it would cost every upload curl's 1 s wait.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

PIECE = 4 * 1024 * 1024

# Appended to the response body on stdout: the status and the bytes received.
WRITE_OUT = "\n%{http_code} %{size_download}"


def make_file(path: Path, size: int) -> str:
    """Write ``size`` fresh random bytes to ``path``; their SHA-256 in hex."""
    digest = hashlib.sha256()
    with path.open("wb") as out:
        left = size
        while left:
            block = os.urandom(min(PIECE, left))
            digest.update(block)
            out.write(block)
            left -= len(block)
        out.flush()
        os.fsync(out.fileno())  # on disk now: its writeback must not compete with the runs
    return digest.hexdigest()


@dataclass(frozen=True)
class Transfer:
    """One curl run: the answer's status and body, and when it ran (``time.perf_counter``)."""

    status: int
    body: bytes  # the response body of an upload; empty for a download
    received: int  # bytes of the response body
    started: float
    seconds: float  # from curl's start until it exited


def curl_command(
    url: str,
    *,
    upload: Path | None = None,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
) -> list[str]:
    """The curl command line: an upload's body comes from ``upload`` and its answer goes to
    stdout; a download's body goes to /dev/null."""
    command = ["curl", "--silent", "--show-error", "--request", method, "--write-out", WRITE_OUT]
    for name, value in {"Expect": "", **(headers or {})}.items():
        command += ["--header", f"{name}: {value}" if value else f"{name}:"]
    if upload is not None:
        command += ["--upload-file", str(upload), "--output", "-"]
    else:
        command += ["--output", "/dev/null"]
    return [*command, url]


def parse_write_out(stdout: bytes) -> tuple[bytes, int, int]:
    """Split curl's stdout into the response body, the status and the bytes received."""
    body, _, tail = stdout.rpartition(b"\n")
    status, received = tail.split()
    return body, int(status), int(received)


def curl(
    url: str,
    *,
    upload: Path | None = None,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
) -> Transfer:
    command = curl_command(url, upload=upload, method=method, headers=headers)
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"curl {method} {url}: {done.stderr.decode(errors='replace')}")
    body, status, received = parse_write_out(done.stdout)
    return Transfer(status, body, received, started, seconds)
