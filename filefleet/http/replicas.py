"""Reading one chunk from whichever of its replicas gives the right bytes first.

``ReplicaReader.read`` tries the replicas in order (nodes under suspicion last,
``core/suspects.py``) and returns the first verified copy:

- a replica that answers bytes that do not hash to the chunk id, or answers that it does
  not hold the chunk, is **reported** to the controller (its location is dropped, so
  repair restores R from a good copy) and the next replica is tried;
- a replica that fails (refused, reset, a per-hop deadline passed) makes its node a
  suspect, and the next replica is tried;
- a replica that has not delivered within ``hedge_after`` seconds gets company: the
  next replica is read at the same time (a **hedged** read) and the first verified copy
  wins; the other read is cancelled and its node becomes a suspect. A hung or slow node
  thus costs a download ``hedge_after``, not a whole deadline.

Only one read at a time lands in the caller's buffer; a hedge reads into a buffer of its
own. Every read still running is cancelled and waited for before ``read`` returns, so
the caller may reuse its buffer at once. When no replica gives the chunk: Unavailable.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from filefleet.core.errors import CorruptChunk, FilefleetError, NotFound, Unavailable
from filefleet.core.suspects import SuspectNodes
from filefleet.fastpath.direct import Into
from filefleet.http.controller_api import ControllerClient
from filefleet.http.node_api import NodeClient

log = logging.getLogger(__name__)

# A 4 MiB chunk read from a healthy node takes ~10 ms on one machine and ~40 ms over a
# gigabit link: a read still running after 0.5 s is on a node that is hung, cut off or far
# slower than the others, and a second replica is read beside it.
HEDGE_AFTER = 0.5

Data = bytearray | memoryview


class Replica(Protocol):
    """A node holding a replica: what a read needs of it (``NodeInfo``, ``NodeRef``)."""

    @property
    def id(self) -> str: ...

    @property
    def url(self) -> str: ...


@dataclass
class ReadCounters:
    replica_failures: int = 0  # reads that failed (refused, reset, deadline)
    corrupt_replicas: int = 0  # replicas whose bytes did not match, reported
    missing_replicas: int = 0  # replicas the node no longer had, reported
    hedged: int = 0  # second reads started because the first was slow


@dataclass
class Fetched:
    """What one read of a chunk from its replicas came to: the bytes (None when no replica
    gave them), the replica they came from, and the ids of the replicas reported bad."""

    data: Data | None
    source: Replica | None = None
    reported: list[str] = field(default_factory=list)


class ReplicaReader:
    def __init__(
        self,
        nodes: NodeClient,
        controller: ControllerClient,
        suspects: SuspectNodes,
        *,
        hedge_after: float = HEDGE_AFTER,
    ) -> None:
        self.nodes = nodes
        self.controller = controller
        self.suspects = suspects
        self.hedge_after = hedge_after
        self.counters = ReadCounters()

    async def read(
        self,
        chunk_id: str,
        replicas: Sequence[Replica],
        into: Into | None = None,
        *,
        verify: bool = True,
    ) -> Data:
        """The chunk's bytes from the first replica that gives them (verified unless the
        caller checks them another way), in ``into`` when it is free and large enough;
        Unavailable when none does."""
        fetched = await self.fetch(chunk_id, replicas, into, verify=verify)
        if fetched.data is None:
            raise Unavailable(f"no replica of chunk {chunk_id} is available")
        return fetched.data

    async def fetch(
        self,
        chunk_id: str,
        replicas: Sequence[Replica],
        into: Into | None = None,
        *,
        verify: bool = True,
    ) -> Fetched:
        """As ``read``, with where the bytes came from and how many replicas were bad."""
        waiting = self.suspects.last(replicas, lambda node: node.id)
        reported: list[str] = []
        running: dict[asyncio.Task[Data], Replica] = {}
        into_user: asyncio.Task[Data] | None = None

        def start() -> None:
            nonlocal into_user
            node = waiting.pop(0)
            buffer = into if into_user is None else None
            task = asyncio.create_task(
                self.nodes.get_chunk(node.url, chunk_id, verify=verify, into=buffer)
            )
            if buffer is not None:
                into_user = task
            running[task] = node

        try:
            while waiting or running:
                if not running:
                    start()
                hedge = self.hedge_after if waiting else None
                done, _ = await asyncio.wait(
                    running, timeout=hedge, return_when=asyncio.FIRST_COMPLETED
                )
                if not done:  # the reads under way are slow: one more beside them
                    self.counters.hedged += 1
                    slow = ", ".join(node.url for node in running.values())
                    log.info("chunk %s: no answer from %s within %gs; reading %s too",
                             chunk_id, slow, self.hedge_after, waiting[0].url)  # fmt: skip
                    start()
                    continue
                for task in done:
                    node = running.pop(task)
                    if task is into_user:
                        into_user = None
                    error = task.exception()
                    if error is None:
                        self.suspects.ok(node.id)
                        for slower in running.values():
                            self.suspects.failed(slower.id)
                        return Fetched(task.result(), node, reported)
                    if await self._failed(chunk_id, node, error):
                        reported.append(node.id)
            return Fetched(None, None, reported)
        finally:
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)

    async def _failed(self, chunk_id: str, node: Replica, error: BaseException) -> bool:
        """Count, report or re-raise one failed read; True if the replica was reported."""
        if isinstance(error, CorruptChunk):
            self.counters.corrupt_replicas += 1
            log.warning("%s; trying the next replica", error.message)
            await self.report(chunk_id, node.id)
            return True
        if isinstance(error, NotFound):
            # The node answers but lacks the chunk (a wiped or replaced disk): the location
            # is false, and dropping it lets repair copy the chunk back.
            self.counters.missing_replicas += 1
            log.warning("node %s lacks chunk %s; trying the next replica", node.id, chunk_id)
            await self.report(chunk_id, node.id)
            return True
        if isinstance(error, FilefleetError):
            self.counters.replica_failures += 1
            self.suspects.failed(node.id)
            log.warning("chunk %s from %s failed: %s", chunk_id, node.url, error.message)
            return False
        raise error

    async def report(self, chunk_id: str, node_id: str) -> None:
        """Drop a corrupt or missing replica's location, so repair restores R elsewhere."""
        try:
            await self.controller.remove_location(chunk_id, node_id)
        except FilefleetError as exc:
            log.warning("could not report bad replica %s on %s: %s", chunk_id, node_id, exc)
