"""Choosing the node a new chunk goes to, and the replica a read tries first.

Rule: weighted round-robin by free space. Each chunk goes to the node whose share of
this upload, relative to its free space, would stay smallest: the node minimising
``(bytes already sent to it + chunk size) / free``. Equal nodes take turns (a, b, c, a, ...);
a node with twice the free space gets about twice the chunks; a file is always spread over
the nodes rather than piled on the emptiest one (which small differences in reported free
space would otherwise cause). Ties break on node id, so the choice is deterministic (pinned
by golden tests).

Where an upload starts: its first chunk goes to the node its chunk id draws, weighted by
free space (weighted rendezvous hashing: each node scores ``free / -ln(draw)``, the draw a
hash of the chunk id and the node id, highest wins; a node wins with a chance in
proportion to its free space). Every upload starting at the node with the most free space
(or, free space equal, the lowest id) put the first copy of every one-chunk file, the
commonest kind, on one node; drawn, they spread over the fleet as its free space does.

Reading (``read_order``): a chunk's replicas are tried in an order of its own, drawn from
the chunk id and each node id (rendezvous hashing: each pair scores a hash, highest
first), so the reads of a file spread evenly over every node holding its chunks, and the
same chunk is always read from the same node first. The controller lists locations by
node id; read in that order, the node with the lowest id served two thirds of every read
in a fleet of three at R=2 and the highest none. Downloads and the replicator's copy
sources use it; nodes under suspicion still go last (``core/suspects.py``).

A node being drained is never a candidate (``placement_candidates``). Two rules come
before the choice: a node whose free space (as it reported it, less what this
upload already sent it) cannot take the chunk is never chosen, so a full node or one
below its reserve gets nothing; and a node under suspicion (``avoid``: it just failed a
call, ``core/suspects.py``) is chosen only when no other node can take the chunk.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class NodeCandidate:
    id: str
    url: str
    free: int


class _Placeable(Protocol):
    id: str
    url: str
    free: int
    draining: bool


def placement_candidates(nodes: Iterable[_Placeable]) -> list[NodeCandidate]:
    """The nodes a new chunk may go to: every one given but those being drained (an
    operator is emptying them: ``filefleet nodes drain``)."""
    return [NodeCandidate(n.id, n.url, n.free) for n in nodes if not n.draining]


def _never(_: str) -> bool:
    return False


@dataclass
class Placement:
    nodes: Sequence[NodeCandidate]
    assigned: dict[str, int] = field(default_factory=dict)
    avoid: Callable[[str], bool] = _never

    def effective_free(self, node: NodeCandidate) -> int:
        return node.free - self.assigned.get(node.id, 0)

    def _load_after(self, node: NodeCandidate, size: int) -> float:
        return (self.assigned.get(node.id, 0) + size) / max(node.free, 1)

    def choose(
        self, size: int, exclude: Iterable[str] = (), chunk_id: str | None = None
    ) -> NodeCandidate | None:
        """The node for the next chunk of ``size`` bytes, or None if every node is excluded
        or has no room. The upload's first chunk, given its ``chunk_id``, goes to the node
        that id draws; every later one takes its turn."""
        excluded = set(exclude)
        candidates = [
            n for n in self.nodes if n.id not in excluded and self.effective_free(n) >= size
        ]
        trusted = [n for n in candidates if not self.avoid(n.id)]
        candidates = trusted or candidates
        if not candidates:
            return None
        if chunk_id is not None and not any(self.assigned.values()):
            best = max(candidates, key=lambda n: _weighted_score(chunk_id, n.id, n.free))
        else:
            best = min(candidates, key=lambda n: (self._load_after(n, size), n.id))
        self.assigned[best.id] = self.assigned.get(best.id, 0) + size
        return best

    def full(self, node_id: str) -> None:
        """The node refused a chunk for want of space: choose it no more in this upload."""
        self.nodes = [n for n in self.nodes if n.id != node_id]

    def release(self, node_id: str, size: int) -> None:
        """Forget an assignment that failed, so the node is not penalised for it."""
        self.assigned[node_id] = self.assigned.get(node_id, 0) - size


def rank_targets(
    nodes: Sequence[NodeCandidate], holders: Iterable[str], size: int = 0
) -> list[NodeCandidate]:
    """Nodes that do not hold a chunk yet and have room for its ``size`` bytes, most free
    space first (replication targets)."""
    held = set(holders)
    fits = (n for n in nodes if n.id not in held and n.free >= size)
    return sorted(fits, key=lambda n: (-n.free, n.id))


def read_order(chunk_id: str, replicas: Iterable[T], node_id: Callable[[T], str]) -> list[T]:
    """``replicas`` in the order a read of the chunk tries them: by the draw of the chunk
    id and each replica's node id, highest first (whatever order they came in)."""
    return sorted(replicas, key=lambda replica: _draw(chunk_id, node_id(replica)), reverse=True)


def _draw(chunk_id: str, node_id: str) -> float:
    """A number in (0, 1), the same for the same chunk and node, evenly spread over pairs."""
    digest = hashlib.sha256(f"{chunk_id}/{node_id}".encode()).digest()
    return (int.from_bytes(digest[:8], "big") + 1) / (2**64 + 2)


def _weighted_score(chunk_id: str, node_id: str, weight: int) -> float:
    """Weighted rendezvous: the highest of these wins with a chance of weight / all weights."""
    return max(weight, 1) / -math.log(_draw(chunk_id, node_id))
