"""Typed calls to a file node's HTTP API (DESIGN §4), used by the frontend, the
replicator and the GC. A node is addressed by its base URL."""

from __future__ import annotations

from typing import Any

import aiohttp

from filefleet.core.errors import NotFound, Unavailable, UpstreamError
from filefleet.core.hashing import ArrivingDigest, sha256_hex_async
from filefleet.http.client import HttpClient, RetryPolicy

# Store: the same node once more after a short pause; then the caller picks another node.
STORE_RETRY = RetryPolicy(attempts=2, base_delay=0.05, max_delay=0.2)
READ_RETRY = RetryPolicy(attempts=1)


class CorruptChunk(UpstreamError):
    """A node answered bytes that do not hash to the chunk id."""


class NodeClient:
    def __init__(self, http: HttpClient, *, chunk_timeout: float = 60.0) -> None:
        self.http = http
        self.chunk_timeout = chunk_timeout

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
            timeout=self.chunk_timeout,
        )
        return resp.status == 201

    async def get_chunk(
        self, url: str, chunk_id: str, *, verify: bool = True, into: bytearray | None = None
    ) -> bytearray | memoryview:
        """The chunk's bytes, verified against its id (CorruptChunk otherwise) unless the
        caller checks them another way (``verify=False``). Read into ``into`` when given
        and large enough (a view of it is returned), else into a new buffer."""
        async with self.http.stream(
            "GET", f"{url}/chunk/{chunk_id}", timeout=self.chunk_timeout
        ) as r:
            try:
                data, digest = await _read_body(r, into, hashing=verify)
            except Exception as exc:
                raise Unavailable(f"reading chunk {chunk_id} from {url}: {exc}") from exc
        if verify and digest != chunk_id:
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

    async def list_chunks(self, url: str, after: str | None = None, limit: int = 1000) -> Any:
        params: dict[str, str | int] = {"limit": limit}
        if after:
            params["after"] = after
        return await self.http.get_json(url, "/chunks", params=params, retry=READ_RETRY)


async def _read_body(
    response: aiohttp.ClientResponse, into: bytearray | None = None, *, hashing: bool = False
) -> tuple[bytearray | memoryview, str | None]:
    """The body and, if ``hashing``, its SHA-256. The body is copied once into a buffer of
    its announced size as it arrives (reading it whole would hold the pieces and their
    joined copy at once: twice the chunk): ``into`` when it is large enough, else a new one.
    It is hashed in a thread while it arrives (``ArrivingDigest``)."""
    size = response.content_length
    if size is None:
        whole = bytearray(await response.read())
        return whole, (await sha256_hex_async(whole)) if hashing else None
    body = into if into is not None and len(into) >= size else bytearray(size)
    view = memoryview(body)
    digest = ArrivingDigest(view) if hashing else None
    filled = 0
    try:
        async for piece in response.content.iter_any():
            end = filled + len(piece)
            if end > size:
                raise Unavailable(f"body longer than its Content-Length of {size}")
            view[filled:end] = piece
            filled = end
            if digest is not None:
                digest.arrived(filled)
        if filled != size:
            raise Unavailable(f"body of {filled} bytes, {size} announced")
        hexdigest = (await digest.hexdigest(size)) if digest is not None else None
    except BaseException:
        if digest is not None:
            await digest.settle()  # the buffer may be reused: no thread may still read it
        raise
    return (body if body is not into else view[:size]), hexdigest
