"""Putting one chunk on the fleet and recording it: shared by the streaming upload
(``upload.py``) and the resumable chunk API (``resumable.py``).

``ChunkWriter.write`` stores the chunk on the best node (retried once there by the HTTP
client, then on the next node; a node that passed a deadline or is full is not tried
again, and one that failed is a suspect, placed last for a while), then appends ``(order,
id, size, node)`` to the file's record. If the controller answers 409 because the GC
marked the chunk ``collecting``, the chunk is stored again (the node touches it, so it
refuses the GC's delete within the grace) and appended again; that append clears the mark
(DESIGN §8 step 2).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from filefleet.core import ids
from filefleet.core.errors import (
    ChunkCollecting,
    Conflict,
    FilefleetError,
    InsufficientStorage,
    Unavailable,
)
from filefleet.core.models import ChunkRef, FileCreate, UploadResult, utcnow
from filefleet.core.placement import NodeCandidate, Placement
from filefleet.frontend.nodes import NodeDirectory
from filefleet.frontend.options import UploadOptions
from filefleet.http.node_api import NodeClient

log = logging.getLogger(__name__)

# How often an append that met a chunk being collected stores the chunk again.
APPEND_CONFLICT_RETRIES = 5


class Append(Protocol):
    """Record a stored chunk in its file (``ChunkAppender.append``)."""

    def __call__(self, ref: ChunkRef, *, alone: bool = False) -> Awaitable[object]: ...


Release = Callable[[], Awaitable[None]]
Bytes = bytes | bytearray | memoryview


@dataclass
class WriteCounters:
    chunks_stored: int = 0
    bytes_stored: int = 0
    store_retries: int = 0
    collect_conflicts: int = 0


class ChunkWriter:
    def __init__(self, nodes: NodeClient, directory: NodeDirectory) -> None:
        self.nodes = nodes
        self.directory = directory
        self.counters = WriteCounters()

    async def write(
        self,
        chunk_id: str,
        order: int,
        data: Bytes,
        placement: Placement,
        append: Append,
        *,
        release: Release | None = None,
    ) -> NodeCandidate:
        """Store ``data`` (whose SHA-256 is ``chunk_id``) and append it at ``order``.

        ``release`` is called once the bytes are on a node, before the append: the caller
        may reuse the buffer while the append waits for its batch. Should the append then
        meet the GC's mark, the bytes are read back from that node (which keeps them: it
        refuses the GC's delete within the grace of our store) to store them again.
        """
        node = await self.place(chunk_id, data, placement)
        size = len(data)
        held: Bytes | None = data
        if release is not None:
            await release()
            held = None
        for attempt in range(APPEND_CONFLICT_RETRIES):
            ref = ChunkRef(id=chunk_id, order=order, size=size, locations=[node.id])
            try:
                await append(ref, alone=attempt > 0)
            except ChunkCollecting:
                self.counters.collect_conflicts += 1
                log.info("chunk %s was being collected; storing it again", chunk_id)
                if held is None:
                    held = await self.nodes.get_chunk(node.url, chunk_id)
                node = await self.place(chunk_id, held, placement)
                continue
            self.counters.chunks_stored += 1
            self.counters.bytes_stored += size
            return node
        raise Conflict(f"chunk {chunk_id} stayed in collection; upload aborted")

    async def place(self, chunk_id: str, data: Bytes, placement: Placement) -> NodeCandidate:
        """Store on the best node, then on the others. InsufficientStorage when every node
        that was tried is full, Unavailable when none could take it for another reason."""
        tried: list[str] = []
        failures: list[FilefleetError] = []
        suspects = self.directory.suspects
        while (node := placement.choose(len(data), exclude=tried)) is not None:
            try:
                await self.nodes.put_chunk(node.url, chunk_id, data)
                suspects.ok(node.id)
                return node
            except FilefleetError as exc:
                placement.release(node.id, len(data))
                if not exc.retryable:
                    raise
                tried.append(node.id)
                failures.append(exc)
                if isinstance(exc, InsufficientStorage):
                    placement.full(node.id)
                else:  # hung, cut off, too slow or failing: avoid it for a while
                    suspects.failed(node.id)
                self.counters.store_retries += 1
                log.warning("storing chunk %s on %s failed: %s", chunk_id, node.url, exc.message)
        self.directory.forget()
        if failures and all(isinstance(f, InsufficientStorage) for f in failures):
            raise InsufficientStorage(f"no storage node has room for chunk {chunk_id}")
        if not failures:
            raise InsufficientStorage(
                f"no active storage node has room for a chunk of {len(data)} bytes"
            )
        raise Unavailable(f"no node could store chunk {chunk_id}: {failures[-1].message}")

    async def placement(
        self, *, fresh: bool = True, assigned: dict[str, int] | None = None, room: int = 1
    ) -> Placement:
        """A placement over the active nodes (asked now, or from the ~1 s cache), continuing
        from ``assigned`` (bytes already sent to each node by this upload); 503 when there
        is no active node, 507 when none has ``room`` bytes free (so an upload that cannot
        store its first chunk is refused before its record is written)."""
        candidates = await self.directory.candidates(fresh=fresh)
        if not candidates:
            raise Unavailable("no active storage node: the cluster cannot store files right now")
        if not any(c.free >= room for c in candidates):
            raise InsufficientStorage(
                f"every storage node is full (none has {room} bytes free above its reserve)"
            )
        assigned = {} if assigned is None else assigned
        return Placement(candidates, assigned, avoid=self.directory.suspects.suspected)


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
