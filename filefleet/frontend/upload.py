"""An upload's steps, one orchestration for the streaming ``POST/PUT /upload`` (``Uploader``,
below) and the resumable chunk API (``resumable.py``) (DESIGN §5).

The order of writes, and what a crash between two of them leaves behind:

1. ``begin``: place, then record. No active node is a 503, no room a 507, before
   anything is written; then ``POST /file`` on the controller: the record, state
   ``uploading``. A crash after it leaves a record with no chunks; the GC collects it
   after ``--gc-grace``.
2. ``store_chunk``, for each chunk: store it on one node (``writer.py``: ``POST /chunk``,
   temp file, fsync, rename; the next node if one fails), then append ``(order, id, size,
   node)`` to the record (``appender.py``, batched). A crash between store and append
   leaves an unreferenced chunk on a node: an orphan, deleted by the GC's orphan sweep
   after the grace. An append that meets the GC's collecting mark stores the chunk again
   and appends it again, alone (DESIGN §8 step 2).
3. ``finish``: ``POST /file/{id}`` with ``state=active``, the size and whole-file SHA-256.
   Until this succeeds nothing is served; a crash before it leaves an ``uploading`` record
   (step 1). A streaming upload whose whole body fits in one chunk shorter than the chunk
   size (most files people share) appends that chunk and finishes in one call: the same
   transaction on the controller, one round trip and ~10 ms less before the link.
4. One replicate event per chunk (``events.py``), handed on as soon as its append is
   confirmed, so the copies overlap the upload; ``finish`` waits for the last of them. A
   crash before one is sent leaves that chunk with one replica; the replicator's periodic
   repair finds it without any event.

Each step returns what the next needs (the record, the node that took a chunk); nothing
below calls back up: the writer only stores, the appender only appends, and this module
hands each recorded chunk to the events and frees each buffer itself.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from filefleet.core import ids
from filefleet.core.errors import ChunkCollecting, Conflict, PayloadTooLarge
from filefleet.core.models import ChunkRef, FileCreate, FileUpdate, UploadResult, utcnow
from filefleet.core.placement import Placement
from filefleet.fastpath.buffers import BufferPool, Buffers
from filefleet.fastpath.hashing import InOrderDigest
from filefleet.fastpath.pooled_chunks import PooledChunk, pooled_chunks
from filefleet.frontend.appender import LINGER, ChunkAppender
from filefleet.frontend.events import ReplicateEvents
from filefleet.frontend.options import UploadOptions
from filefleet.frontend.writer import Bytes, ChunkWriter
from filefleet.http.controller_api import ControllerClient
from filefleet.http.replicas import ReplicaReader
from filefleet.queue.base import EventQueue

log = logging.getLogger(__name__)

# How often an append that met a chunk being collected stores the chunk again.
APPEND_CONFLICT_RETRIES = 5


@dataclass
class OpenUpload:
    """One upload between its record and its activation: what its chunks share."""

    file_id: str
    appender: ChunkAppender  # its appends, batched
    events: ReplicateEvents  # its replicate events, published as chunks are recorded
    assigned: dict[str, int] = field(default_factory=dict)  # bytes it placed on each node


@dataclass
class StepCounters:
    collect_conflicts: int = 0  # appends that met the GC's mark and stored the chunk again


@dataclass
class UploadSteps:
    """Begin, store each chunk, finish: the steps of the module's doc, for both APIs."""

    controller: ControllerClient
    writer: ChunkWriter  # stores a chunk on a node
    replicas: ReplicaReader  # reads a chunk back, verified, to store it again (the GC's race)
    queue: EventQueue | None  # replicate events; None: left to repair
    counters: StepCounters = field(default_factory=StepCounters)

    async def begin(
        self, options: UploadOptions, *, room: int, size: int | None = None
    ) -> tuple[Placement, FileCreate, str]:
        """Step 1: a placement over the active nodes (503/507 before anything is written),
        then the ``uploading`` record; returns both and the delete token (given out once)."""
        placement = await self.writer.placement(room=room)
        record, token = new_record(options, size=size)
        await self.controller.create_file(record)
        return placement, record, token

    def open(self, file_id: str, *, linger: float = LINGER) -> OpenUpload:
        """What the chunks of the upload ``file_id`` share while it runs."""
        appender = ChunkAppender(self.controller, file_id, linger=linger)
        return OpenUpload(file_id, appender, ReplicateEvents(self.queue, file_id))

    async def store_chunk(
        self,
        upload: OpenUpload,
        placement: Placement,
        order: int,
        chunk_id: str,
        data: Bytes | PooledChunk,
        *,
        whole_file: timedelta | None = None,
    ) -> datetime | None:
        """Step 2 for one chunk: store ``data`` (whose SHA-256 is ``chunk_id``) on a node,
        then append it at ``order``. A pooled chunk's buffer goes back to its pool once the
        node answered, before the append waits for its batch; should the append then meet
        the GC's mark, the bytes are read back from that node (which keeps them: it refuses
        the GC's delete within the grace of our store), verified by the one replica reader, to
        store them again.

        ``whole_file``: the chunk is the whole file, whose record the append then also
        makes active (step 3 in the same call), expiring ``whole_file`` from now; returns
        the expiry, or None when the record is still to be finished (``finish``)."""
        held: Bytes | None
        if isinstance(data, PooledChunk):
            size = data.length
            try:
                node = await self.writer.place(chunk_id, data.view, placement)
            finally:
                data.release()  # the node answered (or failed): nothing reads it any more
            held = None
        else:
            size = len(data)
            node = await self.writer.place(chunk_id, data, placement)
            held = data
        for attempt in range(APPEND_CONFLICT_RETRIES):
            ref = ChunkRef(id=chunk_id, order=order, size=size, locations=[node.id])
            try:
                if whole_file is not None and attempt == 0:
                    expires_at = utcnow() + whole_file
                    done = FileUpdate(state="active", size=size, sha256=chunk_id,
                                      expires_at=expires_at)  # fmt: skip
                    await upload.appender.append_finishing(ref, done)
                    upload.events.recorded([chunk_id])
                    return expires_at
                # A chunk stored again appends alone and at once: no linger for the GC to
                # mark it again in, and no other chunk's mark to fail its batch. (Nothing
                # was appended or finished by a call the mark refused.)
                await upload.appender.append(ref, alone=attempt > 0)
            except ChunkCollecting:
                self.counters.collect_conflicts += 1
                log.info("chunk %s was being collected; storing it again", chunk_id)
                if held is None:
                    held = await self.replicas.read(chunk_id, [node])
                node = await self.writer.place(chunk_id, held, placement)
                continue
            upload.events.recorded([chunk_id])
            return None
        raise Conflict(f"chunk {chunk_id} stayed in collection; upload aborted")

    async def finish(
        self,
        upload: OpenUpload | None,
        file_id: str,
        *,
        size: int,
        sha256: str,
        lifetime: timedelta,
        every: Sequence[str] = (),
        active_until: datetime | None = None,
    ) -> datetime:
        """Steps 3 and 4: make the record active (expiring ``lifetime`` from now), then wait
        for its replicate events; those of ``every`` not published yet (chunks claimed, or
        recorded by another frontend process) go out now. Returns the expiry.
        ``active_until``: the record is active already, expiring then (its one chunk's
        append made it so): only the events are left."""
        expires_at = active_until
        if expires_at is None:
            expires_at = utcnow() + lifetime
            update = FileUpdate(state="active", size=size, sha256=sha256, expires_at=expires_at)
            await self.controller.update_file(file_id, update)
        events = upload.events if upload is not None else ReplicateEvents(self.queue, file_id)
        await events.finish(every)
        return expires_at


