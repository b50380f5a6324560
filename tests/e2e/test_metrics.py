"""Metrics and access lines on a real cluster started through the CLI (issue 21): every
service's ``/metrics`` parsed with prometheus-client's parser, behind the secret; the
frontend's counters move by exactly what was uploaded and downloaded; requests are
counted by route template; the controller's below-R and single-copy gauges fall to 0 as
the replicator copies, and the GC's freed bytes rise by what it deleted; the frontend's
access lines are JSON objects with their values as keys, and a client that leaves in the
middle of a download is one INFO line.

Fast knobs: pings every 200 ms, node TTL 2 s, 256 KiB chunks.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_service
from tests.harness.cluster import FAST_NODE, SECRET, Cluster, http
from tests.harness.metrics import Samples, documented_types, exposed_types, scrape
from tests.harness.processes import ProcessGroup, wait_for
from tests.harness.replicators import (
    QUEUE_SERVERS,
    purge_queue,
    start_replicator,
    unique_queue_url,
)

KiB = 1024
CHUNK = 256 * KiB
NEVER = "1h"


@pytest.fixture
def cluster(procs: ProcessGroup, tmp_path: Path) -> Cluster:
    return Cluster(
        procs,
        tmp_path,
        node_args=FAST_NODE,
        frontend_args=["--chunk-size", str(CHUNK), "--log-json"],
        controller_args=["--node-ttl", "2s", "--replicas", "2"],
    ).start(nodes=3)


def chunks_of(cluster: Cluster, file_ids: list[str]) -> int:
    return sum(len(cluster.file_info(f)["chunks"]) for f in file_ids)


def delta(after: Samples, before: Samples, name: str, **labels: str) -> float:
    return after.value(name, **labels) - before.value(name, **labels)


@pytest.fixture
def queue() -> Iterator[str]:
    """A replicate queue of this test's own on the real Redis (so the replicator runs its
    event worker and exposes its event counts)."""
    label, host, port, _ = QUEUE_SERVERS["redis"]
    require_service(label, host, port)
    url = unique_queue_url("redis")
    yield url
    purge_queue(url)


def test_every_service_answers_metrics_and_stats_with_the_secret_only(
    procs: ProcessGroup, tmp_path: Path, queue: str
) -> None:
    cluster = Cluster(procs, tmp_path, queue=queue).start(nodes=2)
    replicator = start_replicator(cluster, "--repair-interval", NEVER)
    cluster.start_gc("--gc-interval", NEVER)
    services = {
        "frontend": cluster.url,
        "controller": cluster.controller_url,
        "replicator": replicator.url,
        "gc": f"http://127.0.0.1:{cluster.gc_port}",
        **{f"node-{n.index}": n.url for n in cluster.nodes},
    }
    exposed: dict[str, str] = {}
    for name, url in services.items():
        assert http("GET", f"{url}/metrics").status == 401, name
        wrong = {"Authorization": "Bearer not-the-secret"}
        assert http("GET", f"{url}/metrics", headers=wrong).status == 401, name
        assert http("GET", f"{url}/healthz").status == 200, name
        if name != "controller":  # the others' counters, on /stats: behind the secret too
            assert http("GET", f"{url}/stats").status == 401, name
            secret = {"Authorization": f"Bearer {SECRET}"}
            assert http("GET", f"{url}/stats", headers=secret).status == 200, name
        scrape(url)  # parses; the next one counts it
        service = name.split("-")[0]
        labels = {"service": service, "method": "GET", "route": "/metrics", "status": "200"}
        assert scrape(url).value("filefleet_http_requests_total", **labels) >= 1, name
        exposed |= exposed_types(url)
    # docs/operations.md lists exactly what the services expose, each with its type.
    assert exposed == documented_types()
    assert http("GET", f"{cluster.url}/").status == 200  # the frontend's pages stay public
    assert http("GET", f"{cluster.url}/static/upload.js").status == 200


def test_counters_move_by_what_was_uploaded_and_downloaded(cluster: Cluster) -> None:
    front, controller = scrape(cluster.url), scrape(cluster.controller_url)
    sizes = [3 * CHUNK + 17, CHUNK + 1]
    blobs = [os.urandom(size) for size in sizes]
    results = [cluster.upload(data) for data in blobs]
    ids = [r["id"] for r in results]
    for file_id, data in zip(ids, blobs, strict=True):
        assert cluster.download(file_id).body == data
    ranged = cluster.download(ids[0], headers={"Range": "bytes=100-1099"})
    assert ranged.status == 206 and ranged.body == blobs[0][100:1100]
    assert http("HEAD", f"{cluster.url}/download/{ids[1]}").status == 200

    def downloads_counted() -> Samples | None:  # each once its body is written
        samples = scrape(cluster.url)
        counted = delta(samples, front, "filefleet_downloads_total", result="ok")
        return samples if counted == 3 else None  # the HEAD is no download

    after = wait_for(downloads_counted, what="the downloads counted")
    assert delta(after, front, "filefleet_upload_bytes_total") == sum(sizes)
    assert delta(after, front, "filefleet_download_bytes_total") == sum(sizes) + 1000
    assert delta(after, front, "filefleet_uploads_total", result="ok") == 2
    requests = "filefleet_http_requests_total"
    by_route = {"service": "frontend", "route": "/download/{id}"}
    assert delta(after, front, requests, **by_route, method="GET", status="200") == 2
    assert delta(after, front, requests, **by_route, method="GET", status="206") == 1
    assert delta(after, front, requests, **by_route, method="HEAD", status="200") == 1
    assert delta(after, front, requests, service="frontend", method="POST", route="/upload",
                 status="201") == 2  # fmt: skip
    routes = {labels["route"] for labels in after.labelled(requests)}
    assert not [r for r in routes if any(file_id in r for file_id in ids)]
    assert delta(after, front, "filefleet_stored_chunks_total") == chunks_of(cluster, ids)

    # One replica each until the replicator copies them: every chunk is below R, and one
    # disk away from loss. The controller's request counts move by route template too.
    chunks = chunks_of(cluster, ids)
    samples = scrape(cluster.controller_url)
    assert samples.value("filefleet_chunks_below_replication") == chunks
    assert samples.value("filefleet_single_copy_chunks") == chunks
    assert samples.value("filefleet_nodes", state="active") == 3
    assert samples.value("filefleet_nodes", state="dead") == 0
    assert delta(samples, controller, requests, service="controller", method="POST",
                 route="/file", status="201") == 2  # fmt: skip

    replicator = start_replicator(cluster, "--repair-interval", "500ms")

    def replicated() -> Samples | None:
        samples = scrape(cluster.controller_url)
        done = samples.value("filefleet_chunks_below_replication") == 0
        return samples if done and samples.value("filefleet_single_copy_chunks") == 0 else None

    wait_for(replicated, timeout=60, interval=0.5, what="every chunk at R by the metrics")
    wait_for(
        lambda: scrape(replicator.url).value("filefleet_replicated_chunks_total") == chunks,
        what="the replicator's copies counted",
    )
    nodes = [scrape(n.url) for n in cluster.nodes]
    assert sum(s.value("filefleet_node_chunks") for s in nodes) == 2 * chunks
    assert sum(s.value("filefleet_node_stored_bytes") for s in nodes) == 2 * sum(sizes)
    assert all(s.value("filefleet_node_free_bytes") > 0 for s in nodes)


def test_the_gc_counts_the_bytes_it_frees(cluster: Cluster) -> None:
    data = os.urandom(2 * CHUNK + 5)
    result = cluster.upload(data)
    assert http("DELETE", result["delete_url"]).status == 200
    cluster.start_gc("--gc-interval", "500ms", "--gc-grace", "1s")
    gc_url = f"http://127.0.0.1:{cluster.gc_port}"
    wait_for(
        lambda: scrape(gc_url).value("filefleet_gc_freed_bytes_total") == len(data),
        timeout=60,
        interval=0.5,
        what="the GC's freed bytes to reach the file's one replica",
    )
    samples = scrape(gc_url)
    assert samples.value("filefleet_gc_replicas_deleted_total") == 3
    assert samples.value("filefleet_gc_files_collected_total") == 1


# -- access lines -------------------------------------------------------------------------


def access_lines(cluster: Cluster, count: int | None = None) -> list[dict[str, Any]]:
    """The frontend's access lines so far (only once there are ``count`` of them)."""
    assert cluster.frontend is not None
    lines = []
    for raw in cluster.frontend.log_path.read_text().splitlines():
        entry = json.loads(raw)  # --log-json: every line is one object
        if entry["logger"] == "filefleet.access":
            lines.append(entry)
    return lines if count is None or len(lines) == count else []


