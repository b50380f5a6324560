"""Scenario 1: a node hangs (SIGSTOP) while four clients upload and download.

A stopped process is the worst kind of dead: its kernel still accepts connections and
takes bytes into its buffers, so nothing fails fast. Per-hop deadlines end every call to
it, a chunk write that times out goes to another node, and a read from it is hedged to
another replica; after the node TTL it is inactive. When it resumes it has nothing stale
to serve (a chunk is named by its hash and verified by every reader), and, having been
away for less than ``--repair-after``, it sets off no copies.
"""

from __future__ import annotations

from tests.faults.conftest import MakeFleet
from tests.faults.story import clients, healed, holder_of_most, live_through, upload_some

MiB = 1024 * 1024


def test_a_hung_node_stalls_nothing_and_rejoins_quietly(make_fleet: MakeFleet) -> None:
    fleet = make_fleet(
        nodes=3,
        replicator_args=["--repair-interval", "1s", "--repair-after", "60s"],
        gc_args=["--gc-interval", "1h"],
    )
    before = upload_some(fleet, 3, 3 * MiB)
    fleet.wait_whole(list(before))
    victim = holder_of_most(fleet, list(before))

    traffic = clients(fleet, before)
    try:
        lived = live_through(fleet, traffic, victim, victim.freeze, victim.thaw)
    finally:
        traffic.stop()
    traffic.check(answer_within=30, stall_within=5)
    healed(fleet, "hung node (SIGSTOP)", traffic, lived)
    for file_id, data in traffic.files.items():
        op = traffic.download(file_id, data)
        assert op.ok, op.line()
    # No copy storm: the node was away for less than --repair-after, so no chunk it held
    # before the fault was copied anywhere else.
    for file_id in before:
        for chunk in fleet.file_info(file_id)["chunks"]:
            assert len(chunk["locations"]) == fleet.replicas, chunk
