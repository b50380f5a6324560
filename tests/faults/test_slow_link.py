"""Scenario 3: one node of four sits behind a slow, lossy link (2 Mbit/s, a short queue).

The node is alive and answers, just slowly: its pings arrive, so the controller keeps it
active, and no pause is long enough to trip a deadline on its own. What protects the
uploads is the minimum rate (``--min-rate``): a 4 MiB chunk that cannot keep 1 MiB/s goes
to another node, and the slow node becomes a suspect that gets no new chunk for a while.
Reads from it are hedged to another replica. Every transfer completes correctly in
bounded time, and afterwards the fleet is whole.
"""

from __future__ import annotations

import os

from tests.faults.conftest import MakeFleet
from tests.faults.story import clients, healed
from tests.harness.fleet import Fleet
from tests.harness.processes import wait_for
from tests.harness.traffic import Traffic

MiB = 1024 * 1024


def run_traffic(fleet: Fleet, files: dict[str, bytes]) -> Traffic:
    """Four clients until 8 uploads of 16 MiB and 4 downloads are done; stopped after."""
    traffic = clients(fleet, files, size=16 * MiB)
    try:
        wait_for(
            lambda: traffic.count("upload") >= 8 and traffic.count("download") >= 4,
            timeout=120,
            what="uploads and downloads",
        )
    finally:
        traffic.stop()
    return traffic


def test_a_slow_node_holds_no_upload_hostage(make_fleet: MakeFleet) -> None:
    fleet = make_fleet(
        nodes=4,
        chunk_size="4MiB",
        replicator_args=["--repair-interval", "1s", "--repair-after", "60s"],
        gc_args=["--gc-interval", "1h"],
    )
    before = {fleet.upload(data := os.urandom(9 * MiB), f"b{i}")["id"]: data for i in range(2)}
    fleet.wait_whole(list(before))
    print(f"\nFAULT slow link, baseline (every link fast): {run_traffic(fleet, before).summary()}")
    slow = fleet.nodes[0]
    slow.host.slow("2mbit")
    try:
        traffic = run_traffic(fleet, before)
        assert slow.node_id in fleet.active_node_ids()  # slow, not dead
        traffic.check(answer_within=30, stall_within=5)
    finally:
        slow.host.unslow()
    healed(fleet, "slow link (2 Mbit/s, one node of four)", traffic)
    for file_id, data in traffic.files.items():
        op = traffic.download(file_id, data)
        assert op.ok, op.line()
