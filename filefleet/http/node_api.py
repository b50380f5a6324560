"""Typed calls to a file node's HTTP API (DESIGN §4), used by the frontend, the
replicator and the GC. A node is addressed by its base URL."""

from __future__ import annotations

from typing import Any

from filefleet.core.errors import CorruptChunk, InsufficientStorage, NotFound, TimedOut
from filefleet.core.models import ChunkCopied, ChunkCopy, ChunkVerified, NodeRef
from filefleet.fastpath.direct import Into
from filefleet.fastpath.hashing import ArrivingDigest
from filefleet.http.client import HttpClient
from filefleet.http.retry import RetryPolicy

# Store: the same node once more after a short pause (a refused or reset connection, a
# 503); then the caller picks another node. A node that passed a deadline (hung, cut off
# or too slow: http/deadlines.py) or is full is not tried again.
STORE_RETRY = RetryPolicy(
    attempts=2, base_delay=0.05, max_delay=0.2, final=(TimedOut, InsufficientStorage)
)
READ_RETRY = RetryPolicy(attempts=1)


class NodeClient:
    def __init__(self, http: HttpClient) -> None:
        self.http = http

    async def put_chunk(
        self, url: str, chunk_id: str, data: bytes | bytearray | memoryview
    ) -> bool:
        """Store a chunk; True if the node created it, False if it already had it."""
        resp = await self.http.request(
            "POST",
            url,
            "/chunk",
            params={"hash": chunk_id},
            data=data,
            headers={"Content-Type": "application/octet-stream"},
            retry=STORE_RETRY,
        )
        return resp.status == 201

    async def copy_chunk(self, url: str, chunk_id: str, sources: list[NodeRef]) -> ChunkCopied:
        """Have the node at ``url`` fetch the chunk from one of ``sources`` (verified as it
        lands) and store it: a replica made node to node, no byte through the caller."""
        body = ChunkCopy(sources=sources).model_dump(mode="json")
        raw = await self.http.post_json(url, f"/chunk/{chunk_id}/copy", body, retry=STORE_RETRY)
        return ChunkCopied.model_validate(raw)

    async def get_chunk(
        self, url: str, chunk_id: str, *, verify: bool = True, into: Into | None = None
    ) -> bytearray | memoryview:
        """The chunk's bytes, verified against its id (CorruptChunk otherwise) unless the
        caller checks them another way (``verify=False``). Read into ``into`` when given
        and large enough (a view of it is returned), else into a new buffer; hashed in a
        thread while it arrives (``ArrivingDigest``)."""
        digest: ArrivingDigest | None = None

        def arrived(view: memoryview, filled: int) -> None:
            nonlocal digest
            if digest is None:
                digest = ArrivingDigest(view)
            digest.arrived(filled)

        try:
            data = await self.http.get_into(
                f"{url}/chunk/{chunk_id}",
                into,
                arrived=arrived if verify else None,
            )
            hexdigest = None if digest is None else await digest.hexdigest(len(data))
        except BaseException:
            if digest is not None:
                await digest.settle()  # the buffer may be reused: no thread may still read it
            raise
        if verify and hexdigest != chunk_id:
            raise CorruptChunk(f"node {url} returned corrupt bytes for chunk {chunk_id}")
        return data

    async def has_chunk(self, url: str, chunk_id: str) -> bool:
        """Whether the node holds the chunk (HEAD); raises on other failures."""
        try:
            await self.http.request("HEAD", url, f"/chunk/{chunk_id}", retry=READ_RETRY)
        except NotFound:
            return False
        return True

    async def delete_chunk(self, url: str, chunk_id: str, grace: float) -> bool:
        """Delete unless stored or touched within ``grace`` seconds (Conflict, 409); True if
        the node deleted it now, False if it was not there."""
        resp = await self.http.request(
            "DELETE", url, f"/chunk/{chunk_id}", params={"grace": str(grace)}, retry=READ_RETRY
        )
        return bool(resp.json().get("deleted"))

    async def verify_chunk(self, url: str, chunk_id: str) -> ChunkVerified:
        """Have the node re-hash its copy (NotFound if it has none); a corrupt one it
        quarantines and reports to the controller itself."""
        raw = await self.http.post_json(url, f"/chunk/{chunk_id}/verify", {}, retry=READ_RETRY)
        return ChunkVerified.model_validate(raw)

    async def list_chunks(self, url: str, after: str | None = None, limit: int = 1000) -> Any:
        params: dict[str, str | int] = {"limit": limit}
        if after:
            params["after"] = after
        return await self.http.get_json(url, "/chunks", params=params, retry=READ_RETRY)
