"""Streaming an upload into chunks on the fleet (DESIGN §5).

The order of writes, and what a crash between two of them leaves behind:

1. ``POST /file`` on the controller: the record, state ``uploading``. A crash after it
   leaves a record with no chunks; the GC collects it after ``--gc-grace``.
2. For each 4 MiB chunk, with at most ``inflight`` chunks in flight: hash it, store it on
   one node (``POST /chunk``: temp file, fsync, rename), then append ``(order, id, size,
   node)`` to the record. A crash between store and append leaves an unreferenced chunk on
   a node: an orphan, deleted by the GC's orphan sweep after the grace.
3. ``POST /file/{id}`` with ``state=active``, the size and whole-file SHA-256. Until this
   succeeds nothing is served; a crash before it leaves an ``uploading`` record (step 1).
4. One replicate event per chunk, sent as soon as the chunk is recorded (``events.py``),
   so the copies overlap the upload; the answer waits for the last of them. A crash before
   one is sent leaves that chunk with one replica; the replicator's periodic repair finds
   it without any event.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from filefleet.core.errors import PayloadTooLarge
from filefleet.core.models import FileUpdate, UploadResult, utcnow
from filefleet.core.placement import Placement
from filefleet.fastpath.buffers import BufferPool, Buffers
from filefleet.fastpath.pooled_chunks import PooledChunk, pooled_chunks
from filefleet.frontend.appender import ChunkAppender
from filefleet.frontend.events import ReplicateEvents
from filefleet.frontend.options import UploadOptions
from filefleet.frontend.writer import ChunkWriter, new_record, upload_result
from filefleet.http.controller_api import ControllerClient
from filefleet.queue.base import EventQueue

log = logging.getLogger(__name__)


@dataclass
class UploadCounters:
    uploads: int = 0
    bytes_received: int = 0
    append_calls: int = 0


class Uploader:
    def __init__(
        self,
        controller: ControllerClient,
        writer: ChunkWriter,
        queue: EventQueue | None,
        *,
        chunk_size: int,
        inflight: int,
        max_upload: int,
        buffers: Buffers[bytearray],
    ) -> None:
        self.controller = controller
        self.buffers = buffers  # the frontend's stock, shared with downloads
        self.writer = writer
        self.queue = queue
        self.chunk_size = chunk_size
        self.inflight = inflight
        self.max_upload = max_upload
        self.counters = UploadCounters()

    async def upload(
        self, pieces: AsyncIterator[bytes], options: UploadOptions, public_url: str
    ) -> UploadResult:
        # 503 (no node) or 507 (no room) before any record is written.
        placement = await self.writer.placement(room=self.chunk_size)
        record, token = new_record(options)
        await self.controller.create_file(record)
        events = ReplicateEvents(self.queue, record.id)
        try:
            size, sha256, _ = await self._store_chunks(record.id, pieces, placement, events)
        except BaseException:
            events.cancel()
            raise
        expires_at = utcnow() + timedelta(seconds=options.expires)
        await self.controller.update_file(
            record.id, FileUpdate(state="active", size=size, sha256=sha256, expires_at=expires_at)
        )
        await events.finish()
        self.counters.uploads += 1
        return upload_result(
            public_url, record.id, token,
            name=options.name, size=size, sha256=sha256, expires_at=expires_at,
        )  # fmt: skip

    async def _store_chunks(
        self,
        file_id: str,
        pieces: AsyncIterator[bytes],
        placement: Placement,
        events: ReplicateEvents,
    ) -> tuple[int, str, list[str]]:
        """Read, hash and store every chunk with at most ``inflight`` in flight."""
        run = _Run(placement, ChunkAppender(self.controller, file_id, events=events))
        # One buffer is filled from the body while up to `inflight` are hashed and stored;
        # waiting for a free buffer is the back-pressure that bounds memory.
        pool = BufferPool(self.chunk_size, self.inflight + 1, stock=self.buffers)
        file_hash = hashlib.sha256()  # fed as the body arrives, with each chunk's own
        size = 0
        try:
            async for chunk in pooled_chunks(pieces, pool, file_hash):
                size += chunk.length
                self.counters.bytes_received += chunk.length
                if size > self.max_upload:
                    raise PayloadTooLarge(f"upload exceeds the maximum of {self.max_upload} bytes")
                run.raise_failure()
                run.start(self._store_one(run, len(run.tasks), chunk))
            run.appender.last_ones()  # the body has ended: no append to linger for
            chunk_ids = list(await asyncio.gather(*run.tasks))
        except BaseException:
            await run.cancel()
            raise
        finally:
            pool.close()  # the released buffers go back for the next upload or download
            run.appender.close()
            self.counters.append_calls += run.appender.calls
        return size, file_hash.hexdigest(), chunk_ids

    async def _store_one(self, run: _Run, order: int, chunk: PooledChunk) -> str:
        released = False

        async def release() -> None:
            # The buffer goes back only once nothing reads it: the node answered (also
            # when this task failed or was cancelled).
            nonlocal released
            if not released:
                released = True
                chunk.release()

        chunk_id = chunk.sha256
        try:
            await self.writer.write(
                chunk_id, order, chunk.view, run.placement, run.appender.append, release=release
            )
            return chunk_id
        finally:
            await release()


@dataclass
class _Run:
    """One upload's chunks in flight: their tasks, placement, appender and first failure."""

    placement: Placement
    appender: ChunkAppender
    tasks: list[asyncio.Task[str]] = field(default_factory=list)
    failure: BaseException | None = None

    def start(self, work: Coroutine[Any, Any, str]) -> None:
        task = asyncio.create_task(work)
        task.add_done_callback(self._note_failure)
        self.tasks.append(task)

    def _note_failure(self, task: asyncio.Task[str]) -> None:
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
