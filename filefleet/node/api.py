"""The node's HTTP routes (DESIGN §4). Thin: parse, call the ChunkStore, map the result.

    POST   /chunk?hash=<id>          raw body -> 201 stored / 200 already here (touched)
                                     400 hash mismatch or bad id, 413 > --max-chunk, 507 full
    GET    /chunk/{id}               the bytes, read and sent whole; 404 absent (HEAD too)
    DELETE /chunk/{id}?grace=<dur>   200 {"id", "deleted"}; 409 written/touched within grace
    POST   /chunk/{id}/verify        re-hash on disk: {"id", "size", "ok", "quarantined"}; 404
    POST   /chunk/{id}/copy          {"sources": [{"id", "url"}]}: fetch from a holder, store;
                                     {"id", "stored", "created", "size", "source", "reported"}
    GET    /chunks?after=&limit=     {"chunks": [...], "next": id | null}
    GET    /stats                    counts, space, scrub counters
    GET    /metrics                  the same for Prometheus

All of them need the cluster secret (``make_app`` checks it before anything else).
"""

from __future__ import annotations

import asyncio
import hashlib
import mmap
from typing import Any

from aiohttp import web

from filefleet.core import ids
from filefleet.core.errors import InvalidInput
from filefleet.core.models import ChunkCopied, ChunkCopy, ChunkVerified
from filefleet.core.units import parse_duration
from filefleet.fastpath.buffers import Buffers, aligned_buffers
from filefleet.fastpath.sending import released, wait_for_kernel
from filefleet.http.bodies import chunk_body
from filefleet.http.metrics import METRICS
from filefleet.http.replicas import ReplicaReader
from filefleet.http.server import Api, json_model, make_app, read_model
from filefleet.node import copying
from filefleet.node.chunkstore import ChunkStore
from filefleet.node.models import ChunkDeleted, ChunkPage, ChunkStored, NodeStats
from filefleet.node.scrub import Scrubber

STORE = web.AppKey("chunk_store", ChunkStore)
SCRUBBER = web.AppKey("scrubber", Scrubber)
MAX_CHUNK = web.AppKey("max_chunk", int)
BODIES = web.AppKey("bodies", Buffers[mmap.mmap])
READER = web.AppKey("replica_reader", ReplicaReader)  # reads other nodes' replicas (copies)

KEEP_BUFFERS = 8  # chunk buffers (bodies received, chunks read) kept between requests

MAX_PAGE = 10_000

api = Api("node")


@api.route("POST", "/chunk", summary="Store a chunk (raw body, ?hash=sha256)", response=ChunkStored)
async def post_chunk(request: web.Request) -> web.Response:
    chunk_id = ids.chunk_id(request.query.get("hash", ""))
    # Read straight into a page-aligned buffer, hashed as it lands, and written (O_DIRECT)
    # from there once the hash matched.
    digest = hashlib.sha256()
    async with chunk_body(request, request.app[MAX_CHUNK], request.app[BODIES], digest) as data:
        result = await request.app[STORE].put(chunk_id, data, actual=digest.hexdigest())
    body = ChunkStored(id=result.id, size=result.size, created=result.created)
    return json_model(body, status=201 if result.created else 200)


@api.route("GET", "/chunk/{id}", summary="Read a chunk (HEAD: whether it is here, its size)")
async def get_chunk(request: web.Request) -> web.StreamResponse:
    store = request.app[STORE]
    chunk_id = request.match_info["id"]
    headers = {"Content-Type": "application/octet-stream", "Cache-Control": "no-store"}
    if request.method == "HEAD":
        stat = await store.stat(chunk_id)  # validates the id; NotFound -> 404 as JSON
        headers["Content-Length"] = str(stat.st_size)
        return web.Response(headers=headers)
    # The whole chunk is read in one call into a reused page-aligned buffer and sent in one
    # write. (aiohttp's FileResponse falls back, under uvloop, which has no sendfile, to
    # 256 KiB reads each handed to the thread pool, through the page cache.)
    buffers = request.app[BODIES]
    buffer = buffers.take()
    try:
        size = await store.read_into(chunk_id, buffer)
    except BaseException:
        buffers.give(buffer)
        raise
    if size is None:  # larger than --max-chunk (stored before the limit was lowered)
        buffers.give(buffer)
        return web.Response(body=await store.read(chunk_id), headers=headers)
    response = web.StreamResponse(headers=headers)
    response.content_length = size
    wait_for_kernel(request)
    await response.prepare(request)
    await response.write(memoryview(buffer)[:size])
    await response.write_eof()
    if released(request):
        buffers.give(buffer)
    return response


