"""Choosing the node a new chunk goes to.

Rule: weighted round-robin by free space. Each chunk goes to the node whose share of
this upload, relative to its free space, would stay smallest: the node minimising
``(bytes already sent to it + chunk size) / free``. Equal nodes take turns (a, b, c, a, ...);
a node with twice the free space gets about twice the chunks; a file is always spread over
the nodes rather than piled on the emptiest one (which small differences in reported free
space would otherwise cause). Ties break on node id, so the choice is deterministic (pinned
by golden tests).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class NodeCandidate:
    id: str
    url: str
    free: int


@dataclass
class Placement:
    nodes: Sequence[NodeCandidate]
    assigned: dict[str, int] = field(default_factory=dict)

    def effective_free(self, node: NodeCandidate) -> int:
        return node.free - self.assigned.get(node.id, 0)

    def _load_after(self, node: NodeCandidate, size: int) -> float:
        return (self.assigned.get(node.id, 0) + size) / max(node.free, 1)

    def choose(self, size: int, exclude: Iterable[str] = ()) -> NodeCandidate | None:
        """The node for the next chunk of ``size`` bytes, or None if every node is excluded."""
        excluded = set(exclude)
        candidates = [n for n in self.nodes if n.id not in excluded]
        if not candidates:
            return None
        best = min(candidates, key=lambda n: (self._load_after(n, size), n.id))
        self.assigned[best.id] = self.assigned.get(best.id, 0) + size
        return best

    def release(self, node_id: str, size: int) -> None:
        """Forget an assignment that failed, so the node is not penalised for it."""
        self.assigned[node_id] = self.assigned.get(node_id, 0) - size


def rank_targets(nodes: Sequence[NodeCandidate], holders: Iterable[str]) -> list[NodeCandidate]:
    """Nodes that do not hold a chunk yet, most free space first (replication targets)."""
    held = set(holders)
    return sorted((n for n in nodes if n.id not in held), key=lambda n: (-n.free, n.id))
