"""What one GC pass works with (``Fleet``: the controller, the nodes, the grace) and what
it counts (``GCCounts``), shared by the pass's steps (``sweep.py``, ``collecting.py``,
``missing.py``)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from filefleet.http.controller_api import ControllerClient
from filefleet.http.node_api import NodeClient

PAGE = 100  # files per controller page
NODE_PAGE = 1000  # chunk ids per node page


@dataclass
class GCCounts:
    """What the GC did; one per pass (``run_once`` returns it) and one running total."""

    files_marked: int = 0  # files newly marked `deleting` by the GC
    files_collected: int = 0  # file records removed
    chunks_deleted: int = 0  # replicas deleted from a node (location removed)
    freed_bytes: int = 0  # their bytes (an orphan's size is not known: counted apart)
    chunk_records_removed: int = 0  # chunk records removed (no file, no location left)
    deletes_pending: int = 0  # replicas left on inactive nodes, to delete when they return
    orphans_deleted: int = 0  # chunks deleted from a node that had no record at all
    lost_replicas: int = 0  # locations dropped: the node was listed but did not hold it
    conflicts: int = 0  # node refused (within grace), or an upload claimed a marked chunk
    failures: int = 0  # a node or the controller failed a step; retried next pass

    def add(self, other: GCCounts) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class Fleet:
    """What one pass works with: the controller, the nodes, and the grace."""

    controller: ControllerClient
    nodes: NodeClient
    grace: float
    urls: dict[str, str] = field(default_factory=dict)  # node id -> base URL (every known)
    active: set[str] = field(default_factory=set)  # node ids active now

    async def refresh_nodes(self) -> None:
        known = await self.controller.all_nodes()
        self.urls = {n.id: n.url.rstrip("/") for n in known}
        self.active = {n.id for n in known if n.active}