@api.route("DELETE", "/chunk/{id}", summary="Delete a chunk unless recent", response=ChunkDeleted)
async def delete_chunk(request: web.Request) -> web.Response:
    chunk_id = ids.chunk_id(request.match_info["id"])
    grace = parse_duration(request.query.get("grace", "0"))
    deleted = await request.app[STORE].delete(chunk_id, grace)
    return json_model(ChunkDeleted(id=chunk_id, deleted=deleted))


@api.route("POST", "/chunk/{id}/verify", summary="Re-hash a chunk on disk (fsck --verify)",
           response=ChunkVerified)  # fmt: skip
async def verify_chunk(request: web.Request) -> web.Response:
    """The bytes are read and hashed here, not sent: a check of the whole fleet costs the
    network nothing. A corrupt chunk is quarantined and reported, as the scrubber does."""
    chunk_id = ids.chunk_id(request.match_info["id"])
    return json_model(await request.app[SCRUBBER].check_chunk(chunk_id))


@api.route("POST", "/chunk/{id}/copy", summary="Fetch a chunk from another node and store it",
           body=ChunkCopy, response=ChunkCopied)  # fmt: skip
async def copy_chunk(request: web.Request) -> web.Response:
    """The replicator's node-to-node copy (``copying.py``): the bytes come from a holder
    straight to this node's disk, verified as they land."""
    chunk_id = ids.chunk_id(request.match_info["id"])
    body = await read_model(request, ChunkCopy)
    app = request.app
    result = await copying.copy_chunk(app[STORE], app[READER], app[BODIES], chunk_id, body.sources)
    return json_model(result, status=201 if result.created else 200)


@api.route("GET", "/chunks", summary="List chunk ids in order (paged)", response=ChunkPage)
async def list_chunks(request: web.Request) -> web.Response:
    after = request.query.get("after") or None
    limit = _int_param(request, "limit", 1000)
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}")
    page, following = await request.app[STORE].list(after, limit)
    return json_model(ChunkPage(chunks=page, next=following))


@api.route("GET", "/stats", summary="Chunks, space and scrub counters", response=NodeStats)
async def stats(request: web.Request) -> web.Response:
    return json_model(await read_stats(request.app[STORE], request.app[SCRUBBER]))


async def read_stats(store: ChunkStore, scrubber: Scrubber) -> NodeStats:
    """What ``/stats`` shows, and ``/metrics`` too (one ``statvfs`` for the space)."""
    space = await asyncio.to_thread(store.space)
    usage = store.usage()
    return NodeStats(
        id=store.node_id,
        chunks=usage.chunks,
        bytes=usage.bytes,
        capacity=space.capacity,
        free=space.free,
        quarantined=usage.quarantined,
        scrub=scrubber.stats(),
    )


def _int_param(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be an integer, not {raw[:20]!r}") from None


def make_node_app(
    store: ChunkStore,
    scrubber: Scrubber,
    reader: ReplicaReader,
    *,
    secret: str | None,
    max_chunk: int,
) -> web.Application:
    app = make_app(
        api, service_id=store.node_id, secret=secret, client_max_size=max(max_chunk, 1024**2)
    )
    app[STORE] = store
    app[SCRUBBER] = scrubber
    app[READER] = reader
    app[MAX_CHUNK] = max_chunk
    app[BODIES] = aligned_buffers(max_chunk, KEEP_BUFFERS)

    async def counters() -> dict[str, Any]:  # /stats, flat
        shown = (await read_stats(store, scrubber)).model_dump()
        scrub: dict[str, Any] = shown.pop("scrub")
        return shown | scrub

    app[METRICS].read_at_scrape(counters)
    return app
