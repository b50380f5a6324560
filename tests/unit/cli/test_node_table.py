"""How ``status`` and ``nodes list`` show nodes and disks: plain rows, no terminal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from filefleet.cli.node_table import (
    LIST_COLUMNS,
    STATUS_COLUMNS,
    disk_summary,
    node_rows,
    title,
)
from filefleet.core.health import disks
from filefleet.core.models import NodeStatus

NOW = datetime(2030, 1, 1, tzinfo=UTC)
GiB = 1024**3


def node(n: int, name: str | None, *, fs: str | None = "m/801", active: bool = True,
         draining: bool = False, free: int = 10 * GiB) -> NodeStatus:  # fmt: skip
    return NodeStatus(id=f"{n:032x}", url=f"http://h:{8200 + n}", name=name, filesystem=fs,
                      last_ping=NOW - timedelta(seconds=n), capacity=100 * GiB, free=free,
                      chunks=n, draining=draining, active=active)  # fmt: skip


def test_nodes_by_name_problems_first() -> None:
    nodes = [node(1, "b"), node(2, "a"), node(3, "z", active=False), node(4, "c", draining=True),
             node(5, None)]  # fmt: skip
    rows = node_rows(nodes, NOW, STATUS_COLUMNS, waiting={f"{4:032x}": 7})
    assert [(r[0], r[1]) for r in rows] == [
        ("z", "dead"),
        ("c", "draining (7 to copy)"),
        (f"{5:032x}", "active"),  # a node that reports no name is shown by its id
        ("a", "active"),
        ("b", "active"),
    ]
    assert rows[3] == ["a", "active", "2", "10.0 GiB", "2.0s ago", "http://h:8202"]
    listed = node_rows([node(1, "b")], NOW, LIST_COLUMNS)
    assert listed == [["b", "active", f"{1:032x}", "1", "1.0s ago", "http://h:8201"]]
    drained = node_rows([node(4, "c", draining=True)], NOW, LIST_COLUMNS, {f"{4:032x}": 0})
    assert drained[0][1] == "drained"


def test_a_long_table_says_how_much_it_shows() -> None:
    nodes = [node(n, f"n{n:03d}") for n in range(1, 61)]
    rows = node_rows(nodes, NOW, STATUS_COLUMNS)
    assert len(rows) == 50
    assert title("Nodes", len(rows), len(nodes)) == "Nodes (first 50 of 60)"
    assert title("Nodes", 3, 3) == "Nodes (3)"


def test_nodes_sharing_a_filesystem_count_as_one_disk() -> None:
    nodes = [
        node(1, "a", free=10 * GiB),
        node(2, "b", free=11 * GiB),
        node(3, "c", fs="m/802", free=5 * GiB),
        node(4, "old", fs=None, free=1 * GiB),
    ]
    found = disks(nodes)
    assert [(d.nodes, d.free, d.capacity) for d in found] == [
        (["a", "b"], 11 * GiB, 100 * GiB),
        (["c"], 5 * GiB, 100 * GiB),
        (["old"], 1 * GiB, 100 * GiB),
    ]
    assert disk_summary(found) == "3 disks: 17.0 GiB free of 300.0 GiB"
