"""Expiry, deletion and garbage collection on a real cluster (DESIGN §6, §8; invariants 3, 5).

Fast knobs: GC every 1s with a 2s grace, nodes ping every 200ms, node TTL 1s, 64 KiB
chunks so a small file has several chunks spread over the nodes. Every wait is bounded.
"""

from __future__ import annotations

import hashlib
import os
import socket
from pathlib import Path

import pytest

from tests.harness.cluster import SECRET, Cluster, http
from tests.harness.processes import ProcessGroup, wait_for

CHUNK = 64 * 1024
GC_KNOBS = ("--gc-interval", "1s", "--gc-grace", "2s")
DEADLINE = 30.0  # expiry + GC interval + grace, with a wide margin for a loaded machine


def fast_cluster(procs: ProcessGroup, tmp_path: Path) -> Cluster:
    return Cluster(
        procs,
        tmp_path,
        controller_args=["--node-ttl", "1s"],
        node_args=["--ping-interval", "200ms", "--scrub-rate", "0"],
        frontend_args=["--chunk-size", str(CHUNK)],
    ).start(nodes=3)


@pytest.fixture
def gc_cluster(procs: ProcessGroup, tmp_path: Path) -> Cluster:
    cluster = fast_cluster(procs, tmp_path)
    cluster.start_gc(*GC_KNOBS)
    return cluster


def chunk_ids(info: dict[str, object]) -> set[str]:
    return {c["id"] for c in info["chunks"]}  # type: ignore[attr-defined]


def on_disk(cluster: Cluster) -> set[str]:
    return set().union(*(n.chunk_ids() for n in cluster.nodes))


def record_gone(cluster: Cluster, file_id: str) -> bool:
    return cluster.api("GET", f"/file/{file_id}").status == 404


def chunk_record_gone(cluster: Cluster, chunk_id: str) -> bool:
    return cluster.api("GET", f"/chunk/{chunk_id}").status == 404


def test_expired_file_is_collected_but_a_live_file_sharing_its_chunks_is_not(
    gc_cluster: Cluster,
) -> None:
    cluster = gc_cluster
    unique = os.urandom(5 * CHUNK + 100)
    shared = os.urandom(4 * CHUNK)
    gone = cluster.upload(unique, expires="2s")
    twin_short = cluster.upload(shared, expires="2s")
    twin_long = cluster.upload(shared, expires="1h")
    gone_chunks = chunk_ids(cluster.file_info(gone["id"]))
    shared_chunks = chunk_ids(cluster.file_info(twin_long["id"]))
    assert len(gone_chunks) == 6 and gone_chunks <= on_disk(cluster)
    assert cluster.download(gone["id"]).body == unique  # before expiry

    wait_for(lambda: cluster.download(gone["id"]).status in (404, 410), timeout=10, what="410")
    # Invariant 5: after expiry + GC period + grace, no chunk and no metadata remain.
    wait_for(
        lambda: record_gone(cluster, gone["id"]) and record_gone(cluster, twin_short["id"]),
        timeout=DEADLINE,
        what="the expired files' records removed",
    )
    wait_for(lambda: not gone_chunks & on_disk(cluster), timeout=DEADLINE, what="chunks gone")
    assert all(chunk_record_gone(cluster, c) for c in gone_chunks)
    assert cluster.download(gone["id"]).status == 404  # 404 once collected
    # Invariant 3: the chunks a live file references stay, on disk and in its record.
    assert shared_chunks <= on_disk(cluster)
    assert cluster.download(twin_long["id"]).body == shared
    totals = cluster.gc_stats()["totals"]
    assert totals["files_collected"] >= 2 and totals["chunks_deleted"] >= 6, totals


def test_delete_link_works_once_and_a_tampered_token_is_403(gc_cluster: Cluster) -> None:
    cluster = gc_cluster
    data = os.urandom(3 * CHUNK)
    result = cluster.upload(data)
    file_id, delete_url = result["id"], result["delete_url"]
    token = delete_url.rsplit("/", 1)[1]
    tampered = delete_url[:-1] + ("A" if token[-1] != "A" else "B")

    assert http("DELETE", tampered).status == 403
    assert cluster.file_info(file_id)["state"] == "active"  # nothing changed
    assert cluster.download(file_id).body == data
    assert http("DELETE", f"{cluster.url}/delete/{'Z' * 24}/{token}").status == 404
    assert http("DELETE", f"{cluster.url}/delete/{file_id}/bad").status == 400

    answer = http("DELETE", delete_url)
    assert answer.status == 200 and answer.json() == {"id": file_id, "deleted": True}
    assert cluster.download(file_id).status == 410
    assert http("DELETE", delete_url).status in (404, 410)  # it works once
    wait_for(lambda: record_gone(cluster, file_id), timeout=DEADLINE, what="record removed")
    assert cluster.download(file_id).status == 404

    # POST from the upload page's form answers a small page.
    other = cluster.upload(b"page delete")
    page = http("POST", other["delete_url"], headers={"Accept": "text/html"})
    assert page.status == 200 and b"File deleted" in page.body
    assert cluster.download(other["id"]).status == 410


