"""Nodes that just failed a call: avoided for a while, so one hung node costs one deadline.

The controller learns that a node is gone only after the node TTL (10 s): until then a
hung or cut-off node is still listed as active, and every chunk sent to it, every read
from it, would wait out a whole deadline. So a service remembers the nodes whose calls
failed (a deadline passed, a connection refused or reset) and puts them last: no new
chunk goes to a suspect while another node can take it, and a suspect replica is read
only when the others failed. This is Swift's proxy "error limiting" in small.

A suspicion lasts ``base`` seconds, doubling with each failure in a row up to ``cap``;
one successful call ends it. When it expires the node is simply tried again: if it is
still hung, that costs one more deadline, and a longer suspicion.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")


@dataclass
class SuspectNodes:
    base: float = 5.0
    cap: float = 60.0
    clock: Callable[[], float] = time.monotonic
    _until: dict[str, float] = field(default_factory=dict)
    _strikes: dict[str, int] = field(default_factory=dict)
    marked: int = 0  # counter: failures that made (or kept) a node suspect

    def failed(self, node_id: str) -> None:
        strikes = self._strikes.get(node_id, 0) + 1
        self._strikes[node_id] = strikes
        self._until[node_id] = self.clock() + min(self.cap, self.base * 2 ** (strikes - 1))
        self.marked += 1

    def ok(self, node_id: str) -> None:
        if node_id in self._strikes:
            del self._strikes[node_id]
            self._until.pop(node_id, None)

    def suspected(self, node_id: str) -> bool:
        until = self._until.get(node_id)
        return until is not None and self.clock() < until

    def last(self, items: Iterable[T], node_id: Callable[[T], str]) -> list[T]:
        """``items`` in their order, suspects moved to the end."""
        listed = list(items)
        return [i for i in listed if not self.suspected(node_id(i))] + [
            i for i in listed if self.suspected(node_id(i))
        ]

    def current(self) -> list[str]:
        return sorted(n for n in self._until if self.suspected(n))
