"""The seed's data path on a real cluster: upload by every route, download identical."""

from __future__ import annotations

import hashlib
import http.client as http_client
import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from filefleet.core.placement import read_order
from tests.harness.cluster import Cluster, Node, http
from tests.harness.metrics import scrape
from tests.harness.processes import ProcessGroup, wait_for

MiB = 1024 * 1024
CHUNK = 4 * MiB


def multipart(
    fields: dict[str, str], filename: str, data: bytes, after: dict[str, str] | None = None
) -> tuple[bytes, str]:
    """A multipart/form-data body as a browser or ``curl -F`` sends it."""
    boundary = uuid.uuid4().hex

    def field(name: str, value: str) -> bytes:
        return (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        ).encode()

    parts = [field(name, value) for name, value in fields.items()]
    parts.append(
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + b"\r\n"
    )
    parts += [field(name, value) for name, value in (after or {}).items()]
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 50 * MiB + 12345])
def test_raw_round_trip_and_chunk_ids(cluster: Cluster, size: int) -> None:
    data = os.urandom(size)
    result = cluster.upload(data, name="data.bin")
    assert result["size"] == size
    assert result["url"] == f"{cluster.url}/download/{result['id']}"

    got = cluster.download(result["id"])
    assert got.status == 200
    assert got.body == data
    assert got.headers["ETag"] == f'"{hashlib.sha256(data).hexdigest()}"'
    assert got.headers["Content-Length"] == str(size)

    info = cluster.file_info(result["id"])
    slices = [data[i : i + CHUNK] for i in range(0, size, CHUNK)]
    assert [c["id"] for c in info["chunks"]] == [hashlib.sha256(s).hexdigest() for s in slices]
    assert [c["order"] for c in info["chunks"]] == list(range(len(slices)))
    on_disk = set().union(*(n.chunk_ids() for n in cluster.nodes))
    assert {c["id"] for c in info["chunks"]} <= on_disk
    if len(slices) >= 3:  # spread over the nodes, not piled on one
        holders = {loc for c in info["chunks"] for loc in c["locations"]}
        assert len(holders) == 3


@pytest.mark.parametrize("size", [0, CHUNK + 1, 9 * MiB])
def test_multipart_round_trip(cluster: Cluster, size: int) -> None:
    data = os.urandom(size)
    body, ctype = multipart({"expires": "1h", "max_downloads": "5"}, "ré sumé.pdf", data)
    answer = http(
        "POST", f"{cluster.url}/upload", body, {"Content-Type": ctype, "Accept": "application/json"}
    )
    assert answer.status == 201, answer.body
    result = answer.json()
    assert result["name"] == "ré sumé.pdf"
    info = cluster.file_info(result["id"])
    assert info["max_downloads"] == 5 and info["state"] == "active"
    got = cluster.download(result["id"])
    assert got.body == data
    assert "filename*=UTF-8''r%C3%A9%20sum%C3%A9.pdf" in got.headers["Content-Disposition"]


def test_curl_put_prints_the_link(cluster: Cluster) -> None:
    data = os.urandom(1000)
    answer = http("PUT", f"{cluster.url}/upload/notes.txt", data)
    assert answer.status == 201
    link = answer.body.decode()
    assert link.endswith("\n") and link.count("\n") == 1
    assert link.strip().startswith(f"{cluster.url}/download/")
    assert answer.headers["X-Url-Delete"].startswith(f"{cluster.url}/delete/")
    got = http("GET", link.strip())
    assert got.body == data
    assert got.headers["Content-Disposition"].startswith('attachment; filename="notes.txt"')
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in got.headers["Content-Security-Policy"]
    put_query = http("PUT", f"{cluster.url}/upload?name=q.bin", data)
    assert put_query.status == 201


def test_range_and_head(cluster: Cluster) -> None:
    data = os.urandom(2 * CHUNK + 777)
    file_id = cluster.upload(data)["id"]
    url = f"{cluster.url}/download/{file_id}"
    head = http("HEAD", url)
    assert head.status == 200 and head.body == b""
    assert head.headers["Content-Length"] == str(len(data))
    assert head.headers["Accept-Ranges"] == "bytes"
    for header, lo, hi in [
        ("bytes=0-9", 0, 9),
        (f"bytes={CHUNK - 5}-{CHUNK + 5}", CHUNK - 5, CHUNK + 5),  # spans two chunks
        ("bytes=-100", len(data) - 100, len(data) - 1),
        (f"bytes={2 * CHUNK}-", 2 * CHUNK, len(data) - 1),
    ]:
        got = http("GET", url, headers={"Range": header})
        assert got.status == 206, header
        assert got.body == data[lo : hi + 1], header
        assert got.headers["Content-Range"] == f"bytes {lo}-{hi}/{len(data)}"
    bad = http("GET", url, headers={"Range": f"bytes={len(data)}-"})
    assert bad.status == 416
    assert bad.headers["Content-Range"] == f"bytes */{len(data)}"


def test_corrupt_replica_is_skipped(cluster: Cluster) -> None:
    data = os.urandom(CHUNK + 100)
    file_id = cluster.upload(data)["id"]
    info = cluster.file_info(file_id)
    chunk = info["chunks"][0]
    first = next(n for n in cluster.nodes if n.node_id == chunk["locations"][0])
    # Give the chunk a second replica by hand.
    second = next(n for n in cluster.nodes if n is not first)
    body = first.chunk_path(chunk["id"]).read_bytes()
    headers = {"Authorization": "Bearer test-cluster-secret"}
    stored = http("POST", f"{second.url}/chunk?hash={chunk['id']}", body, headers)
    assert stored.status in (200, 201)
    added = cluster.api("POST", f"/chunk/{chunk['id']}/locations", {"node": second.node_id})
    assert added.status in (200, 201, 204), added.body
    # Rot the replica a read tries first on disk: same length, one flipped byte.
    path = read_order(chunk["id"], [first, second], _node_id)[0].chunk_path(chunk["id"])
    rotten = bytearray(body)
    rotten[12345] ^= 0xFF
    path.write_bytes(bytes(rotten))

    got = cluster.download(file_id)
    assert got.status == 200
    assert got.body == data


