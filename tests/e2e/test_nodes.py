"""A node's life cycle on a real cluster, driven as an operator drives it (``filefleet nodes``
and ``filefleet status`` as subprocesses): drain a node until every chunk it holds has R
replicas elsewhere, stop it, forget it, and see the fleet healthy and ``fsck`` clean; forget
a dead node and see repair start at once; and the refusals.

The replicator here never runs a periodic repair pass (``--repair-interval 1h``): every
copy comes from the chunk events the controller publishes when a node is drained or
forgotten (it has the queue). Fast knobs: node TTL 2 s, pings every 200 ms, 256 KiB chunks.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_service
from tests.harness import replicators
from tests.harness.cluster import FAST_NODE, SECRET, Cluster, Node
from tests.harness.processes import FILEFLEET, ProcessGroup, wait_for
from tests.harness.replicators import chunk_locations, wait_replicated

CHUNK = 256 * 1024
NEVER = "1h"


@pytest.fixture
def cluster(procs: ProcessGroup, tmp_path: Path) -> Iterator[Cluster]:
    label, host, port, _ = replicators.QUEUE_SERVERS["redis"]
    require_service(label, host, port)
    queue = replicators.unique_queue_url("redis")
    started = Cluster(
        procs,
        tmp_path,
        node_args=FAST_NODE,
        frontend_args=["--chunk-size", str(CHUNK)],
        controller_args=["--node-ttl", "2s", "--replicas", "2", "--queue", queue],
        queue=queue,
    ).start(nodes=3)
    replicators.start_replicator(started, "--repair-interval", NEVER, "--repair-after", NEVER)
    yield started
    replicators.purge_queue(queue)


def cli(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    """A ``filefleet`` client command against the cluster, as an operator runs one."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FILEFLEET_")}
    env.update(FILEFLEET_SECRET=SECRET, FILEFLEET_CONTROLLER=cluster.controller_url)
    return subprocess.run(
        [*FILEFLEET, *args], capture_output=True, text=True, timeout=120, check=False, env=env
    )


def nodes(cluster: Cluster) -> dict[str, dict[str, Any]]:
    listed = cli(cluster, "nodes", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    return {n["name"]: n for n in json.loads(listed.stdout)}


def upload(cluster: Cluster, count: int) -> dict[str, bytes]:
    files = {}
    for _ in range(count):
        data = os.urandom(3 * CHUNK + 100)
        files[cluster.upload(data)["id"]] = data
    wait_replicated(cluster, list(files))
    return files


def busiest(cluster: Cluster, files: dict[str, bytes]) -> Node:
    locations = chunk_locations(cluster, list(files))
    counts = [sum(n.node_id in locs for locs in locations.values()) for n in cluster.nodes]
    return cluster.nodes[counts.index(max(counts))]


def test_drain_then_forget_a_node(cluster: Cluster) -> None:
    files = upload(cluster, 3)
    listed = nodes(cluster)
    assert sorted(listed) == ["node-1", "node-2", "node-3"]
    assert {n["state"] for n in listed.values()} == {"active"}
    victim = busiest(cluster, files)
    name = f"node-{victim.index}"
    held = {
        c for c, locs in chunk_locations(cluster, list(files)).items() if victim.node_id in locs
    }
    assert held

    drained = cli(cluster, "nodes", "drain", name)  # waits until none of its chunks waits
    assert drained.returncode == 0, drained.stdout + drained.stderr
    assert f"{name} is drained" in drained.stdout
    assert nodes(cluster)[name]["state"] == "drained"
    locations = chunk_locations(cluster, list(files))
    for chunk in held:  # R replicas on the other nodes, the drained one still listed
        others = set(locations[chunk]) - {victim.node_id}
        assert len(others) >= 2 and victim.node_id in locations[chunk]
    status = cli(cluster, "status", "--json")
    assert status.returncode == 0 and json.loads(status.stdout)["healthy"], status.stdout
    # A draining node takes no new chunk, and still serves what it holds.
    fresh = upload(cluster, 2)
    assert all(
        victim.node_id not in locs for locs in chunk_locations(cluster, list(fresh)).values()
    )
    for file_id, data in {**files, **fresh}.items():
        assert cluster.download(file_id).body == data

    assert victim.process is not None
    victim.process.stop()
    wait_for(lambda: victim.node_id not in cluster.active_node_ids(), timeout=10, what="dead")
    dead = cli(cluster, "status")
    assert dead.returncode == 1, dead.stdout  # a known node dead and not forgotten
    assert "degraded:" in dead.stdout and f"{name}" in dead.stdout

    forgotten = cli(cluster, "nodes", "forget", name, "--json")
    assert forgotten.returncode == 0, forgotten.stderr
    answer = json.loads(forgotten.stdout)
    assert answer["id"] == victim.node_id and answer["locations"] >= len(held)
    assert answer["unlocated"] == 0
    assert name not in nodes(cluster)
    healthy = cli(cluster, "status")
    assert healthy.returncode == 0, healthy.stdout
    assert healthy.stdout.rstrip().splitlines()[-1].startswith("healthy:")
    report = cluster.wait_clean()
    assert report["files"] == 5 and report["exit"] == 0
    for file_id, data in {**files, **fresh}.items():
        assert cluster.download(file_id).body == data


def test_forgetting_a_dead_node_starts_repair_at_once(cluster: Cluster) -> None:
    files = upload(cluster, 2)
    victim = busiest(cluster, files)
    assert victim.process is not None
    victim.process.kill()
    wait_for(lambda: victim.node_id not in cluster.active_node_ids(), timeout=10, what="dead")
    # The replicator waits an hour before a silent node's replicas stop counting, and runs
    # no repair pass: without the forget, nothing would be copied.
    forgotten = cli(cluster, "nodes", "forget", victim.node_id)  # by id, no --force: it is dead
    assert forgotten.returncode == 0, forgotten.stderr
    assert "replica locations dropped" in forgotten.stdout
    report = cluster.wait_clean(timeout=60)
    assert report["files"] == 2 and report["under_replicated_chunks"] == 0
    assert cli(cluster, "status").returncode == 0
    for file_id, data in files.items():
        assert cluster.download(file_id).body == data


def test_what_the_node_commands_refuse(cluster: Cluster) -> None:
    upload(cluster, 1)
    active = cli(cluster, "nodes", "forget", "node-1")
    assert active.returncode == 1 and active.stdout == ""
    assert "node-1 is active" in active.stderr and "--force" in active.stderr
    assert "node-1" in nodes(cluster)  # untouched
    unknown = cli(cluster, "nodes", "drain", "node-9")
    assert unknown.returncode == 1 and "no node 'node-9'" in unknown.stderr

    # With R=2 and three nodes, draining two would leave one: the second is refused.
    assert cli(cluster, "nodes", "drain", "node-1", "--no-wait").returncode == 0
    refused = cli(cluster, "nodes", "drain", "node-2", "--no-wait")
    assert refused.returncode == 1 and "could not finish" in refused.stderr
    back = cli(cluster, "nodes", "drain", "node-1", "--cancel")
    assert back.returncode == 0 and "node-1 is back in service" in back.stdout
    assert nodes(cluster)["node-1"]["state"] == "active"
