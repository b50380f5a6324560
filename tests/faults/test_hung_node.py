"""Scenario 1: a node hangs (SIGSTOP) while four clients upload and download.

A stopped process is the worst kind of dead: its kernel still accepts connections and
takes bytes into its buffers, so nothing fails fast. Per-hop deadlines end every call to
it, a chunk write that times out goes to another node, and a read from it is hedged to
another replica; after the node TTL it is inactive. When it resumes it acts on none of
the requests that queued up while it was stopped (their callers gave up long ago), and,
having been away for less than ``--repair-after``, it sets off no copies.
"""

from __future__ import annotations

import os
import time

from tests.faults.conftest import MakeFleet
from tests.harness.fleet import Fleet, FleetNode
from tests.harness.processes import wait_for
from tests.harness.traffic import Traffic

MiB = 1024 * 1024


def upload_some(fleet: Fleet, count: int, size: int) -> dict[str, bytes]:
    traffic = Traffic(fleet.url, clients=0)
    for index in range(count):
        op = traffic.upload(os.urandom(size), f"before-{index}.bin")
        assert op.ok, op.line()
    return dict(traffic.files)


def holder_of_most(fleet: Fleet, file_ids: list[str]) -> FleetNode:
    counts = {n.node_id: 0 for n in fleet.nodes}
    for file_id in file_ids:
        for chunk in fleet.file_info(file_id)["chunks"]:
            for node in chunk["locations"]:
                counts[node] = counts.get(node, 0) + 1
    best = max(counts, key=lambda node: counts[node])
    return next(n for n in fleet.nodes if n.node_id == best)


def test_a_hung_node_stalls_nothing_and_rejoins_quietly(make_fleet: MakeFleet) -> None:
    fleet = make_fleet(
        nodes=3,
        replicator_args=["--repair-interval", "1s", "--repair-after", "60s"],
        gc_args=["--gc-interval", "1h"],
    )
    before = upload_some(fleet, 3, 3 * MiB)
    fleet.wait_whole(list(before))
    victim = holder_of_most(fleet, list(before))
    victim_id = victim.node_id

    # Downloads read files with R replicas: a read from the hung node is hedged to another.
    # (A file whose one copy is on the hung node waits for it or fails; the window in which
    # a fresh file has one copy is the replicator's to close.)
    traffic = Traffic(
        fleet.url, clients=4, size=4 * MiB, give_up=90, files=dict(before),
        downloadable=fleet.replicated,
    )  # fmt: skip
    traffic.start()
    try:
        wait_for(lambda: traffic.count("upload") >= 4, timeout=30, what="uploads before the fault")
        victim.freeze()
        frozen = time.monotonic()
        try:
            wait_for(
                lambda: victim_id not in fleet.active_node_ids(),
                timeout=20,
                what="the hung node leaving the active nodes",
            )
            detected = time.monotonic() - frozen
            during = traffic.count("upload")
            wait_for(
                lambda: traffic.count("upload") >= during + 6 and traffic.count("download") >= 6,
                timeout=60,
                what="uploads and downloads while the node hangs",
            )
        finally:
            victim.thaw()
        fleet.wait_active(3)
        resumed = traffic.count("upload")
        wait_for(lambda: traffic.count("upload") >= resumed + 4, timeout=30, what="uploads after")
    finally:
        traffic.stop()
    print(traffic.summary(), f"detected after {detected:.1f}s")
    traffic.check(answer_within=30, stall_within=5)

    files = traffic.files
    fleet.wait_whole(list(files), timeout=60)
    for file_id, data in files.items():
        op = traffic.download(file_id, data)
        assert op.ok, op.line()
    # No copy storm: the node was away for less than --repair-after, so no chunk it held
    # before the fault was copied anywhere else.
    for file_id in before:
        for chunk in fleet.file_info(file_id)["chunks"]:
            assert len(chunk["locations"]) == fleet.replicas, chunk