def test_a_node_down_during_collection_gets_its_chunks_deleted_when_it_returns(
    gc_cluster: Cluster,
) -> None:
    cluster = gc_cluster
    data = os.urandom(12 * CHUNK)
    result = cluster.upload(data)
    info = cluster.file_info(result["id"])
    holders = {loc for c in info["chunks"] for loc in c["locations"]}
    down = next(n for n in cluster.nodes if n.node_id in holders)
    kept = {c["id"] for c in info["chunks"] if down.node_id in c["locations"]}
    assert down.process is not None
    down.process.stop()
    wait_for(lambda: down.node_id not in cluster.active_node_ids(), timeout=10, what="inactive")

    assert http("DELETE", result["delete_url"]).status == 200
    # The record goes once every replica on an active node is deleted; the down node's
    # replicas stay pending (on its disk, and listed on the chunk records).
    wait_for(lambda: record_gone(cluster, result["id"]), timeout=DEADLINE, what="record gone")
    others = set().union(*(n.chunk_ids() for n in cluster.nodes if n is not down))
    assert not chunk_ids(info) & others
    assert kept <= down.chunk_ids()
    assert cluster.gc_stats()["totals"]["deletes_pending"] >= 1
    assert not any(chunk_record_gone(cluster, c) for c in kept)

    cluster.start_node(down)
    wait_for(lambda: not kept & down.chunk_ids(), timeout=DEADLINE, what="pending deletes done")
    wait_for(
        lambda: all(chunk_record_gone(cluster, c) for c in kept),
        timeout=DEADLINE,
        what="chunk records removed",
    )


def test_an_interrupted_upload_is_collected_after_the_grace(gc_cluster: Cluster) -> None:
    cluster = gc_cluster
    sent = os.urandom(8 * CHUNK)
    head = (
        f"POST /upload?name=cut.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/octet-stream\r\nContent-Length: {64 * CHUNK}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", cluster.frontend_port), timeout=10) as sock:
        sock.sendall(head + sent)

        def uploading() -> list[dict[str, object]]:
            files: list[dict[str, object]] = cluster.api("GET", "/files?state=uploading").json()[
                "files"
            ]
            return [f for f in files if f["chunks"]]

        stuck = wait_for(uploading, timeout=10, what="an uploading record with chunks")[0]
    # The client is gone (killed mid-way): the record stays `uploading`, never served ...
    file_id = str(stuck["id"])
    assert cluster.download(file_id).status == 404
    stored = chunk_ids(cluster.file_info(file_id))
    assert stored and stored <= on_disk(cluster)
    # ... and once untouched for longer than the grace it is collected, chunks and record.
    wait_for(lambda: record_gone(cluster, file_id), timeout=DEADLINE, what="record removed")
    sent_chunks = {
        hashlib.sha256(sent[i : i + CHUNK]).hexdigest() for i in range(0, 8 * CHUNK, CHUNK)
    }
    wait_for(
        lambda: not sent_chunks & on_disk(cluster), timeout=DEADLINE, what="its chunks deleted"
    )


def test_orphan_chunks_are_deleted_after_the_grace(gc_cluster: Cluster) -> None:
    cluster = gc_cluster
    orphan = os.urandom(1000)
    orphan_id = hashlib.sha256(orphan).hexdigest()
    node = cluster.nodes[0]
    answer = http(
        "POST",
        f"{node.url}/chunk?hash={orphan_id}",
        orphan,
        {"Authorization": f"Bearer {SECRET}", "Content-Type": "application/octet-stream"},
    )
    assert answer.status == 201
    live = cluster.upload(os.urandom(2 * CHUNK))
    wait_for(lambda: orphan_id not in node.chunk_ids(), timeout=DEADLINE, what="orphan deleted")
    assert cluster.gc_stats()["totals"]["orphans_deleted"] >= 1
    assert cluster.download(live["id"]).status == 200  # a live file's chunks are no orphans
    assert chunk_ids(cluster.file_info(live["id"])) <= on_disk(cluster)
