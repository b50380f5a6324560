"""Replicate events: asking for a chunk's copies as soon as it is recorded.

The seed asks for one chunk-replicate event per chunk "once successfully uploaded"; that
holds per chunk. An event goes out as soon as its chunk is stored on a node *and* recorded
in its file (the append confirmed), while the rest of the upload is still arriving, so the
replicator's copies overlap the upload instead of starting after its last byte: a fresh
file spends less time on one copy, its most fragile moment.

``ReplicateEvents`` is one upload's publisher. Appends call ``recorded`` with the chunks
they confirmed; the events go out in the background, one publish at a time with whatever
has gathered meanwhile (so a queue that is slow never holds a chunk's append up, and a busy
upload costs a publish per append batch, not per chunk). ``finish`` publishes what is left
(e.g. chunks recorded by an earlier frontend process of a resumed upload) and waits for the
rest, each publish bounded by ``PUBLISH_TIMEOUT``.

A publish that fails is logged, not raised: the chunks are stored and recorded, and the
replicator's periodic repair finds anything below R anyway (DESIGN §7). A crash between an
append and its publish leaves exactly that to repair.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence

from filefleet.core.errors import FilefleetError
from filefleet.queue.base import EventQueue
from filefleet.queue.events import ReplicateEvent

log = logging.getLogger(__name__)

# A queue that does not answer holds an upload's answer at most this long.
PUBLISH_TIMEOUT = 3.0


class ReplicateEvents:
    def __init__(self, queue: EventQueue | None, file_id: str) -> None:
        self.queue = queue
        self.file_id = file_id
        self.published: set[str] = set()
        self._waiting: dict[str, None] = {}  # chunk ids to publish, in order, once each
        self._sender: asyncio.Task[None] | None = None
        self.failures = 0  # counter: publishes that failed (left to repair)

    def recorded(self, chunk_ids: Iterable[str]) -> None:
        """These chunks are stored and recorded: ask for their copies (in the background)."""
        if self.queue is None:
            return
        for chunk_id in chunk_ids:
            if chunk_id not in self.published:
                self._waiting[chunk_id] = None
        if self._waiting and (self._sender is None or self._sender.done()):
            self._sender = asyncio.create_task(self._send())

    async def finish(self, every: Sequence[str] = ()) -> None:
        """Publish the ones of ``every`` not published yet, and wait for what is on its way,
        at most PUBLISH_TIMEOUT in all: what is not out by then is left to repair."""
        self.recorded(every)
        if self._sender is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._sender), PUBLISH_TIMEOUT)
        except TimeoutError:
            self._sender.cancel()
            self.failures += 1
            log.warning("replicate events for %s still not out after %.0fs; left to repair",
                        self.file_id, PUBLISH_TIMEOUT)  # fmt: skip

    def cancel(self) -> None:
        """The upload failed: what is still waiting stays unpublished (repair, if ever)."""
        if self._sender is not None:
            self._sender.cancel()

    async def _send(self) -> None:
        while self._waiting:
            batch = list(self._waiting)
            self._waiting.clear()
            self.published.update(batch)
            if not await publish_replicate(self.queue, self.file_id, batch, quiet=self.failures):
                self.failures += 1


async def publish_replicate(
    queue: EventQueue | None, file_id: str, chunk_ids: Sequence[str], *, quiet: int = 0
) -> bool:
    """One event per distinct chunk; True once the queue has them. A failure is logged
    (once per upload: ``quiet`` counts the ones before), not raised. A queue that is down
    fails at once; one that does not answer is given up after PUBLISH_TIMEOUT."""
    if queue is None or not chunk_ids:
        return True
    events = [ReplicateEvent(chunk=c, file=file_id) for c in dict.fromkeys(chunk_ids)]
    say = log.debug if quiet else log.warning
    try:
        await asyncio.wait_for(queue.publish(events), PUBLISH_TIMEOUT)
        return True
    except FilefleetError as exc:
        say("publishing replicate events for %s failed: %s; left to repair", file_id,
            exc.message)  # fmt: skip
    except TimeoutError:
        say("publishing replicate events for %s: no answer in %.0fs; left to repair",
            file_id, PUBLISH_TIMEOUT)  # fmt: skip
    except Exception:
        # A backend's error nobody translated (a bug, logged as such): the upload has
        # succeeded all the same, and its client must get its link, not a 500.
        log.exception("unexpected error publishing replicate events for %s", file_id)
    return False
