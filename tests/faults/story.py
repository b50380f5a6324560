"""The steps the fault scenarios share: files before the fault, the node to hurt, and the
fault itself lived through under traffic."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from tests.harness.fleet import Fleet, FleetNode
from tests.harness.processes import wait_for
from tests.harness.traffic import Traffic


def upload_some(fleet: Fleet, count: int, size: int) -> dict[str, bytes]:
    """``count`` files of fresh random bytes: file id -> bytes."""
    files: dict[str, bytes] = {}
    for index in range(count):
        data = os.urandom(size)
        files[fleet.upload(data, f"before-{index}.bin")["id"]] = data
    return files


def holder_of_most(fleet: Fleet, file_ids: list[str]) -> FleetNode:
    """The node the controller lists for the most chunks of these files."""
    counts = {n.node_id: 0 for n in fleet.nodes}
    for file_id in file_ids:
        for chunk in fleet.file_info(file_id)["chunks"]:
            for node in chunk["locations"]:
                counts[node] = counts.get(node, 0) + 1
    best = max(counts, key=lambda node: counts[node])
    return next(n for n in fleet.nodes if n.node_id == best)


def clients(fleet: Fleet, files: dict[str, bytes], size: int = 4 * 1024 * 1024) -> Traffic:
    """Four clients uploading ``size`` bytes at a time and downloading files with R
    replicas (a read from a faulty node is hedged to another replica; a file whose one
    copy is on it waits for it or fails, and the window in which a fresh file has one copy
    is the replicator's to close)."""
    traffic = Traffic(
        fleet.url, clients=4, size=size, give_up=120, files=dict(files),
        downloadable=fleet.replicated,
    )  # fmt: skip
    return traffic.start()


@dataclass
class Lived:
    detected: float  # seconds from the fault to the node leaving the active nodes
    rejoined: float  # seconds from the end of the fault to the node being active again
    ended: float  # when the fault ended (time.monotonic())


def healed(fleet: Fleet, scenario: str, traffic: Traffic, lived: Lived | None = None) -> None:
    """Wait for ``filefleet fsck`` clean, then print the scenario's figures on one line
    (``make faults`` shows them; docs/reliability.md quotes them)."""
    fleet.wait_clean()
    figures = traffic.summary()
    if lived is not None:
        heal = time.monotonic() - lived.ended
        figures += (
            f"; inactive after {lived.detected:.1f}s, active again {lived.rejoined:.1f}s"
            f" after the fault, fsck clean {heal:.1f}s after it"
        )
    print(f"\nFAULT {scenario}: {figures}")


def live_through(
    fleet: Fleet,
    traffic: Traffic,
    victim: FleetNode,
    begin: Callable[[], None],
    end: Callable[[], None],
    meanwhile: Callable[[], None] = lambda: None,
) -> Lived:
    """With ``traffic`` running: a few uploads, then ``begin`` the fault; once the victim is
    inactive, ``meanwhile``, and more uploads and downloads; ``end`` the fault (always);
    the victim active again, and a few more uploads."""
    victim_id = victim.node_id
    wait_for(lambda: traffic.count("upload") >= 4, timeout=30, what="uploads before the fault")
    begin()
    started = time.monotonic()
    try:
        wait_for(
            lambda: victim_id not in fleet.active_node_ids(),
            timeout=20,
            what="the node leaving the active nodes",
        )
        detected = time.monotonic() - started
        meanwhile()
        uploads = traffic.count("upload")
        wait_for(
            lambda: traffic.count("upload") >= uploads + 6 and traffic.count("download") >= 6,
            timeout=60,
            what="uploads and downloads during the fault",
        )
    finally:
        end()
    ended = time.monotonic()
    fleet.wait_active(len(fleet.nodes))
    rejoined = time.monotonic() - ended
    uploads = traffic.count("upload")
    wait_for(lambda: traffic.count("upload") >= uploads + 4, timeout=30, what="uploads after")
    return Lived(detected, rejoined, ended)