def test_access_lines_are_json_and_a_client_that_leaves_is_one_info_line(
    cluster: Cluster,
) -> None:
    data = os.urandom(32 * CHUNK)  # 8 MiB: more than the sockets between hold
    file_id = cluster.upload(data)["id"]
    assert cluster.download(file_id).body == data
    # The line is written once the answer is: the client may read the end of it first.
    upload, download = wait_for(lambda: access_lines(cluster, 2), what="two access lines")
    for line, event, status in ((upload, "upload", 201), (download, "download", 200)):
        assert (line["event"], line["id"], line["bytes"]) == (event, file_id, len(data))
        assert (line["status"], line["client"], line["result"]) == (status, "127.0.0.1", "ok")
        assert line["level"] == "info" and line["seconds"] > 0 and line["request_id"] != "-"

    # A reader that stops after 1 MiB and closes its socket, as a closed tab or an
    # interrupted curl does.
    with socket.create_connection(("127.0.0.1", cluster.frontend_port), timeout=10) as sock:
        sock.sendall(f"GET /download/{file_id} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        answer = b""
        while len(answer.partition(b"\r\n\r\n")[2]) < 1024 * KiB:
            answer += sock.recv(64 * KiB)
        received = len(answer.partition(b"\r\n\r\n")[2])  # body bytes, not the head's

    def gone() -> dict[str, Any] | None:
        lines = [line for line in access_lines(cluster) if line["result"] == "client_gone"]
        return lines[0] if lines else None

    line = wait_for(gone, timeout=30, what="the access line of the download left behind")
    assert (line["level"], line["event"], line["id"], line["status"]) == (
        "info", "download", file_id, 200,
    )  # fmt: skip
    assert received <= line["bytes"] < len(data)
    assert line["msg"].endswith(f"client went away after {line['bytes']} bytes")
    assert len(access_lines(cluster)) == 3
    assert cluster.frontend is not None
    log = cluster.frontend.log_path.read_text()
    assert '"level": "error"' not in log and "Traceback" not in log
    assert scrape(cluster.url).value("filefleet_downloads_total", result="client_gone") == 1
    assert SECRET not in log