def test_bad_input_is_a_clear_4xx(cluster: Cluster) -> None:
    for params, message in [
        ("expires=31d", "maximum"),
        ("expires=later", "duration"),
        ("max_downloads=0", "at least 1"),
        ("max_downloads=x", "whole number"),
    ]:
        answer = http("POST", f"{cluster.url}/upload?{params}", b"data")
        assert answer.status == 400, params
        assert message in answer.json()["error"], answer.body
    assert cluster.download("A" * 24).status == 404
    malformed = cluster.download("..%2F..%2Fetc%2Fpasswd")
    assert malformed.status in (400, 404)
    assert "error" in malformed.json()
    late_field, ctype = multipart({}, "a.bin", b"abc", after={"expires": "1h"})
    answer = http("POST", f"{cluster.url}/upload", late_field, {"Content-Type": ctype})
    assert answer.status == 400
    assert "before 'file'" in answer.json()["error"]
    files = cluster.api("GET", "/files?state=active").json()["files"]
    assert files == []


def test_many_downloads_at_once_share_the_read_ahead_pool(
    procs: ProcessGroup, tmp_path: Path
) -> None:
    """Eight downloads at once through a frontend whose read-ahead pool (3 chunks) is
    smaller than what they would each read ahead alone (6): every one gets every byte."""
    knobs = ["--chunk-size", "64KiB", "--read-ahead", "6", "--read-ahead-pool", "3"]
    cluster = Cluster(procs, tmp_path, frontend_args=knobs).start(nodes=3)
    data = os.urandom(40 * 64 * 1024 + 123)
    file_id = cluster.upload(data, name="shared.bin")["id"]
    assert len(cluster.file_info(file_id)["chunks"]) == 41
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: cluster.download(file_id), range(8)))
    assert [a.status for a in answers] == [200] * 8
    assert all(a.body == data for a in answers)
    served = cluster.frontend_stats()["download"]
    assert served["chunks_served"] >= 8 * 41, served
    assert (served["streaming"], served["read_ahead_lent"]) == (0, 0), served  # all given back
    gauges = scrape(cluster.url)
    for name in ("filefleet_downloads_streaming", "filefleet_read_ahead_lent_chunks"):
        assert gauges.get((name, frozenset())) == 0, name


def test_no_active_node_is_503_and_stores_nothing(procs: ProcessGroup, tmp_path: Path) -> None:
    cluster = Cluster(procs, tmp_path, controller_args=["--node-ttl", "1s"]).start(nodes=1)
    for node in cluster.nodes:
        assert node.process is not None
        node.process.kill()
    # Once the node's last ping is older than the TTL, the frontend must refuse before
    # creating any record.
    wait_for(lambda: not cluster.active_node_ids(), timeout=20, what="no active node")
    answer = http("POST", f"{cluster.url}/upload?name=x", b"hello")
    assert answer.status == 503
    assert "no active storage node" in answer.json()["error"]
    assert cluster.api("GET", "/files").json()["files"] == []


def test_missing_replica_is_skipped_and_its_location_dropped(cluster: Cluster) -> None:
    """A node that lost a chunk (wiped disk) is skipped, and its false location is dropped
    so that repair can restore the replica elsewhere."""
    data = os.urandom(CHUNK)
    file_id = cluster.upload(data)["id"]
    chunk = cluster.file_info(file_id)["chunks"][0]
    first = next(n for n in cluster.nodes if n.node_id == chunk["locations"][0])
    second = next(n for n in cluster.nodes if n is not first)
    body = first.chunk_path(chunk["id"]).read_bytes()
    headers = {"Authorization": "Bearer test-cluster-secret"}
    assert http("POST", f"{second.url}/chunk?hash={chunk['id']}", body, headers).status in (
        200,
        201,
    )
    cluster.api("POST", f"/chunk/{chunk['id']}/locations", {"node": second.node_id})
    lost = read_order(chunk["id"], [first, second], _node_id)[0]  # the replica tried first
    lost.chunk_path(chunk["id"]).unlink()

    assert cluster.download(file_id).body == data
    locations = cluster.file_info(file_id)["chunks"][0]["locations"]
    assert lost.node_id not in locations and len(locations) == 1


def test_a_chunk_lost_after_the_first_byte_cuts_the_connection(cluster: Cluster) -> None:
    """Once the answer has begun no error status can be sent: the frontend closes the
    connection, so the client sees a body shorter than its Content-Length at once, instead
    of waiting for bytes that never come."""
    data = os.urandom(6 * CHUNK)
    file_id = cluster.upload(data)["id"]
    last = cluster.file_info(file_id)["chunks"][-1]
    for node in cluster.nodes:  # every replica of the last chunk is gone
        node.chunk_path(last["id"]).unlink(missing_ok=True)

    conn = http_client.HTTPConnection("127.0.0.1", cluster.frontend_port, timeout=30)
    try:
        conn.request("GET", f"/download/{file_id}")
        resp = conn.getresponse()
        assert resp.status == 200 and resp.getheader("Content-Length") == str(len(data))
        with pytest.raises(http_client.IncompleteRead) as cut:
            resp.read()
    finally:
        conn.close()
    assert 0 < len(cut.value.partial) < len(data)
    assert bytes(cut.value.partial) == data[: len(cut.value.partial)]


def _node_id(node: Node) -> str:
    return node.node_id
