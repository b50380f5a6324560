"""The GC as a Service: ``run_once()`` is one pass, ``run_forever()`` one every interval.

One pass, in order (each step in ``sweep.py``; one chunk in ``collecting.py``):
1. refresh the nodes (which are active: only those get deletes; the others' replicas
   stay pending until they return);
2. collect each expired, deleted or abandoned file (``collect_file``);
3. sweep each active node's disk for chunks no file references (``sweep_node``).

A failure collecting one file or sweeping one node is counted and logged, and the pass
goes on; whatever it left is taken up again by the next pass (every step is idempotent).
"""

from __future__ import annotations

import logging

from filefleet.core.errors import FilefleetError
from filefleet.gc.fleet import Fleet, GCCounts
from filefleet.gc.sweep import collect_file, files_to_collect, sweep_node
from filefleet.http.controller_api import ControllerClient
from filefleet.http.node_api import NodeClient
from filefleet.runtime.service import Service

log = logging.getLogger(__name__)


class GarbageCollector(Service):
    name = "gc"

    def __init__(
        self,
        controller: ControllerClient,
        nodes: NodeClient,
        *,
        interval: float,
        grace: float,
        sweep_orphans: bool = True,
    ) -> None:
        super().__init__(interval)
        self.fleet = Fleet(controller, nodes, grace)
        self.sweep_orphans = sweep_orphans
        self.totals = GCCounts()  # since start: what /stats shows and tests assert on
        self.last = GCCounts()  # the last pass

    async def run_once(self) -> dict[str, int]:
        counts = GCCounts()
        try:
            await self.fleet.refresh_nodes()
            await self.collect_files(counts)
            if self.sweep_orphans:
                await self.sweep_nodes(counts)
        finally:
            self.last = counts
            self.totals.add(counts)
        return counts.as_dict()

    async def collect_files(self, counts: GCCounts) -> None:
        async for info in files_to_collect(self.fleet):
            try:
                await collect_file(self.fleet, info, counts)
            except FilefleetError as exc:
                counts.failures += 1
                log.warning("collecting file %s failed: %s; retried next pass", info.id, exc)

    async def sweep_nodes(self, counts: GCCounts) -> None:
        for node_id in sorted(self.fleet.active):
            try:
                await sweep_node(self.fleet, node_id, counts)
            except FilefleetError as exc:
                counts.failures += 1
                log.warning("sweeping node %s failed: %s; retried next pass", node_id, exc)
