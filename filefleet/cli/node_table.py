"""The nodes and disks as ``filefleet status`` and ``filefleet nodes list`` print them.

Nodes are shown by name (``--name`` of ``filefleet node``, by default its data dir's
name; the id for a node that reports none), problems first: dead, then draining, then the
rest, each by name. A long table says so: ``Nodes (first 50 of 120)``. The rows are built
here without Rich (``node_rows``, tested as plain data); ``table`` lays them out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from filefleet.core.health import Disk
from filefleet.core.lifecycle import node_label, node_state
from filefleet.core.models import NodeStatus
from filefleet.core.units import format_age, format_size

if TYPE_CHECKING:
    from rich.table import Table

NODES_SHOWN = 50
# What each table shows of a node (a terminal is often 80 columns wide): `status` the
# space, `nodes list` the id an operator may type.
STATUS_COLUMNS = ("node", "state", "chunks", "free", "last ping", "url")
LIST_COLUMNS = ("node", "state", "id", "chunks", "last ping", "url")
STATE_STYLE = {"active": "green", "draining": "yellow", "drained": "cyan", "dead": "red"}
_ORDER = {"dead": 0, "draining": 1, "drained": 2, "active": 3}


def title(what: str, shown: int, total: int) -> str:
    """``Nodes (3)``, or ``Nodes (first 50 of 120)`` when not every row is shown."""
    return f"{what} ({total})" if shown >= total else f"{what} (first {shown} of {total})"


def ordered(nodes: Sequence[NodeStatus], waiting: Mapping[str, int]) -> list[NodeStatus]:
    """Problems first (dead, draining, drained), then by name."""
    return sorted(
        nodes, key=lambda n: (_ORDER[node_state(n, waiting.get(n.id))], node_label(n), n.id)
    )


def node_rows(
    nodes: Sequence[NodeStatus],
    now: datetime,
    columns: Sequence[str],
    waiting: Mapping[str, int] | None = None,
    limit: int = NODES_SHOWN,
) -> list[list[str]]:
    """One row of ``columns`` per node, at most ``limit``. ``waiting``: for draining nodes,
    chunks still short of R elsewhere (shown beside the state)."""
    waiting = waiting or {}
    rows = []
    for node in ordered(nodes, waiting)[:limit]:
        state: str = node_state(node, waiting.get(node.id))
        if state == "draining" and node.id in waiting:
            state += f" ({waiting[node.id]} to copy)"
        cells = {
            "node": node_label(node),
            "state": state,
            "id": node.id,
            "url": node.url,
            "free": format_size(node.free),
            "capacity": format_size(node.capacity),
            "chunks": str(node.chunks),
            "last ping": format_age(node.last_ping, now),
        }
        rows.append([cells[c] for c in columns])
    return rows


def disk_rows(disks: Sequence[Disk]) -> list[list[str]]:
    return [
        [", ".join(d.nodes), format_size(d.free), format_size(d.capacity), d.filesystem or "?"]
        for d in disks
    ]


def disk_summary(disks: Sequence[Disk]) -> str:
    """``2 disks: 30.0 GiB free of 100.0 GiB``: each filesystem once."""
    free = sum(d.free for d in disks)
    capacity = sum(d.capacity for d in disks)
    plural = "s" * (len(disks) != 1)
    return f"{len(disks)} disk{plural}: {format_size(free)} free of {format_size(capacity)}"


def table(name: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> Table:
    from rich.table import Table  # Rich is loaded only by the commands that print tables

    shown = Table(title=name)
    for column in columns:
        shown.add_column(column)
    state = columns.index("state") if "state" in columns else None
    for row in rows:
        style = STATE_STYLE.get(row[state].split(" ", 1)[0]) if state is not None else None
        if state is not None and style:  # a node's state, in its colour
            row = [*row[:state], f"[{style}]{row[state]}[/]", *row[state + 1 :]]
        shown.add_row(*row)
    return shown
