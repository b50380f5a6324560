"""The periodic repair pass: find chunks below R without any event, and copy them.

Every ``--repair-interval`` one pass asks the controller for chunks of live files with
fewer than R live replicas (``GET /chunks/under-replicated``: a replica on a node silent
for longer than node TTL + ``--repair-after`` no longer counts), fewest live replicas
first, and brings each to R with the shared copy step, at most ``--repair-rate`` MiB/s.
This heals what events cannot: a node that died, a replica the scrub quarantined, an
event that was lost (the frontend crashed before publishing, or the queue was down).

A chunk that cannot reach R now (no live holder, too few active nodes) is left for the
next pass, so with fewer than R active nodes the chunks wait, one cheap query per pass,
and heal when a node joins.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

from filefleet.core.errors import FilefleetError
from filefleet.core.models import ChunkInfo
from filefleet.replicator.copy import ChunkCopier
from filefleet.runtime.service import Service

log = logging.getLogger(__name__)

MiB = 1024 * 1024
PAGE = 500


class RateLimit:
    """At most ``rate`` bytes per second on average (a token bucket of one second)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._allowance = rate
        self._last = time.monotonic()

    async def take(self, nbytes: int) -> None:
        now = time.monotonic()
        self._allowance = min(self.rate, self._allowance + (now - self._last) * self.rate)
        self._last = now
        self._allowance -= nbytes
        if self._allowance < 0:
            await asyncio.sleep(-self._allowance / self.rate)


@dataclass
class RepairCounters:
    passes: int = 0
    found: int = 0  # under-replicated chunks seen
    repaired: int = 0  # chunks brought back to R
    waiting: int = 0  # chunks left below R at the end of a pass


class RepairLoop(Service):
    name = "repair"

    def __init__(
        self, copier: ChunkCopier, *, interval: float, rate_mib: float, group: int = 16
    ) -> None:
        super().__init__(interval=interval)
        self.group = group
        self.copier = copier
        self.limit = RateLimit(rate_mib * MiB)
        self.counters = RepairCounters()

    async def run_forever(self) -> None:
        """The first pass comes one interval after start: fresh uploads have their events,
        and a fleet that is restarting gets time to check in before anything is judged."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=self.interval)
        await super().run_forever()

    async def run_once(self) -> dict[str, int]:
        """One pass: pages of endangered chunks until a page brings nothing new."""
        tried: set[str] = set()
        repaired = waiting = 0
        while True:
            page = await self.copier.controller.under_replicated(
                replicas=self.copier.replicas,
                repair_after=self.copier.repair_after,
                limit=PAGE,
            )
            fresh = [c for c in page if c.id not in tried]
            if not fresh:
                break
            tried.update(c.id for c in fresh)
            # In page order (fewest live replicas first), a group of chunks at a time.
            for start in range(0, len(fresh), self.group):
                healed = await self.repair_group(fresh[start : start + self.group])
                repaired += healed
                waiting += min(self.group, len(fresh) - start) - healed
            if len(page) < PAGE:
                break
        self.counters.passes += 1
        self.counters.found += len(tried)
        self.counters.repaired += repaired
        self.counters.waiting = waiting
        return {"under_replicated": len(tried), "repaired": repaired, "waiting": waiting}

    async def repair_group(self, group: list[ChunkInfo]) -> int:
        """Bring a group of chunks to R (at the bounded rate); how many got there."""
        await self.limit.take(sum(c.size * max(1, self.copier.replicas - c.live) for c in group))
        try:
            outcomes = await self.copier.replicate_many([c.id for c in group])
        except FilefleetError as exc:
            log.warning("repairing %d chunks failed: %s", len(group), exc.message)
            return 0
        for chunk_id, outcome in outcomes.items():
            if not outcome.done:
                log.debug("chunk %s stays below R for now: %s", chunk_id, outcome.reason)
        return sum(outcome.done for outcome in outcomes.values())
