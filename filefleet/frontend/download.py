"""Serving a file: chunk after chunk, each verified before a byte of it is sent (DESIGN §6).

Each chunk comes from the first of its replicas on active nodes that gives verified bytes
(``http/replicas.py``: a corrupt or missing replica is skipped and reported, a slow one is
hedged with a read of the next), so a corrupt byte is never served. Which replica is
tried first is the chunk's own (``core/placement.py`` ``read_order``), so a file's reads
spread over every node holding its chunks. While one chunk is
sent, the next ones are fetched, each into a reused buffer (no 4 MiB allocation and its
page faults per chunk); a buffer goes back for reuse once the caller says its bytes have
left (``released``). If every replica of a chunk is gone, the caller gets Unavailable:
before the first byte that is a 503, after it the connection is aborted (never a silently
truncated file).

How far a download reads ahead: it holds at most ``read_ahead`` chunks (the one being
sent and those fetched meanwhile). The first ``OWN_CHUNKS`` are its own; the rest it
borrows from the frontend's ``ReadAheadPool``, shared by every download. One download
alone reads as far ahead as ``read_ahead`` allows (one download waits on each chunk's
read, send and hash; more in flight hide that), many at once split the pool (they keep
the cores busy without reading far ahead), and N downloads hold N x ``OWN_CHUNKS``
chunks plus the pool, not N x ``read_ahead``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass

from filefleet.core.errors import Gone, NotFound, Unavailable
from filefleet.core.models import ChunkRef, FileInfo, NodeInfo, utcnow
from filefleet.core.placement import read_order
from filefleet.fastpath.buffers import Buffers
from filefleet.frontend.nodes import NodeDirectory
from filefleet.frontend.ranges import ByteRange
from filefleet.http.controller_api import ControllerClient
from filefleet.http.replicas import ReplicaReader

log = logging.getLogger(__name__)

# A fetched chunk: the reusable buffer taken for it, and its bytes (in that buffer, or in
# one of their own when the chunk is larger).
Fetched = tuple[bytearray, bytearray | memoryview]


@dataclass
class DownloadCounters:
    downloads: int = 0
    chunks_served: int = 0
    bytes_sent: int = 0  # body bytes written to downloaders (frontend/streaming.py)
    passwords_refused: int = 0  # protected links' tries refused: none, wrong or too many


# Chunks every download may hold whatever the others do: the one being sent and the next,
# fetched meanwhile, so a download never waits for a whole fetch between two chunks.
OWN_CHUNKS = 2


class ReadAheadPool:
    """The chunks downloads may hold beyond their own ``OWN_CHUNKS``, shared by all the
    downloads of one frontend (``--read-ahead-pool``).

    Fair: a download borrows at most its share, the pool's size over the downloads
    running (rounded up), so one that began alone gives back what it borrowed beyond its
    share as others begin (as its chunks are sent: a fetch in flight is never dropped)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.lent = 0
        self.downloads = 0

    def share(self) -> int:
        return -(-self.size // max(1, self.downloads))

    def lease(self, read_ahead: int) -> ReadAheadLease:
        self.downloads += 1
        return ReadAheadLease(self, read_ahead)

    def borrow(self, borrowed: int) -> bool:
        """One more chunk for a download that has ``borrowed`` already, if the pool has
        one and the download is below its share."""
        if self.lent >= self.size or borrowed >= self.share():
            return False
        self.lent += 1
        return True

    def give_back(self, count: int) -> None:
        self.lent -= count


class ReadAheadLease:
    """One download's part: its own chunks, and what it borrowed from the pool."""

    def __init__(self, pool: ReadAheadPool, read_ahead: int) -> None:
        self.pool = pool
        self.limit = read_ahead
        self.own = min(OWN_CHUNKS, read_ahead)
        self.borrowed = 0

    def may_hold(self, held: int) -> bool:
        """Whether a download holding ``held`` chunks may fetch one more."""
        if held >= self.limit:
            return False
        if held < self.own + self.borrowed:
            return True
        if self.pool.borrow(self.borrowed):
            self.borrowed += 1
            return True
        return False

    def settle(self, held: int) -> None:
        """Give back what the download borrowed and no longer holds."""
        unneeded = self.borrowed - max(0, held - self.own)
        if unneeded > 0:
            self.pool.give_back(unneeded)
            self.borrowed -= unneeded

    def close(self) -> None:
        self.pool.give_back(self.borrowed)
        self.borrowed = 0
        self.pool.downloads -= 1


class Downloader:
    def __init__(
        self,
        controller: ControllerClient,
        replicas: ReplicaReader,
        directory: NodeDirectory,
        *,
        read_ahead: int,
        pool: ReadAheadPool,
        buffers: Buffers[bytearray],
    ) -> None:
        self.controller = controller
        self.replicas = replicas
        self.directory = directory
        self.read_ahead = read_ahead
        self.pool = pool
        self.counters = DownloadCounters()
        # The frontend's chunk buffers, shared with uploads: a download holds at most
        # `read_ahead` at a time (more are made while several run at once).
        self.buffers = buffers

    async def live_file(self, file_id: str) -> FileInfo:
        """The file's metadata if it may be served: 404 unknown, 410 expired or deleted."""
        try:
            info = await self.controller.get_file(file_id)
        except NotFound:
            raise NotFound(f"no file with id {file_id}") from None
        if info.state == "uploading":
            raise NotFound(f"file {file_id} is still being uploaded")
        if info.state == "deleting":
            raise Gone(f"file {file_id} was deleted")
        if info.expires_at <= utcnow():
            raise Gone(f"file {file_id} has expired")
        if info.max_downloads is not None and info.downloads >= info.max_downloads:
            raise Gone(f"file {file_id} reached its maximum number of downloads")
        return info

    async def take_download(self, info: FileInfo) -> FileInfo:
        """Count one download if the file has a limit (atomic on the controller: of N
        concurrent requests for the last download exactly one gets it, the rest 410)."""
        if info.max_downloads is None:
            return info
        return await self.controller.take_download(info.id)

    async def stream(
        self,
        info: FileInfo,
        byte_range: ByteRange | None,
        *,
        verify: bool = True,
        released: Callable[[], bool] = lambda: True,
    ) -> AsyncGenerator[bytes | bytearray | memoryview, None]:
        """The bytes of ``info`` (or of ``byte_range`` of it), verified chunk by chunk.

        A yielded view is valid until the next step of the iteration; then its buffer is
        reused if ``released()`` says nothing holds its bytes any more (a transport may
        still be sending them: see ``fastpath/sending.py``)."""
        size = info.size or 0
        wanted = byte_range or ByteRange(0, size - 1)
        if size == 0 or wanted.length <= 0:
            return
        parts = chunks_in_range(info.chunks, wanted)
        pending: deque[asyncio.Task[Fetched]] = deque()
        fetched = 0
        lease = self.pool.lease(self.read_ahead)

        def fetch_ahead() -> None:
            nonlocal fetched
            lease.settle(len(pending))
            while fetched < len(parts) and lease.may_hold(len(pending)):
                pending.append(asyncio.create_task(self.fetch(parts[fetched][0], verify)))
                fetched += 1

        try:
            for _chunk, lo, hi in parts:
                # The chunk sent last is released: what this download holds is `pending`,
                # and of it the one sent next.
                fetch_ahead()
                buffer, data = await pending.popleft()
                self.counters.chunks_served += 1
                yield data if lo == 0 and hi == len(data) else data[lo:hi]
                if released():
                    self.buffers.give(buffer)
            self.counters.downloads += 1
        finally:
            lease.close()
            for task in pending:  # their buffers are not reused: the GC frees them
                task.cancel()

    async def fetch(self, chunk: ChunkRef, verify: bool = True) -> Fetched:
        """One chunk from the first replica that answers with the right bytes, and the
        reusable buffer taken for it."""
        buffer = self.buffers.take()
        try:
            return buffer, await self._fetch(chunk, buffer, verify)
        except BaseException:
            self.buffers.give(buffer)  # nothing else saw it: safe to reuse
            raise

    async def _fetch(
        self, chunk: ChunkRef, buffer: bytearray, verify: bool
    ) -> bytearray | memoryview:
        active = await self.directory.active()
        replicas = _ordered_replicas(chunk, active)
        if not replicas:
            # The cache may be stale (a node just came back): ask the controller once more.
            replicas = _ordered_replicas(chunk, await self.directory.active(fresh=True))
        try:
            return await self.replicas.read(chunk.id, replicas, buffer, verify=verify)
        except Unavailable:
            raise Unavailable(
                f"no replica of chunk {chunk.id} (order {chunk.order}) is available"
            ) from None


def _ordered_replicas(chunk: ChunkRef, active: dict[str, NodeInfo]) -> list[NodeInfo]:
    """The chunk's replicas on active nodes, in the order its reads try them."""
    replicas = [active[node_id] for node_id in chunk.locations if node_id in active]
    return read_order(chunk.id, replicas, _node_id)


def _node_id(node: NodeInfo) -> str:
    return node.id


def chunks_in_range(
    chunks: Sequence[ChunkRef], wanted: ByteRange
) -> list[tuple[ChunkRef, int, int]]:
    """(chunk, first byte, end byte) of each chunk overlapping the range, in order."""
    out: list[tuple[ChunkRef, int, int]] = []
    offset = 0
    for chunk in sorted(chunks, key=lambda c: c.order):
        start, end = offset, offset + chunk.size  # this chunk holds [start, end)
        offset = end
        if end <= wanted.start or start > wanted.end:
            continue
        lo = max(wanted.start, start) - start
        hi = min(wanted.end + 1, end) - start
        out.append((chunk, lo, hi))
    return out
