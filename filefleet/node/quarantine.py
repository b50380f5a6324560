"""Quarantine: a chunk found corrupt on this node is moved aside and reported.

Whoever finds that a stored chunk no longer hashes to its id (the scrubber's walk,
``scrub.py``; ``POST /chunk/{id}/verify``, which ``filefleet fsck --verify`` calls) hands
it to ``Quarantine.isolate``, so a rotten replica is handled the same way whoever finds it:

1. **Move it aside** to ``<data>/quarantine/<chunk id>`` (``.1``, ``.2``... when that
   name is taken), kept for inspection, never served again. One rename, under the chunk's
   lock in ``ChunkStore.quarantine``, and only if the file is still the one found corrupt
   (same inode): a put may have replaced it with verified bytes meanwhile.
2. **Report it**: ``DELETE /chunk/{id}/locations/{node id}`` on the controller, which then
   counts one replica fewer, so the next repair pass copies a verified replica back
   (DESIGN §4, §7).

Order, and what a failure leaves behind: move first, then report. A crash between the
two: the controller still lists this node; a read from it gets 404 and the reader reports
it, and the GC's sweep drops the location too. A report that fails stays in
``unreported`` and is tried again at the start of every scrubber pass.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from filefleet.core.errors import FilefleetError, NotFound

if TYPE_CHECKING:
    from filefleet.http.controller_api import ControllerClient
    from filefleet.node.chunkstore import ChunkStore

log = logging.getLogger(__name__)


def move_aside(
    final: Path, directory: Path, chunk_id: str, inode: int | None
) -> tuple[Path, int] | None:
    """Rename the chunk file ``final`` into ``directory`` under the first free name: that
    name and the size it had, or None when it is gone or is no longer the file with
    ``inode``. The caller holds the chunk's lock."""
    try:
        st = os.stat(final)
    except FileNotFoundError:
        return None
    if inode is not None and st.st_ino != inode:
        return None  # a put replaced it with verified bytes meanwhile
    # One rename: a crash leaves the chunk either in place (scrubbed again) or aside.
    target = free_name(directory, chunk_id)
    os.rename(final, target)
    return target, st.st_size


def free_name(directory: Path, chunk_id: str) -> Path:
    """``<directory>/<chunk id>``, or with the first suffix ``.n`` not yet taken (the same
    chunk can rot, be restored and rot again)."""
    target = directory / chunk_id
    suffix = 0
    while target.exists():
        suffix += 1
        target = directory / f"{chunk_id}.{suffix}"
    return target


def quarantined(directory: Path) -> list[str]:
    """The names in the quarantine directory, in order: ``<chunk id>`` or ``<chunk id>.n``."""
    return sorted(entry.name for entry in os.scandir(directory))


class Quarantine:
    """This node's corrupt chunks: moved aside, then reported to the controller (None:
    nothing is reported, for tools and tests). Counters for ``/stats``."""

    def __init__(self, store: ChunkStore, controller: ControllerClient | None) -> None:
        self.store = store
        self.controller = controller
        self.unreported: set[str] = set()  # moved aside, the controller not yet told
        self.corrupt = 0  # chunks moved aside
        self.reported = 0  # reports the controller took

    async def isolate(self, chunk_id: str, inode: int) -> bool:
        """Move the corrupt chunk aside and report it; False when there was nothing to
        move (deleted, or replaced by a verified put since it was found corrupt)."""
        moved = await self.store.quarantine(chunk_id, inode=inode)
        if moved is None:
            return False
        self.corrupt += 1
        log.warning("chunk %s is corrupt; moved to %s", chunk_id, moved)
        self.unreported.add(chunk_id)
        await self.report_pending()
        return True

    async def report_pending(self) -> int:
        """Tell the controller this node no longer holds each chunk moved aside; how many
        reports it took."""
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
