"""Choosing the node a new chunk goes to.

Rule: the node with the most *effective* free space, where effective free space is the
node's reported free bytes minus what this placement has already sent it. With equal
nodes this is round-robin; a fuller node receives proportionally fewer chunks. Ties
break on node id so the choice is deterministic (pinned by golden tests).
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

    def choose(self, size: int, exclude: Iterable[str] = ()) -> NodeCandidate | None:
        """The node for the next chunk of ``size`` bytes, or None if every node is excluded."""
        excluded = set(exclude)
        candidates = [n for n in self.nodes if n.id not in excluded]
        if not candidates:
            return None
        best = max(candidates, key=lambda n: (self.effective_free(n), _tiebreak(n.id)))
        self.assigned[best.id] = self.assigned.get(best.id, 0) + size
        return best

    def release(self, node_id: str, size: int) -> None:
        """Forget an assignment that failed, so the node is not penalised for it."""
        self.assigned[node_id] = self.assigned.get(node_id, 0) - size


def _tiebreak(node_id: str) -> str:
    # max() picks the largest; invert so the lexically smallest id wins a tie.
    return "".join(chr(0x10FFFF - ord(c)) for c in node_id)


def rank_targets(nodes: Sequence[NodeCandidate], holders: Iterable[str]) -> list[NodeCandidate]:
    """Nodes that do not hold a chunk yet, most free space first (replication targets)."""
    held = set(holders)
    return sorted((n for n in nodes if n.id not in held), key=lambda n: (-n.free, n.id))
