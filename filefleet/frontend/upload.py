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
4. One replicate event per chunk. A crash before it leaves chunks with one replica; the
   replicator's periodic repair finds them without any event.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from filefleet.core import ids
from filefleet.core.errors import (
    Conflict,
    FilefleetError,
    PayloadTooLarge,
    Unavailable,
)
from filefleet.core.models import ChunkRef, FileCreate, FileUpdate, UploadResult, utcnow
from filefleet.core.placement import NodeCandidate, Placement
from filefleet.frontend.appender import ChunkAppender
from filefleet.frontend.buffers import BufferPool, PooledChunk, pooled_chunks
from filefleet.frontend.nodes import NodeDirectory
from filefleet.frontend.options import UploadOptions
from filefleet.http.controller_api import ControllerClient
from filefleet.http.node_api import NodeClient
from filefleet.queue.base import EventQueue, ReplicateEvent

log = logging.getLogger(__name__)

# Whole-file hashing must see the chunks in order: one worker thread keeps submission order.
_ordered_hashing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="file-sha256")

# How often an append that met a chunk being collected stores the chunk again (DESIGN §8).
APPEND_CONFLICT_RETRIES = 3


@dataclass
class UploadCounters:
    uploads: int = 0
    chunks_stored: int = 0
    bytes_received: int = 0
    store_retries: int = 0
    append_calls: int = 0


def _hash_chunk(chunk: memoryview) -> str:
    return hashlib.sha256(chunk).hexdigest()


class Uploader:
    def __init__(
        self,
        controller: ControllerClient,
        nodes: NodeClient,
        directory: NodeDirectory,
        queue: EventQueue | None,
        *,
        chunk_size: int,
        inflight: int,
        max_upload: int,
    ) -> None:
        self.controller = controller
        self.nodes = nodes
        self.directory = directory
        self.queue = queue
        self.chunk_size = chunk_size
        self.inflight = inflight
        self.max_upload = max_upload
        self.counters = UploadCounters()

    async def upload(
        self, pieces: AsyncIterator[bytes], options: UploadOptions, public_url: str
    ) -> UploadResult:
        candidates = await self.directory.candidates()
        if not candidates:
            raise Unavailable("no active storage node: the cluster cannot store files right now")
        file_id, delete_token = ids.new_file_id(), ids.new_token()
        now = utcnow()
        await self.controller.create_file(
            FileCreate(
                id=file_id,
                name=options.name,
                content_type=options.content_type,
                expires_at=now + timedelta(seconds=options.expires),
                max_downloads=options.max_downloads,
                delete_token_sha256=hashlib.sha256(delete_token.encode()).hexdigest(),
            )
        )
        size, sha256, chunk_ids = await self._store_chunks(file_id, pieces, candidates)
        expires_at = utcnow() + timedelta(seconds=options.expires)
        await self.controller.update_file(
            file_id, FileUpdate(state="active", size=size, sha256=sha256, expires_at=expires_at)
        )
        await self._publish(file_id, chunk_ids)
        self.counters.uploads += 1
        return UploadResult(
            id=file_id,
            url=f"{public_url}/download/{file_id}",
            delete_url=f"{public_url}/delete/{file_id}/{delete_token}",
            name=options.name,
            size=size,
            sha256=sha256,
            expires_at=expires_at,
        )

    async def _store_chunks(
        self, file_id: str, pieces: AsyncIterator[bytes], candidates: list[NodeCandidate]
    ) -> tuple[int, str, list[str]]:
        """Read, hash and store every chunk with at most ``inflight`` in flight."""
        run = _Run(Placement(candidates), ChunkAppender(self.controller, file_id))
        # One buffer is filled from the body while up to `inflight` are hashed and stored;
        # waiting for a free buffer is the back-pressure that bounds memory.
        pool = BufferPool(self.chunk_size, self.inflight + 1)
        file_hash = hashlib.sha256()
        loop = asyncio.get_running_loop()
        size = 0
        try:
            async for chunk in pooled_chunks(pieces, pool):
                size += chunk.length
                self.counters.bytes_received += chunk.length
                if size > self.max_upload:
                    raise PayloadTooLarge(f"upload exceeds the maximum of {self.max_upload} bytes")
                run.raise_failure()
                hashed = loop.run_in_executor(_ordered_hashing, file_hash.update, chunk.view)
                run.start(self._store_one(run, len(run.tasks), chunk, hashed))
            chunk_ids = list(await asyncio.gather(*run.tasks))
        except BaseException:
            await run.cancel()
            raise
        finally:
            run.appender.close()
            self.counters.append_calls += run.appender.calls
        digest = await loop.run_in_executor(_ordered_hashing, file_hash.hexdigest)
        return size, digest, chunk_ids

    async def _store_one(
        self, run: _Run, order: int, chunk: PooledChunk, hashed: asyncio.Future[None]
    ) -> str:
        data = chunk.view
        try:
            chunk_id = await asyncio.to_thread(_hash_chunk, data)
            for _ in range(APPEND_CONFLICT_RETRIES + 1):
                node = await self._place(chunk_id, data, run.placement)
                ref = ChunkRef(id=chunk_id, order=order, size=len(data), locations=[node.id])
                try:
                    await run.appender.append(ref)
                    break
                except Conflict:
                    # The GC marked this chunk `collecting`: store it again (the node touches
                    # it, so it refuses the GC's delete within the grace) and append again;
                    # the append that succeeds clears the mark (DESIGN §8 step 2).
                    log.info("chunk %s was being collected; storing it again", chunk_id)
            else:
                raise Conflict(f"chunk {chunk_id} stayed in collection; upload aborted")
            self.counters.chunks_stored += 1
            return chunk_id
        finally:
            # The buffer goes back only once nothing reads it: the node answered and the
            # whole-file hash has consumed it (also when this task failed or was cancelled).
            await asyncio.shield(hashed)
            chunk.release()

    async def _place(self, chunk_id: str, chunk: memoryview, placement: Placement) -> NodeCandidate:
        """Store on the best node (retried once there by the client), then on others."""
        tried: list[str] = []
        last: FilefleetError | None = None
        while (node := placement.choose(len(chunk), exclude=tried)) is not None:
            try:
                await self.nodes.put_chunk(node.url, chunk_id, chunk)
                return node
            except FilefleetError as exc:
                if not exc.retryable:
                    raise
                placement.release(node.id, len(chunk))
                tried.append(node.id)
                last = exc
                self.counters.store_retries += 1
                log.warning("storing chunk %s on %s failed: %s", chunk_id, node.url, exc.message)
        self.directory.forget()
        raise Unavailable(f"no node could store chunk {chunk_id}: {last.message if last else ''}")

    async def _publish(self, file_id: str, chunk_ids: list[str]) -> None:
        if self.queue is None or not chunk_ids:
            return
        events = [ReplicateEvent(chunk=c, file=file_id) for c in dict.fromkeys(chunk_ids)]
        try:
            await self.queue.publish(events)
        except FilefleetError as exc:
            # The file is stored and active; the periodic repair replicates it anyway.
            log.warning("publishing replicate events for %s failed: %s", file_id, exc.message)


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
