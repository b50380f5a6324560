"""The frontend's view of the fleet: active nodes from the controller, cached briefly.

A draining node (``filefleet nodes drain``) is read from but never chosen for a new chunk.
A download or upload asks for nodes constantly; one controller call per second is enough
to notice a node that came or went (the controller's TTL is 10 s anyway). Until the
controller notices, the nodes that just failed a call are ``suspects``
(``core/suspects.py``): placed last for new chunks and read last.
"""

from __future__ import annotations

import time

from filefleet.core.models import NodeInfo
from filefleet.core.placement import NodeCandidate, placement_candidates
from filefleet.core.suspects import SuspectNodes
from filefleet.http.controller_api import ControllerClient


class NodeDirectory:
    def __init__(self, controller: ControllerClient, max_age: float = 1.0) -> None:
        self.controller = controller
        self.max_age = max_age
        self._nodes: dict[str, NodeInfo] = {}
        self._fetched = float("-inf")
        self.suspects = SuspectNodes()

    async def active(self, *, fresh: bool = False) -> dict[str, NodeInfo]:
        if fresh or time.monotonic() - self._fetched > self.max_age or not self._nodes:
            nodes = await self.controller.active_nodes()
            self._nodes = {n.id: n for n in nodes}
            self._fetched = time.monotonic()
        return self._nodes

    async def candidates(self, *, fresh: bool = True) -> list[NodeCandidate]:
        """Where new chunks may go: the active nodes but the draining ones (which still
        serve reads: ``active`` keeps them)."""
        nodes = await self.active(fresh=fresh)
        return placement_candidates(nodes.values())

    def forget(self) -> None:
        """Drop the cache (after a node failed) so the next call asks the controller."""
        self._fetched = float("-inf")
