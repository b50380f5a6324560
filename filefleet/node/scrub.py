"""The scrubber: re-hash stored chunks at a bounded rate, quarantine the rotten ones.

One pass (``run_once``) re-hashes about one second's worth of ``--scrub-rate`` bytes, going
on in id order from where the previous pass stopped and starting over at the end of the
store. Each chunk counts as its size plus ``PER_CHUNK`` bytes: opening, reading and
hashing a file costs a fixed ~0.4 ms whatever its size (about what hashing 512 KiB
does), so a rate counted in bytes alone let a node of small chunks re-hash thousands of
them a second. Measured on the 2-core Intel machine of docs/benchmarks.md: ~130 chunks
of 1 kB per node kept each node at 0.05 of a core, walking them all every second; a store
of 1 kB chunks could have taken 8,000 a second at the default 8 MiB/s, cores' worth (now
0.01 of a core, and at most 16 small chunks a second).

A chunk whose bytes no longer hash to its id is moved aside to ``<data>/quarantine/`` and
reported to the controller (``quarantine.py``: the order, and what a failure between the
two leaves behind). Reports that failed are tried again at the start of every pass.
"""

from __future__ import annotations

import asyncio
import logging

from filefleet.core.errors import NotFound
from filefleet.core.models import ChunkVerified
from filefleet.http.controller_api import ControllerClient
from filefleet.node.chunkstore import ChunkStore
from filefleet.node.models import ScrubStats
from filefleet.node.quarantine import Quarantine
from filefleet.runtime.service import Service

log = logging.getLogger(__name__)

MiB = 1024 * 1024
MIN_PAUSE = 1.0  # seconds between passes, at least
LIST_BATCH = 256
PER_CHUNK = 512 * 1024  # what a chunk costs beyond its bytes, in bytes of the rate


class Scrubber(Service):
    name = "scrub"
    pass_log_level = logging.DEBUG  # corrupt chunks get their own warning

    def __init__(
        self, store: ChunkStore, controller: ControllerClient | None, rate_mib: float
    ) -> None:
        super().__init__(interval=MIN_PAUSE)
        self.store = store
        self.quarantine = Quarantine(store, controller)
        self.rate = rate_mib * MiB  # bytes per second; 0 disables
        self._cursor: str | None = None  # last id checked in the current walk
        self._queue: list[str] = []  # ids listed after the cursor, not yet checked
        # counters, asserted on by tests and shown in /stats
        self.scanned = 0
        self.scanned_bytes = 0
        self.walks = 0

    @property
    def corrupt(self) -> int:
        return self.quarantine.corrupt

    @property
    def reported(self) -> int:
        return self.quarantine.reported

    @property
    def unreported(self) -> set[str]:
        return self.quarantine.unreported

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    async def run_once(self) -> dict[str, int]:
        """Report what is pending, then re-hash chunks until one second's budget is used."""
        reported = await self.quarantine.report_pending()
        scanned = corrupt = cost = 0
        while self.enabled and cost < self.rate:
            chunk_id = await self._next_chunk()
            if chunk_id is None:
                break  # end of a walk; the next pass starts over from the first id
            size, ok = await self.scrub_chunk(chunk_id)
            scanned += 1
            cost += size + PER_CHUNK
            corrupt += not ok
        # Pace the loop: this pass is worth cost / rate seconds.
        if self.enabled:
            self.interval = max(MIN_PAUSE, cost / self.rate)
        return {"scanned": scanned, "corrupt": corrupt, "reported": reported}

    async def scrub_chunk(self, chunk_id: str) -> tuple[int, bool]:
        """Re-hash one chunk; quarantine and report it if corrupt. (bytes read, healthy?)"""
        try:
            checked = await self.check_chunk(chunk_id)
        except NotFound:
            return 0, True  # deleted since it was listed
        return checked.size, not checked.quarantined

    async def check_chunk(self, chunk_id: str) -> ChunkVerified:
        """Re-hash one chunk (NotFound if it is not here); a corrupt one is quarantined and
        reported. The scrubber's walk and ``POST /chunk/{id}/verify`` (fsck) both come here,
        so a rotten replica is handled the same way whoever finds it."""
        result = await self.store.verify(chunk_id)
        self.scanned += 1
        self.scanned_bytes += result.size
        checked = ChunkVerified(id=chunk_id, size=result.size, ok=result.ok, quarantined=False)
        if result.ok or not await self.quarantine.isolate(chunk_id, result.inode):
            return checked  # healthy, or deleted or replaced by a verified put meanwhile
        return checked.model_copy(update={"quarantined": True})

    async def _next_chunk(self) -> str | None:
        if not self._queue:
            page, _ = await self.store.list(self._cursor, LIST_BATCH)
            if not page:
                self._cursor = None
                self.walks += 1
                return None
            self._queue = page
        self._cursor = self._queue.pop(0)
        return self._cursor

    def stats(self) -> ScrubStats:
        return ScrubStats(
            rate=self.rate / MiB,
            scanned=self.scanned,
            scanned_bytes=self.scanned_bytes,
            corrupt=self.corrupt,
            reported=self.reported,
            unreported=len(self.unreported),
            passes=self.walks,
        )


async def scrub_all(store: ChunkStore, controller: ControllerClient | None = None) -> Scrubber:
    """One full walk over the store, unthrottled (tools and tests)."""
    scrubber = Scrubber(store, controller, rate_mib=float("inf"))
    walks = scrubber.walks
    while scrubber.walks == walks:
        await scrubber.run_once()
        await asyncio.sleep(0)
    return scrubber