def new_record(options: UploadOptions, size: int | None = None) -> tuple[FileCreate, str]:
    """A fresh ``uploading`` record and its delete token (returned once, stored hashed)."""
    token = ids.new_token()
    record = FileCreate(
        id=ids.new_file_id(),
        name=options.name,
        content_type=options.content_type,
        expires_at=utcnow() + timedelta(seconds=options.expires),
        max_downloads=options.max_downloads,
        delete_token_sha256=hashlib.sha256(token.encode()).hexdigest(),
        size=size,
        password_hash=options.password_hash,
    )
    return record, token


def upload_result(
    public_url: str,
    file_id: str,
    token: str,
    *,
    name: str,
    size: int,
    sha256: str,
    expires_at: datetime,
) -> UploadResult:
    return UploadResult(
        id=file_id,
        url=f"{public_url}/download/{file_id}",
        delete_url=f"{public_url}/delete/{file_id}/{token}",
        name=name,
        size=size,
        sha256=sha256,
        expires_at=expires_at,
    )


# --- the streaming upload: one request body, cut into chunks as it arrives ---------------


@dataclass
class UploadCounters:
    uploads: int = 0
    bytes_received: int = 0
    append_calls: int = 0


class Uploader:
    """``POST/PUT /upload``: the body is read into pooled buffers, each chunk hashed as it
    lands, at most ``inflight`` chunks stored at once (waiting for a free buffer is the
    back-pressure that bounds memory)."""

    def __init__(
        self,
        steps: UploadSteps,
        *,
        chunk_size: int,
        inflight: int,
        max_upload: int,
        buffers: Buffers[bytearray],
    ) -> None:
        self.steps = steps
        self.buffers = buffers  # the frontend's stock, shared with downloads
        self.chunk_size = chunk_size
        self.inflight = inflight
        self.max_upload = max_upload
        self.counters = UploadCounters()

    async def upload(
        self, pieces: AsyncIterator[bytes], options: UploadOptions, public_url: str
    ) -> UploadResult:
        placement, record, token = await self.steps.begin(options, room=self.chunk_size)
        upload = self.steps.open(record.id)
        lifetime = timedelta(seconds=options.expires)
        try:
            size, sha256, active_until = await self._store_chunks(
                upload, pieces, placement, lifetime
            )
        except BaseException:
            upload.events.cancel()
            raise
        finally:
            upload.appender.close()
            self.counters.append_calls += upload.appender.calls
        expires_at = await self.steps.finish(
            upload, record.id, size=size, sha256=sha256, lifetime=lifetime,
            active_until=active_until,
        )  # fmt: skip
        self.counters.uploads += 1
        return upload_result(
            public_url, record.id, token,
            name=options.name, size=size, sha256=sha256, expires_at=expires_at,
        )  # fmt: skip

    async def _store_chunks(
        self,
        upload: OpenUpload,
        pieces: AsyncIterator[bytes],
        placement: Placement,
        lifetime: timedelta,
    ) -> tuple[int, str, datetime | None]:
        """Read, hash and store every chunk with at most ``inflight`` in flight; returns the
        size, the whole-file SHA-256 and, when the file was one chunk whose append also
        made the record active, its expiry."""
        run = _Run()
        # One buffer is filled from the body while up to `inflight` are hashed and stored.
        pool = BufferPool(self.chunk_size, self.inflight + 1, stock=self.buffers)
        file_hash = InOrderDigest()  # fed chunk after chunk, in a thread
        size = 0
        try:
            async for chunk in pooled_chunks(pieces, pool, file_hash):
                size += chunk.length
                self.counters.bytes_received += chunk.length
                if size > self.max_upload:
                    chunk.release()
                    raise PayloadTooLarge(f"upload exceeds the maximum of {self.max_upload} bytes")
                run.raise_failure()
                order = len(run.tasks)
                # Only the body's last chunk is shorter than the chunk size: a first one
                # that is shorter is the whole file.
                whole = lifetime if order == 0 and chunk.length < self.chunk_size else None
                run.start(self.steps.store_chunk(upload, placement, order, chunk.sha256, chunk,
                                                 whole_file=whole))  # fmt: skip
            upload.appender.last_ones()  # the body has ended: no append to linger for
            finished = await asyncio.gather(*run.tasks)
            sha256 = await file_hash.hexdigest()
        except BaseException:
            await run.cancel()
            raise
        finally:
            await file_hash.settle()  # the thread lets go of the last buffers
            pool.close()  # the released buffers go back for the next upload or download
        return size, sha256, finished[0] if len(finished) == 1 else None


@dataclass
class _Run:
    """One streaming upload's chunks in flight: their tasks and the first failure."""

    tasks: list[asyncio.Task[datetime | None]] = field(default_factory=list)
    failure: BaseException | None = None

    def start(self, work: Coroutine[Any, Any, datetime | None]) -> None:
        task = asyncio.create_task(work)
        task.add_done_callback(self._note_failure)
        self.tasks.append(task)

    def _note_failure(self, task: asyncio.Task[datetime | None]) -> None:
        if not task.cancelled() and task.exception() is not None and self.failure is None:
            self.failure = task.exception()

    def raise_failure(self) -> None:
        """Stop reading the body as soon as one chunk failed for good."""
        if self.failure is not None:
            raise self.failure

    async def cancel(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
