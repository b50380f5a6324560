"""``filefleet status`` from a controller's answer: the tables, the verdict, the JSON and
the exit code, without a cluster."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

from rich.console import Console

from filefleet.cli.status import Snapshot, render
from filefleet.core.health import DeadLetterView, StateTotals, StoreTotals, cluster_status
from filefleet.core.models import ChunkInfo, NodeStatus

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def node(n: int, *, active: bool = True, draining: bool = False) -> NodeStatus:
    return NodeStatus(id=f"{n:032x}", url=f"http://h:{n}", name=f"node-{n}", filesystem="m/1",
                      last_ping=NOW - timedelta(seconds=1), capacity=1 << 30, free=1 << 29,
                      chunks=3, draining=draining, active=active)  # fmt: skip


def totals(below: int) -> StoreTotals:
    files = {s: StateTotals() for s in ("uploading", "active", "deleting")}
    files["active"] = StateTotals(files=1, bytes=30)
    return StoreTotals(files=files, chunks=40, replica_bytes=80, live_chunks=40, below=below,
                       single_copy=below // 2, collecting_chunks=0,
                       collecting_bytes=0)  # fmt: skip


def below(n: int) -> ChunkInfo:
    return ChunkInfo(id=f"{n:064x}", size=10, locations=[], live=1, references=1, collecting=False)


def snapshot(nodes: list[NodeStatus], short: int, dead: int = 0) -> Snapshot:
    report = cluster_status(2, nodes, [below(i) for i in range(min(short, 20))], totals(short))
    letters = [DeadLetterView(chunk=f"{i:064x}", attempts=5, failed_at=NOW.timestamp(),
                              reason="no holder") for i in range(dead)]  # fmt: skip
    return Snapshot(report, dead_letters=letters, queue_read=True)


def shown(snap: Snapshot) -> str:
    out = io.StringIO()
    render(snap, Console(file=out, width=80, color_system=None), NOW)
    return out.getvalue()


def test_a_healthy_fleet() -> None:
    snap = snapshot([node(1), node(2), node(3)], short=0)
    assert snap.healthy
    text = shown(snap)
    assert "node-1" in text and "Disks (1 disk: 512.0 MiB free of 1.0 GiB)" in text
    last = text.rstrip().splitlines()[-1]  # the verdict, whole on one line
    assert last.startswith("healthy: 100.0% of 40 chunks") and last.endswith("0 dead letters")
    assert snap.as_json()["healthy"] is True and snap.as_json()["disks"][0]["nodes"] == [
        "node-1", "node-2", "node-3"
    ]  # fmt: skip


def test_a_dead_node_a_chunk_below_r_or_a_dead_letter_is_degraded() -> None:
    assert not snapshot([node(1), node(2, active=False)], short=0).healthy
    short = snapshot([node(1), node(2)], short=25)
    assert not short.healthy
    text = shown(short)
    assert "Chunks below R (first 20 of 25); on a single copy: 12" in text
    assert "degraded: 37.5% of 40 chunks" in text
    lettered = snapshot([node(1), node(2)], short=0, dead=21)
    assert not lettered.healthy and "Dead letters (first 20 of 21)" in shown(lettered)


def test_a_draining_node_is_shown_as_such_and_healthy_once_its_chunks_are_copied() -> None:
    snap = snapshot([node(1), node(2), node(3, draining=True)], short=0)
    assert snap.healthy and "draining" in shown(snap)
