"""The scrubber: re-hash stored chunks at a bounded rate, quarantine the rotten ones.

One pass (``run_once``) re-hashes about one second's worth of ``--scrub-rate`` bytes, going
on in id order from where the previous pass stopped and starting over at the end of the
store. A chunk whose bytes no longer hash to its id is moved to ``<data>/quarantine/`` and
reported to the controller (``DELETE /chunk/{id}/locations/{node id}``), which then
counts one replica fewer and lets repair copy a healthy one back (DESIGN §4, §7).

Order, and what a failure leaves behind: quarantine first, then report. Crash between the
two: the controller still lists this node; a read from it gets 404 and the frontend
reports it, the GC's reconciliation drops it too. A failed report stays in
``unreported`` and is retried at the start of every pass.
"""

from __future__ import annotations

import asyncio
import logging

from filefleet.core.errors import FilefleetError, NotFound
from filefleet.core.models import ChunkVerified
from filefleet.http.controller_api import ControllerClient
from filefleet.node.chunkstore import ChunkStore
from filefleet.node.models import ScrubStats
from filefleet.runtime.service import Service

log = logging.getLogger(__name__)

MiB = 1024 * 1024
MIN_PAUSE = 1.0  # seconds between passes, at least
LIST_BATCH = 256


class Scrubber(Service):
    name = "scrub"
    pass_log_level = logging.DEBUG  # corrupt chunks get their own warning

    def __init__(
        self, store: ChunkStore, controller: ControllerClient | None, rate_mib: float
    ) -> None:
        super().__init__(interval=MIN_PAUSE)
        self.store = store
        self.controller = controller
        self.rate = rate_mib * MiB  # bytes per second; 0 disables
        self._cursor: str | None = None  # last id checked in the current walk
        self._queue: list[str] = []  # ids listed after the cursor, not yet checked
        self.unreported: set[str] = set()
        # counters, asserted on by tests and shown in /stats
        self.scanned = 0
        self.scanned_bytes = 0
        self.corrupt = 0
        self.reported = 0
        self.walks = 0

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    async def run_once(self) -> dict[str, int]:
        """Report what is pending, then re-hash chunks until one second's budget is used."""
        reported = await self.report_pending()
        scanned = corrupt = nbytes = 0
        while self.enabled and nbytes < self.rate:
            chunk_id = await self._next_chunk()
            if chunk_id is None:
                break  # end of a walk; the next pass starts over from the first id
            size, ok = await self.scrub_chunk(chunk_id)
            scanned += 1
            nbytes += size
            corrupt += not ok
        # Pace the loop: the bytes of this pass are worth nbytes / rate seconds.
        if self.enabled:
            self.interval = max(MIN_PAUSE, nbytes / self.rate)
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
        if result.ok:
            return checked
        moved = await self.store.quarantine(chunk_id, inode=result.inode)
        if moved is None:
            return checked  # deleted or replaced by a verified put meanwhile
        self.corrupt += 1
        log.warning("chunk %s is corrupt; moved to %s", chunk_id, moved)
        self.unreported.add(chunk_id)
        await self.report_pending()
        return checked.model_copy(update={"quarantined": True})

    async def report_pending(self) -> int:
        """Tell the controller this node no longer holds each quarantined chunk."""
        done = 0
        for chunk_id in sorted(self.unreported):
            if await self._report(chunk_id):
                self.unreported.discard(chunk_id)
                self.reported += 1
                done += 1
        return done

    async def _report(self, chunk_id: str) -> bool:
        if self.controller is None:
            return False
        try:
            await self.controller.remove_location(chunk_id, self.store.node_id)
        except NotFound:
            return True  # the controller does not list it here (or knows no such chunk)
        except FilefleetError as exc:
            log.warning("could not report corrupt chunk %s: %s", chunk_id, exc.message)
            return False
        return True

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
