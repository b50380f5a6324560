"""Scenario 4: a node's disk fills up.

Every node keeps its chunks on a 64 MiB file system of its own with a reserve of 8 MiB
(``--reserve``, like HDFS's du.reserved). Another tenant of node 3's disk fills it to just
above the reserve: the node reports how little is left in its pings, placement stops
choosing it, uploads go to the other nodes and all succeed, and a chunk sent to it
anyway is refused with a 507 that says why and leaves no partial file. When the space
comes back the node takes chunks again.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tests.faults.conftest import MakeFleet
from tests.harness.cluster import SECRET, http
from tests.harness.fleet import Fleet, FleetNode
from tests.harness.processes import wait_for

MiB = 1024 * 1024


def reported_free(fleet: Fleet, node: FleetNode) -> int:
    for info in fleet.api("GET", "/active-nodes").json():
        if info["id"] == node.node_id:
            free: int = info["free"]
            return free
    raise AssertionError(f"node {node.index} is not active")


def upload_many(fleet: Fleet, count: int, size: int) -> list[dict[str, Any]]:
    """``count`` uploads, four at a time; every one must succeed."""

    def one(index: int) -> dict[str, Any]:
        data = os.urandom(size)
        return {**fleet.upload(data, f"file-{index}.bin"), "data": data}

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(one, range(count)))


def fill(disk: Path, leave: int) -> Path:
    """Another tenant's file, taking all but ``leave`` bytes of the disk."""
    stat = os.statvfs(disk)
    filler = disk / "filler"
    with filler.open("wb") as handle:
        handle.truncate(0)
        remaining = stat.f_bavail * stat.f_frsize - leave
        while remaining > 0:
            remaining -= handle.write(b"\0" * min(remaining, MiB))
    return filler


def test_a_full_node_takes_nothing_more_until_space_returns(make_fleet: MakeFleet) -> None:
    reserve = ["--reserve", "8MiB"]
    fleet = make_fleet(
        nodes=3,
        chunk_size="1MiB",
        small_disks={1: "64m", 2: "64m", 3: "64m"},
        node_args=reserve,
        replicator_args=["--repair-interval", "1s"],
        gc_args=["--gc-interval", "1h"],
    )
    small = fleet.nodes[2]
    assert reported_free(fleet, small) <= 56 * MiB  # the reserve is not offered
    first = upload_many(fleet, 6, 2 * MiB)
    fleet.wait_whole([upload["id"] for upload in first])
    assert small.chunk_ids()  # it takes its share (uploads, copies) while it has room

    filler = fill(small.data, leave=8 * MiB + MiB // 2)  # half a chunk above the reserve
    wait_for(
        lambda: reported_free(fleet, small) < MiB,
        timeout=15,
        what="the node's pings saying it has no room for a chunk",
    )
    held = small.chunk_ids()
    more = upload_many(fleet, 8, 2 * MiB)  # all succeed, on the other nodes
    assert small.chunk_ids() == held

    body = os.urandom(MiB)  # a chunk sent to it anyway
    chunk_id = hashlib.sha256(body).hexdigest()
    refused = http("POST", f"{small.url}/chunk?hash={chunk_id}", body,
                   {"Authorization": f"Bearer {SECRET}"})  # fmt: skip
    assert refused.status == 507, (refused.status, refused.body)
    assert "reserve" in refused.json()["error"]
    assert chunk_id not in small.chunk_ids()
    assert list((small.data / "tmp").iterdir()) == []  # no partial file

    for upload in first + more:
        got = fleet.download(upload["id"])
        assert got.status == 200 and got.body == upload["data"], upload["id"]
    fleet.wait_clean()

    # With every node that full, an upload is refused at once with a 507 that says so.
    fillers = [fill(node.data, leave=8 * MiB + MiB // 2) for node in fleet.nodes[:2]]
    wait_for(
        lambda: all(reported_free(fleet, node) < MiB for node in fleet.nodes),
        timeout=15,
        what="every node saying it has no room",
    )
    full = http("POST", f"{fleet.url}/upload?name=x.bin", os.urandom(MiB))
    assert full.status == 507 and "full" in full.json()["error"], (full.status, full.body)
    for extra in fillers:
        extra.unlink()

    filler.unlink()  # the space comes back
    wait_for(
        lambda: reported_free(fleet, small) > 40 * MiB,
        timeout=15,
        what="the node's pings saying it has room again",
    )
    last = upload_many(fleet, 4, 2 * MiB)
    fleet.wait_whole([upload["id"] for upload in last])
    assert len(small.chunk_ids()) > len(held)  # it takes chunks again (the freest now)
    fleet.wait_clean()
