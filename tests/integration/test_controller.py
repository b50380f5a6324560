"""The controller as a real process started through the CLI, talked to over HTTP."""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from filefleet.runtime.ports import free_port
from tests.harness.processes import Process, ProcessGroup, wait_for

SECRET = "s3cret"
FILE_ID = "integration-file-0001"
NODE = "0123456789abcdef0123456789abcdef"


class Api:
    def __init__(self, url: str, secret: str | None = SECRET) -> None:
        self.url = url
        self.secret = secret

    def call(self, method: str, path: str, body: Any = None, raw: bytes | None = None) -> Any:
        """(status, decoded JSON body) of one request."""
        data = raw if raw is not None else None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if self.secret:
            request.add_header("Authorization", f"Bearer {self.secret}")
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read())


def start_controller(procs: ProcessGroup, tmp_path: Path, *extra: str) -> Process:
    port = free_port()
    args = ["controller", "--port", str(port), "--db", f"sqlite:///{tmp_path}/meta.db"]
    return procs.spawn(
        "controller", [*args, "--secret", SECRET, *extra], url=f"http://127.0.0.1:{port}"
    ).wait_healthy()


@pytest.fixture
def api(procs: ProcessGroup, tmp_path: Path) -> Api:
    proc = start_controller(procs, tmp_path, "--node-ttl", "1s")
    assert proc.url is not None
    return Api(proc.url)


def file_record(**overrides: Any) -> dict[str, Any]:
    return {
        "id": FILE_ID,
        "name": "report.pdf",
        "content_type": "application/pdf",
        "expires_at": "2099-01-01T00:00:00Z",
        "max_downloads": 2,
        "delete_token_sha256": "ab" * 32,
        **overrides,
    }


def test_upload_life_cycle(api: Api) -> None:
    assert api.call("POST", "/file", file_record())[0] == 201
    status, again = api.call("POST", "/file", file_record())
    assert status == 200 and again["state"] == "uploading"
    assert api.call("POST", "/file", file_record(name="other"))[0] == 409

    parts = [b"hello ", b"world"]
    chunks = [
        {"id": hashlib.sha256(p).hexdigest(), "order": i, "size": len(p), "locations": [NODE]}
        for i, p in enumerate(parts)
    ]
    status, info = api.call("POST", f"/file/{FILE_ID}", {"chunks": chunks[1:]})
    assert status == 200 and info["chunk_count"] == 1 and "chunks" not in info
    sha = hashlib.sha256(b"".join(parts)).hexdigest()
    finish = {"state": "active", "size": 11, "sha256": sha}
    status, error = api.call("POST", f"/file/{FILE_ID}", finish)
    assert status == 400 and "contiguous" in error["error"]
    api.call("POST", f"/file/{FILE_ID}", {"chunks": chunks[:1]})
    assert api.call("POST", f"/file/{FILE_ID}", finish)[0] == 200

    status, info = api.call("GET", f"/file/{FILE_ID}")
    assert status == 200
    assert set(info) == {
        "id", "name", "size", "sha256", "content_type", "uploaded_at", "expires_at",
        "state", "max_downloads", "downloads", "chunks",
    }  # fmt: skip
    assert (info["state"], info["size"], info["sha256"]) == ("active", 11, sha)
    assert info["chunks"] == chunks and info["expires_at"] == "2099-01-01T00:00:00Z"

    assert [api.call("POST", f"/file/{FILE_ID}/download")[0] for _ in range(3)] == [200, 200, 410]
    status, page = api.call("GET", "/files?state=active&limit=10")
    assert status == 200 and [f["id"] for f in page["files"]] == [FILE_ID] and page["next"] is None


def test_secret_is_required_before_input_is_read(api: Api) -> None:
    anonymous = Api(api.url, secret=None)
    for method, path in (("POST", "/file"), ("GET", f"/file/{FILE_ID}"), ("GET", "/nodes")):
        status, body = anonymous.call(method, path, raw=b"not json")
        assert status == 401 and "secret" in body["error"]
    assert Api(api.url, secret="wrong").call("GET", "/active-nodes")[0] == 401


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/file/..%2F..%2Fetc", None),
        ("GET", "/file/short", None),
        ("POST", "/file/bad%20id%20with%20spaces", {"chunks": []}),
        ("DELETE", f"/chunk/{'A' * 64}/locations/{NODE}", None),
        ("DELETE", f"/chunk/{'a' * 64}/locations/not-a-node", None),
        ("POST", "/file", {"id": FILE_ID}),
        ("POST", "/file", {**file_record(), "surprise": 1}),
        ("POST", "/ping", {"id": NODE, "url": "http://n", "capacity": -1, "free": 0, "chunks": 0}),
        ("POST", f"/chunk/{'a' * 64}/locations", {"node": "x"}),
        ("GET", "/files?limit=0", None),
        ("GET", "/files?state=lost", None),
        ("GET", "/files?colour=red", None),
        ("GET", "/chunks/under-replicated?limit=many", None),
    ],
)
def test_bad_input_is_400_with_a_message(api: Api, method: str, path: str, body: Any) -> None:
    status, answer = api.call(method, path, body)
    assert status == 400, answer
    assert isinstance(answer["error"], str) and answer["error"]


def test_body_that_is_not_json_is_400(api: Api) -> None:
    status, answer = api.call("POST", "/file", raw=b"{nope")
    assert status == 400 and "JSON" in answer["error"]


