"""A real `filefleet node` process, started through the CLI, talked to over HTTP.

Its controller URL points at a port nothing listens on: the node must serve anyway.
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from filefleet.runtime.ports import free_port
from tests.harness.processes import Process, ProcessGroup, wait_for

SECRET = "s"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict[str, object]:
        value = json.loads(self.body)
        assert isinstance(value, dict)
        return value


def call(method: str, url: str, data: bytes | None = None, secret: str | None = SECRET) -> Answer:
    request = urllib.request.Request(url, data=data, method=method)
    if secret is not None:
        request.add_header("Authorization", f"Bearer {secret}")
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return Answer(resp.status, dict(resp.headers), resp.read())
    except urllib.error.HTTPError as err:
        return Answer(err.code, dict(err.headers), err.read())


def cid(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def start_node(procs: ProcessGroup, data: Path, *extra: str, name: str = "node") -> Process:
    port = free_port()
    nobody = f"http://127.0.0.1:{free_port()}"
    args = ["node", "--data", str(data), "--port", str(port), "--controller", nobody]
    args += ["--secret", SECRET, "--ping-interval", "200ms", *extra]
    return procs.spawn(name, args, url=f"http://127.0.0.1:{port}").wait_healthy()


@pytest.fixture
def node(procs: ProcessGroup, tmp_path: Path) -> Process:
    return start_node(procs, tmp_path / "data", "--max-chunk", "1MiB")


def test_store_fetch_head_list_delete(node: Process, tmp_path: Path) -> None:
    data = os.urandom(1024 * 1024)
    chunk = cid(data)
    stored = call("POST", f"{node.url}/chunk?hash={chunk}", data)
    assert stored.status == 201
    assert stored.json() == {"id": chunk, "size": len(data), "created": True}
    assert call("POST", f"{node.url}/chunk?hash={chunk}", data).status == 200
    assert (tmp_path / "data" / "chunks" / chunk[:2] / chunk).read_bytes() == data

    fetched = call("GET", f"{node.url}/chunk/{chunk}")
    assert fetched.status == 200 and fetched.body == data
    head = call("HEAD", f"{node.url}/chunk/{chunk}")
    assert head.status == 200 and head.headers["Content-Length"] == str(len(data))

    listing = call("GET", f"{node.url}/chunks?limit=10")
    assert listing.json() == {"chunks": [chunk], "next": None}

    assert call("DELETE", f"{node.url}/chunk/{chunk}?grace=1h").status == 409
    assert call("DELETE", f"{node.url}/chunk/{chunk}?grace=0").status == 200
    assert call("DELETE", f"{node.url}/chunk/{chunk}?grace=0").status == 200  # idempotent
    assert call("GET", f"{node.url}/chunk/{chunk}").status == 404
    assert call("HEAD", f"{node.url}/chunk/{chunk}").status == 404
    assert node.alive()  # the failing pings never stopped it


def test_bad_requests_change_nothing(node: Process, tmp_path: Path) -> None:
    mismatch = call("POST", f"{node.url}/chunk?hash={cid(b'a')}", b"b")
    assert mismatch.status == 400 and "error" in mismatch.json()
    big = os.urandom(1024 * 1024 + 1)
    assert call("POST", f"{node.url}/chunk?hash={cid(big)}", big).status == 413
    assert call("GET", f"{node.url}/chunk/{'0' * 64}").status == 404
    assert call("GET", f"{node.url}/chunk/..%2Fnode-id").status == 400
    assert call("GET", f"{node.url}/chunk/{'A' * 64}").status == 400
    assert call("GET", f"{node.url}/chunks", secret=None).status == 401
    assert call("GET", f"{node.url}/chunks", secret="wrong").status == 401
    assert call("POST", f"{node.url}/chunk?hash={cid(b'x')}", b"x", secret=None).status == 401
    assert call("GET", f"{node.url}/chunks").json() == {"chunks": [], "next": None}
    assert list((tmp_path / "data" / "tmp").iterdir()) == []


def test_node_id_and_chunks_survive_restart(procs: ProcessGroup, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = start_node(procs, data_dir, name="node-1")
    node_id = call("GET", f"{first.url}/healthz").json()["id"]
    assert (data_dir / "node-id").read_text().strip() == node_id
    blob = os.urandom(5000)
    assert call("POST", f"{first.url}/chunk?hash={cid(blob)}", blob).status == 201
    assert first.stop() == 0

    second = start_node(procs, data_dir, name="node-2")
    assert call("GET", f"{second.url}/healthz").json()["id"] == node_id
    assert call("GET", f"{second.url}/chunk/{cid(blob)}").body == blob
    stats = call("GET", f"{second.url}/stats").json()
    assert stats["id"] == node_id and stats["chunks"] == 1 and stats["bytes"] == 5000


def test_scrub_quarantines_rot_in_a_running_node(procs: ProcessGroup, tmp_path: Path) -> None:
    node = start_node(procs, tmp_path / "data", "--scrub-rate", "64")
    blob = os.urandom(10_000)
    assert call("POST", f"{node.url}/chunk?hash={cid(blob)}", blob).status == 201
    path = tmp_path / "data" / "chunks" / cid(blob)[:2] / cid(blob)
    path.write_bytes(b"rotten" + blob[6:])  # same size, wrong bytes
    wait_for(
        lambda: (tmp_path / "data" / "quarantine" / cid(blob)).exists(),
        timeout=15,
        what="the scrubber to quarantine the rotten chunk",
    )
    assert call("GET", f"{node.url}/chunk/{cid(blob)}").status == 404
    stats = call("GET", f"{node.url}/stats").json()
    scrub = stats["scrub"]
    assert isinstance(scrub, dict) and scrub["corrupt"] == 1
    assert stats["quarantined"] == 1 and stats["chunks"] == 0


def test_second_node_on_the_same_data_dir_refuses(procs: ProcessGroup, tmp_path: Path) -> None:
    start_node(procs, tmp_path / "data", name="node-1")
    port = free_port()
    args = ["node", "--data", str(tmp_path / "data"), "--port", str(port), "--secret", SECRET]
    second = procs.spawn("node-2", args)
    assert second.popen is not None
    assert second.popen.wait(20) == 2
    assert "in use by another running node" in second.log_path.read_text()
