"""A replica made node to node: this node fetches a chunk from another and stores it.

The replicator decides which node lacks a chunk and which nodes hold it, then asks the
target (``POST /chunk/{id}/copy``) to fetch it from the holders; the bytes go from a
holder's disk to the target's disk and through no other process, as in HDFS's block
transfers and Swift's replicator. The target reads them with the replica reader every
service uses (``http/replicas.py``): straight from the socket into one of its page-aligned
buffers, hashed as they land (one SHA-256 pass, the check a node makes of every chunk it
stores), a corrupt or missing source reported to the controller and the next one tried, a
slow one hedged. Then the chunk is stored as an upload's would be (``ChunkStore.put``:
temp file, fsync, rename), its hash already known.

What a crash leaves: before the rename, a temp file (removed at the next start); after
it, an unlisted copy, which the replicator's next attempt lists (the node answers "already
had it") or the GC's orphan sweep removes.
"""

from __future__ import annotations

import mmap

from filefleet.core import ids
from filefleet.core.models import ChunkCopied, NodeRef
from filefleet.fastpath.buffers import Buffers
from filefleet.http.replicas import ReplicaReader
from filefleet.node.chunkstore import ChunkStore


async def copy_chunk(
    store: ChunkStore,
    reader: ReplicaReader,
    buffers: Buffers[mmap.mmap],
    chunk_id: str,
    sources: list[NodeRef],
) -> ChunkCopied:
    """Fetch the chunk from the first source that gives verified bytes and store it."""
    cid = ids.chunk_id(chunk_id)
    held = await store.touch(cid)
    if held is not None:  # nothing to fetch; touched, as a store of it would (DESIGN §8)
        return ChunkCopied(id=cid, stored=True, created=False, size=held)
    buffer = buffers.take()
    try:
        fetched = await reader.fetch(cid, sources, buffer)
        if fetched.data is None or fetched.source is None:
            return ChunkCopied(id=cid, stored=False, reported=fetched.reported)
        # Verified by the reader as it landed: the store need not hash it again.
        result = await store.put(cid, fetched.data, actual=cid)
    finally:
        buffers.give(buffer)
    return ChunkCopied(id=cid, stored=True, created=result.created, size=result.size,
                       source=fetched.source.url, reported=fetched.reported)  # fmt: skip
