"""Scenario 2: a node on its own host loses its link in the middle of traffic.

Two ways a link goes: ``refuse`` (the link is down and the rest of the fleet is told at
once: connections are refused) and ``drop`` (the far end vanishes: packets are silently
dropped, and only deadlines notice). Either way uploads answer in bounded time, downloads
of replicated files do not stall, and a file deleted while the node is away never comes
back from the node's copy: its chunks are freed there once the link returns. Afterwards
the fleet heals by itself to ``filefleet fsck`` clean.
"""

from __future__ import annotations

import os

import pytest

from tests.faults.conftest import MakeFleet
from tests.faults.story import clients, healed, holder_of_most, live_through, upload_some
from tests.harness.cluster import http
from tests.harness.hosts import Cut
from tests.harness.processes import wait_for

MiB = 1024 * 1024


@pytest.mark.parametrize("how", ["refuse", "drop"])
def test_a_partitioned_node_holds_nothing_up_and_frees_what_was_deleted(
    make_fleet: MakeFleet, how: Cut
) -> None:
    fleet = make_fleet(
        nodes=3,
        replicator_args=["--repair-interval", "1s", "--repair-after", "60s"],
        # A short grace, so that the deleted file's chunks may be freed within the test.
        gc_args=["--gc-interval", "1s", "--gc-grace", "20s"],
    )
    before = upload_some(fleet, 3, 3 * MiB)
    doomed_data = os.urandom(2 * MiB)
    doomed = fleet.upload(doomed_data, "doomed.bin")
    fleet.wait_whole([*before, doomed["id"]])
    victim = holder_of_most(fleet, [doomed["id"]])
    doomed_chunks = {c["id"] for c in fleet.file_info(doomed["id"])["chunks"]}
    assert doomed_chunks & victim.chunk_ids()

    def delete_while_away() -> None:
        """The owner deletes a file while one of its replicas is out of reach."""
        deleted = http("DELETE", doomed["delete_url"])
        assert deleted.status in (200, 204), deleted.body
        assert http("GET", f"{fleet.url}/download/{doomed['id']}").status in (404, 410)

    traffic = clients(fleet, before)
    try:
        lived = live_through(
            fleet, traffic, victim, lambda: victim.host.cut(how), victim.host.heal,
            meanwhile=delete_while_away,
        )  # fmt: skip
    finally:
        traffic.stop()
    traffic.check(answer_within=30, stall_within=5)
    healed(fleet, f"partition ({how})", traffic, lived)

    # The deleted file never comes back, and its chunks are freed on the returning node.
    wait_for(
        lambda: not (doomed_chunks & victim.chunk_ids()),
        timeout=60,
        interval=0.5,
        what="the deleted file's chunks freed on the node that was away",
    )
    assert http("GET", f"{fleet.url}/download/{doomed['id']}").status in (404, 410)
    for file_id, data in traffic.files.items():
        op = traffic.download(file_id, data)
        assert op.ok, op.line()