def test_unknown_ids_are_404(api: Api) -> None:
    assert api.call("GET", f"/file/{FILE_ID}")[0] == 404
    assert api.call("POST", f"/file/{FILE_ID}", {"chunks": []})[0] == 404
    assert api.call("POST", f"/file/{FILE_ID}/download")[0] == 404
    assert api.call("GET", f"/chunk/{'a' * 64}")[0] == 404
    assert api.call("POST", f"/chunk/{'a' * 64}/locations", {"node": NODE})[0] == 404


def test_ping_active_nodes_and_ttl_expiry(api: Api) -> None:
    ping = {"id": NODE, "url": "http://127.0.0.1:1", "capacity": 100, "free": 60, "chunks": 3}
    status, node = api.call("POST", "/ping", ping)
    assert status == 200 and node["id"] == NODE
    status, active = api.call("GET", "/active-nodes")
    assert status == 200 and [n["id"] for n in active] == [NODE]
    # The seed's fields, and beyond them the name and filesystem a node may report and
    # whether an operator drains it (null and false for a node that reports neither).
    seed = {"id", "url", "last_ping", "capacity", "free", "chunks"}
    assert set(active[0]) == seed | {"name", "filesystem", "draining"}
    assert (active[0]["name"], active[0]["filesystem"], active[0]["draining"]) == (
        None,
        None,
        False,
    )
    assert active[0]["last_ping"].endswith("Z")
    wait_for(lambda: api.call("GET", "/active-nodes")[1] == [], timeout=10, what="node expiry")
    status, nodes = api.call("GET", "/nodes")
    assert status == 200 and [(n["id"], n["active"]) for n in nodes] == [(NODE, False)]
    api.call("POST", "/ping", ping)
    assert [n["id"] for n in api.call("GET", "/active-nodes")[1]] == [NODE]


def test_drain_and_forget_a_node(api: Api) -> None:
    other = "f" * 32
    for node, name in ((NODE, "disk-1"), (other, "disk-2")):
        ping = {"id": node, "url": "http://127.0.0.1:1", "capacity": 100, "free": 60,
                "chunks": 0, "name": name, "filesystem": "m/801"}  # fmt: skip
        assert api.call("POST", "/ping", ping)[0] == 200
    # R=2 and one other node: a drain could never finish, so it needs force.
    status, refused = api.call("POST", f"/nodes/{NODE}/drain", {})
    assert status == 409 and "could not finish" in refused["error"]
    status, report = api.call("POST", f"/nodes/{NODE}/drain", {"force": True})
    assert status == 200 and report["draining"] and report["name"] == "disk-1"
    assert (report["listed"], report["waiting"]) == (0, 0)
    draining = {n["id"]: n["draining"] for n in api.call("GET", "/active-nodes")[1]}
    assert draining == {NODE: True, other: False}  # still listed: it serves reads
    assert api.call("POST", f"/nodes/{NODE}/drain", {"draining": False})[1]["draining"] is False
    # Forgetting an active node needs force.
    status, refused = api.call("DELETE", f"/nodes/{NODE}")
    assert status == 409 and "disk-1 is active" in refused["error"]
    status, gone = api.call("DELETE", f"/nodes/{NODE}?force=true")
    assert status == 200 and gone == {"id": NODE, "forgotten": True, "locations": 0,
                                       "unlocated": 0}  # fmt: skip
    assert [n["id"] for n in api.call("GET", "/nodes")[1]] == [other]
    assert api.call("GET", f"/nodes/{NODE}")[0] == 404
    assert api.call("DELETE", f"/nodes/{NODE}?force=true")[0] == 404
    assert api.call("POST", f"/nodes/{NODE}/drain", {})[0] == 404
    assert api.call("DELETE", "/nodes/not-a-node")[0] == 400
    assert api.call("DELETE", f"/nodes/{other}?force=perhaps")[0] == 400
    assert api.call("POST", f"/nodes/{other}/drain", {"drain": True})[0] == 400
    assert Api(api.url, secret=None).call("DELETE", f"/nodes/{other}?force=true")[0] == 401


def test_locations_and_under_replicated_chunks(api: Api) -> None:
    api.call("POST", "/file", file_record())
    chunk = hashlib.sha256(b"x").hexdigest()
    api.call("POST", f"/file/{FILE_ID}", {"chunks": [{"id": chunk, "order": 0, "size": 1}]})
    status, below = api.call("GET", "/chunks/under-replicated?limit=5")
    assert status == 200 and [(c["id"], c["live"]) for c in below["chunks"]] == [(chunk, 0)]
    status, info = api.call("POST", f"/chunk/{chunk}/locations", {"node": NODE})
    assert status == 200 and info["locations"] == [NODE]
    status, info = api.call("DELETE", f"/chunk/{chunk}/locations/{NODE}")
    assert status == 200 and info["locations"] == []


def test_migrated_database_survives_a_restart(procs: ProcessGroup, tmp_path: Path) -> None:
    first = start_controller(procs, tmp_path)
    assert first.url is not None
    assert Api(first.url).call("POST", "/file", file_record())[0] == 201
    assert first.stop() == 0
    second = start_controller(procs, tmp_path)
    assert second.url is not None
    assert Api(second.url).call("GET", f"/file/{FILE_ID}")[0] == 200
