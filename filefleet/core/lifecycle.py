"""A node's life as an operator sees it, and the rules for changing it. Pure: no I/O.

    joins (first ping) ──► active ──drain──► draining ──(every chunk at R elsewhere)──► drained
                             │  ▲                │                                       │
                             │  └──── undrain ───┘                                       │
                             ▼                                                           ▼
                    dead (no ping within the node TTL) ─────── forget ───────► (record gone)

- **active**: pinged within the node TTL, serving: gets new chunks, its replicas count.
- **draining**: still pinging and serving reads, but gets no new chunk (neither an upload's
  nor a copy's), and its replicas no longer count toward R, so repair copies them to other
  nodes (HDFS's decommissioning). **drained**: none of its chunks waits any more: every
  chunk it holds has R replicas elsewhere; stop it and forget it.
- **dead**: no ping within the node TTL (draining or not). Its replicas still count for
  ``--repair-after`` (a restart is not a loss), then repair copies them.
- **forget** removes the node's record and every location naming it: its chunks drop
  below R at once and are repaired from their other replicas, and the fleet's verdict no
  longer counts it (removing a device from a Swift ring). Forgetting an active node needs
  ``force``: it is still serving, and would register again at its next ping, holding no
  listed chunk.

Drain is refused (without ``force``) when fewer than R other active, serving nodes remain:
the chunks could not reach R elsewhere, and the drain would never finish.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from filefleet.core.errors import Conflict, InvalidInput, NotFound
from filefleet.core.models import NodeStatus

NodeState = Literal["active", "draining", "drained", "dead"]


def node_state(node: NodeStatus, waiting: int | None = None) -> NodeState:
    """What the node is now; ``waiting`` (chunks still short of R elsewhere) tells a
    draining node from a drained one, when it is known."""
    if not node.active:
        return "dead"
    if node.draining:
        return "drained" if waiting == 0 else "draining"
    return "active"


def node_label(node: NodeStatus) -> str:
    """How a node is named to an operator: its name when it reported one, else its id."""
    return node.name or node.id


def check_drain(
    node: NodeStatus, nodes: Sequence[NodeStatus], replicas: int, *, force: bool
) -> None:
    """Raise Conflict when draining ``node`` could never finish (unless ``force``)."""
    others = [n for n in nodes if n.id != node.id and n.active and not n.draining]
    if force or len(others) >= replicas:
        return
    raise Conflict(
        f"draining {node_label(node)} would leave {len(others)} active serving node(s) "
        f"to hold {replicas} replicas of each chunk: the drain could not finish. Add a node "
        "first, or drain anyway with force (`filefleet nodes drain --force`: new chunks "
        "avoid the node at once)"
    )


def check_forget(node: NodeStatus, now: datetime, *, force: bool) -> None:
    """Raise Conflict when ``node`` is active and ``force`` was not given."""
    if force or not node.active:
        return
    age = (now - node.last_ping).total_seconds()
    raise Conflict(
        f"{node_label(node)} is active (last ping {age:.1f}s ago): stop it first, or drain "
        "it, or forget it anyway with force (`filefleet nodes forget --force`; it would "
        "register again at its next ping, holding no chunk the metadata lists)"
    )


def find_node(nodes: Sequence[NodeStatus], key: str) -> NodeStatus:
    """The node ``key`` names: its id, or a name that exactly one node has."""
    for node in nodes:
        if node.id == key:
            return node
    named = [n for n in nodes if n.name == key]
    if len(named) == 1:
        return named[0]
    if named:
        ids = ", ".join(n.id for n in named)
        raise InvalidInput(f"{len(named)} nodes are named {key!r} ({ids}): give the node's id")
    known = ", ".join(f"{n.id} ({n.name})" if n.name else n.id for n in nodes) or "none"
    raise NotFound(f"no node {key!r}; known nodes: {known}")
