"""`filefleet fsck` on a real cluster, run as an operator runs it (a subprocess): a clean
fleet, then one harm at a time done to the nodes' disks, each found and counted.

Fast knobs: node TTL 2 s, pings every 200 ms, 256 KiB chunks, no scrubber and no GC (they
would repair what the test breaks before fsck sees it). A replicator brings the chunks to
R=2 and is stopped before the harm starts.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from filefleet.runtime.ports import free_port
from tests.conftest import require_service
from tests.harness import replicators
from tests.harness.cluster import FAST_NODE, SECRET, Cluster, Node
from tests.harness.processes import ProcessGroup, wait_for

KiB = 1024
CHUNK = 256 * KiB


def run_fsck(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "filefleet", "fsck", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "FILEFLEET_SECRET": SECRET, **(env or {})},
    )


def fsck_json(cluster: Cluster, *args: str) -> tuple[int, dict[str, Any]]:
    done = run_fsck("--controller", cluster.controller_urls, "--json", *args)
    assert done.returncode in (0, 1), done
    assert "Traceback" not in done.stderr, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return done.returncode, report


def counts(report: dict[str, Any]) -> dict[str, int]:
    """Every count in the report (R aside)."""
    return {k: v for k, v in report.items() if type(v) is int and k != "replicas"}


def holders(cluster: Cluster, chunk: dict[str, Any]) -> list[Node]:
    return [n for n in cluster.nodes if n.node_id in chunk["locations"]]


def make_cluster(procs: ProcessGroup, root: Path, *, node_ttl: str = "2s") -> Cluster:
    return Cluster(
        procs,
        root,
        node_args=FAST_NODE,
        frontend_args=["--chunk-size", str(CHUNK)],
        controller_args=["--node-ttl", node_ttl, "--replicas", "2"],
    )


@pytest.fixture
def cluster(procs: ProcessGroup, tmp_path: Path) -> Iterator[Cluster]:
    """Three nodes and a queue, for a replicator to bring chunks to R."""
    label, host, port, _ = replicators.QUEUE_SERVERS["redis"]
    require_service(label, host, port)
    cluster = make_cluster(procs, tmp_path)
    cluster.queue = replicators.unique_queue_url("redis")
    yield cluster.start(nodes=3)
    replicators.purge_queue(cluster.queue)


def test_fsck_finds_each_harm_done_to_the_nodes(cluster: Cluster) -> None:
    replicator = replicators.start_replicator(cluster, "--repair-interval", "1h")
    big = os.urandom(3 * CHUNK + 5)
    a = cluster.upload(big, name="a.bin")["id"]
    b = cluster.upload(big, name="same-as-a.bin")["id"]  # the same chunks as a
    c = cluster.upload(os.urandom(CHUNK), name="c.bin")["id"]
    empty = cluster.upload(b"", name="empty.bin")["id"]  # no chunks: always readable
    replicators.wait_replicated(cluster, [a, b, c, empty])
    replicator.process.stop()

    # 1. A clean fleet. (b's chunks, stored again by its upload, may have landed on a
    # third node: a chunk has at least 2 replicas, and every one of them is good.)
    listed = {
        chunk["id"]: len(set(chunk["locations"]))
        for file_id in (a, b, c)
        for chunk in cluster.file_info(file_id)["chunks"]
    }
    assert len(listed) == 5 and min(listed.values()) == 2
    good = sum(listed.values())
    code, report = fsck_json(cluster)
    assert code == 0 and report["clean"] is True, report
    clean = dict.fromkeys(counts(report), 0) | {"files": 4, "chunks": 5, "good_replicas": good}
    assert counts(report) == clean
    assert report["replicas"] == 2 and report["verified"] is False
    assert report["unreadable_files"] == []
    assert sorted(n["chunks"] for n in report["nodes"]) == sorted(
        len(n.chunk_ids()) for n in cluster.nodes
    )
    assert all(n["active"] and n["error"] is None for n in report["nodes"])
    text = run_fsck("--controller", cluster.controller_urls)
    assert text.returncode == 0 and "clean: every live chunk has 2 good replicas" in text.stdout

    # 2. A chunk file no file references, put on a node's disk: an orphan, still clean.
    orphan = os.urandom(1000)
    orphan_id = put_chunk_file(cluster.nodes[0], orphan)
    code, report = fsck_json(cluster)
    assert code == 0 and report["clean"] is True, report
    assert counts(report) == clean | {"orphan_replicas": 1}

    # 3. One replica of c's chunk deleted from its node's disk: missing, under-replicated.
    c_chunk = cluster.file_info(c)["chunks"][0]
    first, second = holders(cluster, c_chunk)
    first.chunk_path(c_chunk["id"]).unlink()
    code, report = fsck_json(cluster)
    assert code == 0 and report["clean"] is False, report
    harmed = clean | {"orphan_replicas": 1, "missing_replicas": 1, "good_replicas": good - 1}
    assert counts(report) == harmed | {"under_replicated_chunks": 1}

    # 4. One replica of a's first chunk rotten: only --verify sees it, and the node that
    # found it quarantines it and tells the controller, as its scrubber would.
    a_chunk = cluster.file_info(a)["chunks"][0]
    rotten_on = holders(cluster, a_chunk)[0]
    path = rotten_on.chunk_path(a_chunk["id"])
    path.write_bytes(b"\0" * path.stat().st_size)
    code, report = fsck_json(cluster)
    assert code == 0 and report["corrupt_replicas"] == 0 and report["good_replicas"] == good - 1
    code, report = fsck_json(cluster, "--verify")
    assert code == 0 and report["verified"] is True, report
    assert (report["corrupt_replicas"], report["missing_replicas"]) == (1, 1), report
    under = 1 + (listed[a_chunk["id"]] - 1 < 2)  # c's chunk, and a's if it had only two
    assert (report["good_replicas"], report["under_replicated_chunks"]) == (good - 2, under)
    assert (rotten_on.data / "quarantine" / a_chunk["id"]).exists() and not path.exists()
    assert rotten_on.node_id not in cluster.file_info(a)["chunks"][0]["locations"]
    code, report = fsck_json(cluster, "--verify")  # the controller no longer lists it
    assert (report["corrupt_replicas"], report["good_replicas"]) == (0, good - 2), report

    # 5. Every replica of c's chunk gone: c cannot be read; fsck says which file and exits 1.
    second.chunk_path(c_chunk["id"]).unlink()
    code, report = fsck_json(cluster)
    assert code == 1 and report["lost_chunks"] == 1, report
    assert [(f["id"], f["name"], f["lost_chunks"]) for f in report["unreadable_files"]] == [
        (c, "c.bin", [c_chunk["id"]])
    ]
    text = run_fsck("--controller", cluster.controller_urls)
    assert text.returncode == 1, text
    assert c in text.stdout and "UNREADABLE: 1 live file cannot be read" in text.stdout
    assert orphan_id not in text.stdout

    # 6. A node gone: its replicas are on an inactive node, not looked at, not counted.
    victim = cluster.nodes[2]
    assert victim.process is not None
    held = sum(
        victim.node_id in chunk["locations"]
        for file_id in (a, c)
        for chunk in cluster.file_info(file_id)["chunks"]
    )
    victim.process.kill()
    wait_for(lambda: victim.node_id not in cluster.active_node_ids(), timeout=10, what="dead")
    code, report = fsck_json(cluster)
    assert report["inactive_replicas"] == held, report
    assert [n["active"] for n in report["nodes"]].count(False) == 1


def put_chunk_file(node: Node, data: bytes) -> str:
    """Put ``data`` on the node's disk as a chunk, as a crash between a store and its
    append leaves one; its id."""
    chunk_id = hashlib.sha256(data).hexdigest()
    path = node.chunk_path(chunk_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return chunk_id


def test_fsck_finds_the_cluster_from_cluster_json(cluster: Cluster, tmp_path: Path) -> None:
    data = tmp_path / "operator"
    data.mkdir()
    manifest = {"secret": SECRET, "services": {"controller": {"url": cluster.controller_url}}}
    (data / "cluster.json").write_text(json.dumps(manifest))
    env = {"FILEFLEET_SECRET": "", "FILEFLEET_DATA": str(data)}
    done = run_fsck("--json", env=env)
    assert done.returncode == 0, done
    assert json.loads(done.stdout)["nodes"] and "Traceback" not in done.stderr


def test_a_hung_node_is_reported_within_the_node_timeout(
    procs: ProcessGroup, tmp_path: Path
) -> None:
    """A stopped process still accepts connections, and never answers: fsck gives up on it
    after --node-timeout, says so, and asks it nothing more. (A long node TTL keeps it
    active, as it is in the first seconds of a real hang.)"""
    cluster = make_cluster(procs, tmp_path, node_ttl="60s").start(nodes=2)
    file_id = cluster.upload(os.urandom(2 * CHUNK))["id"]  # one replica per chunk
    hung = holders(cluster, cluster.file_info(file_id)["chunks"][0])[0]
    held = len(hung.chunk_ids())
    assert hung.process is not None
    hung.process.signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        done = run_fsck("--controller", cluster.controller_url, "--json", "--node-timeout", "1s")
        assert time.monotonic() - started < 15, done
    finally:
        hung.process.signal(signal.SIGCONT)
    assert done.returncode == 1, done  # its chunks have no other replica
    report = json.loads(done.stdout)
    assert report["unchecked_replicas"] == held and report["clean"] is False
    assert [f["id"] for f in report["unreadable_files"]] == [file_id]
    errors = {n["id"]: n["error"] for n in report["nodes"]}
    assert errors[hung.node_id] and all(e is None for i, e in errors.items() if i != hung.node_id)


def test_an_unreachable_controller_is_exit_2_at_once(procs: ProcessGroup) -> None:
    started = time.monotonic()
    done = run_fsck("--controller", f"http://127.0.0.1:{free_port()}", "--json")
    assert done.returncode == 2, done
    assert time.monotonic() - started < 10
    assert done.stdout == "" and "Traceback" not in done.stderr
    assert done.stderr.startswith("filefleet: error: nothing answers at http://127.0.0.1:")
    assert len(done.stderr.strip().splitlines()) == 1
