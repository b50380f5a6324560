"""The controller's API routes: parse (ids through ``core.ids``, bodies through
``read_model``), call the store, or the controller's rule that decides
(``file_states.py``, ``downloads.py``, ``collecting_mark.py``, ``chunks.py``,
``nodes.py``), answer JSON. Every route but /healthz and /openapi.json needs the cluster
secret (``make_app``). The status view's routes are in
``ui.py``; ``app.py`` puts both tables on the app."""

from __future__ import annotations

from aiohttp import web

from filefleet.core import ids
from filefleet.core.models import (
    BundleCreate,
    ChunkInfo,
    ChunkList,
    ChunkLookup,
    ChunkPage,
    Collecting,
    DrainRequest,
    FileCreate,
    FileInfo,
    FileList,
    FileSummary,
    FileUpdate,
    LocationAdd,
    LocationsAdd,
    LocationsAdded,
    MarkCollecting,
    MarkDeleting,
    NodeForgotten,
    NodeInfo,
    NodeReport,
    PasswordAccepted,
    PasswordTry,
    PingRequest,
    Removed,
)
from filefleet.http.server import Api, json_model, read_model
from filefleet.store.base import MetadataStore

from . import chunks, collecting_mark, downloads, file_states, nodes, params
from .context import LIFECYCLE, SETTINGS, STORE
from .passwords import PasswordCheck

api = Api("controller")


def _store(request: web.Request) -> MetadataStore:
    return request.app[STORE]


def _ttl(request: web.Request) -> float:
    return request.app[SETTINGS].node_ttl


# --- files ---


@api.route("POST", "/file", summary="Create a file record (idempotent)", body=FileCreate,
           response=FileInfo)  # fmt: skip
async def create_file(request: web.Request) -> web.Response:
    record = await read_model(request, FileCreate)
    info, created = await _store(request).create_file(record)
    return json_model(info, status=201 if created else 200)


@api.route("POST", "/bundle", summary="Make one file of finished files (a bundle)",
           body=BundleCreate, response=FileInfo)  # fmt: skip
async def create_bundle(request: web.Request) -> web.Response:
    bundle = await read_model(request, BundleCreate)
    info, created = await _store(request).create_bundle(bundle)
    return json_model(info, status=201 if created else 200)


@api.route("POST", "/file/{id}", summary="Append chunks and/or finish the upload",
           body=FileUpdate, response=FileSummary)  # fmt: skip
async def update_file(request: web.Request) -> web.Response:
    file_id = ids.file_id(request.match_info["id"])
    update = await read_model(request, FileUpdate)
    return json_model(await file_states.update_file(_store(request), file_id, update))


@api.route("GET", "/file/{id}", summary="A file's metadata, any state", response=FileInfo)
async def get_file(request: web.Request) -> web.Response:
    file_id = ids.file_id(request.match_info["id"])
    return json_model(await _store(request).get_file(file_id))


@api.route("GET", "/file/{id}/summary", summary="A file's record and chunk count, no chunk list",
           response=FileSummary)  # fmt: skip
async def get_file_summary(request: web.Request) -> web.Response:
    file_id = ids.file_id(request.match_info["id"])
    return json_model(await _store(request).get_summary(file_id))


@api.route("DELETE", "/file/{id}", summary="Remove a file's metadata", response=Removed)
async def delete_file(request: web.Request) -> web.Response:
    file_id = ids.file_id(request.match_info["id"])
    deleted = await _store(request).delete_file(file_id)
    return json_model(Removed(id=file_id, deleted=deleted))


@api.route("POST", "/file/{id}/deleting", summary="Mark a file deleting (owner or GC)",
           body=MarkDeleting, response=FileInfo)  # fmt: skip
async def mark_deleting(request: web.Request) -> web.Response:
    file_id = ids.file_id(request.match_info["id"])
    body = await read_model(request, MarkDeleting)
    return json_model(await _store(request).mark_deleting(file_id, body.delete_token_sha256))


@api.route("POST", "/file/{id}/download", summary="Take one download (410 when none left)",
           response=FileInfo)  # fmt: skip
async def take_download(request: web.Request) -> web.Response:
    file_id = ids.file_id(request.match_info["id"])
    return json_model(await downloads.take_download(_store(request), file_id))


@api.route("POST", "/file/{id}/password", body=PasswordTry, response=PasswordAccepted,
           summary="Check a file's password (401 wrong, 429 too many wrong tries)")  # fmt: skip
async def check_password(request: web.Request) -> web.Response:
    candidate = (await read_model(request, PasswordTry)).password
    checked = PasswordCheck(_store(request)).check(ids.file_id(request.match_info["id"]), candidate)
    return json_model(await checked)


@api.route("GET", "/files", summary="List files, paged by id", response=FileList)
async def list_files(request: web.Request) -> web.Response:
    query = params.file_query(request.query)
    return json_model(await _store(request).list_files(query))


# --- nodes ---


@api.route("POST", "/ping", summary="Register or check in a node", body=PingRequest,
           response=NodeInfo)  # fmt: skip
async def ping(request: web.Request) -> web.Response:
    node = await read_model(request, PingRequest)
    return json_model(await _store(request).ping(node))


@api.route("GET", "/active-nodes", summary="Nodes pinged within the node TTL")
async def active_nodes(request: web.Request) -> web.Response:
    return json_model(await _store(request).active_nodes(_ttl(request)))


@api.route("GET", "/nodes", summary="Every known node with its active flag")
async def all_nodes(request: web.Request) -> web.Response:
    return json_model(await _store(request).all_nodes(_ttl(request)))


@api.route("GET", "/nodes/{id}", summary="A node, its listed chunks and those short of R",
           response=NodeReport)  # fmt: skip
async def node_report(request: web.Request) -> web.Response:
    node_id = ids.node_id(request.match_info["id"])
    return json_model(await request.app[LIFECYCLE].report(node_id))


@api.route("POST", "/nodes/{id}/drain",
           summary="Drain a node (no new chunks; its chunks copied elsewhere), or undrain it",
           body=DrainRequest, response=NodeReport)  # fmt: skip
async def drain_node(request: web.Request) -> web.Response:
    node_id = ids.node_id(request.match_info["id"])
    body = await read_model(request, DrainRequest)
    return json_model(await request.app[LIFECYCLE].drain(node_id, body))


@api.route("DELETE", "/nodes/{id}",
           summary="Forget a node: its record and locations (?force=true: even if active)",
           response=NodeForgotten)  # fmt: skip
async def forget_node(request: web.Request) -> web.Response:
    node_id = ids.node_id(request.match_info["id"])
    force = params.force(request.query)
    return json_model(await request.app[LIFECYCLE].forget(node_id, force=force))


@api.route("GET", "/nodes/{id}/chunks", summary="Chunks listed on a node, in id order (paged)",
           response=ChunkPage)  # fmt: skip
async def chunks_on_node(request: web.Request) -> web.Response:
    node_id = ids.node_id(request.match_info["id"])
    query = params.node_chunk_query(request.query)
    return json_model(await nodes.chunks_on_node(_store(request), node_id, query))


# --- chunks ---


@api.route("GET", "/chunk/{id}", summary="A chunk's locations and references",
           response=ChunkInfo)  # fmt: skip
async def get_chunk(request: web.Request) -> web.Response:
    chunk_id = ids.chunk_id(request.match_info["id"])
    extra = params.repair_after(request.query)
    return json_model(await chunks.get_chunk(_store(request), chunk_id, _ttl(request), extra))


@api.route("DELETE", "/chunk/{id}", summary="Remove a collected chunk's record",
           response=Removed)  # fmt: skip
async def delete_chunk(request: web.Request) -> web.Response:
    chunk_id = ids.chunk_id(request.match_info["id"])
    deleted = await _store(request).delete_chunk(chunk_id)
    return json_model(Removed(id=chunk_id, deleted=deleted))


@api.route("POST", "/chunk/{id}/locations", summary="Add one replica location",
           body=LocationAdd, response=ChunkInfo)  # fmt: skip
async def add_location(request: web.Request) -> web.Response:
    chunk_id = ids.chunk_id(request.match_info["id"])
    body = await read_model(request, LocationAdd)
    info = await chunks.add_location(_store(request), chunk_id, body.node, _ttl(request))
    return json_model(info)


@api.route("DELETE", "/chunk/{id}/locations/{node}",
           summary="Remove one replica location (?reclaimed=true: the GC deleted it)",
           response=ChunkInfo)  # fmt: skip
async def remove_location(request: web.Request) -> web.Response:
    chunk_id = ids.chunk_id(request.match_info["id"])
    node_id = ids.node_id(request.match_info["node"])
    reclaimed = params.flag("reclaimed", request.query.get("reclaimed", "false"))
    info = await chunks.remove_location(
        _store(request), chunk_id, node_id, _ttl(request), reclaimed=reclaimed
    )
    return json_model(info)


@api.route("POST", "/chunk/{id}/collecting", summary="GC: mark an unreferenced chunk",
           body=MarkCollecting, response=Collecting)  # fmt: skip
async def mark_collecting(request: web.Request) -> web.Response:
    chunk_id = ids.chunk_id(request.match_info["id"])
    body = await read_model(request, MarkCollecting)
    marked = await collecting_mark.mark_collecting(_store(request), chunk_id, body.grace)
    return json_model(Collecting(id=chunk_id, collecting=marked))


@api.route("GET", "/chunks/under-replicated", summary="Chunks of live files below R, fewest first",
           response=ChunkList)  # fmt: skip
async def under_replicated(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    query = params.chunk_query(request.query, settings.replicas)
    return json_model(await chunks.under_replicated(_store(request), query, settings.node_ttl))


@api.route("POST", "/chunks/lookup", summary="The records of many chunks (unknown ones left out)",
           body=ChunkLookup, response=ChunkList)  # fmt: skip
async def lookup_chunks(request: web.Request) -> web.Response:
    body = await read_model(request, ChunkLookup)
    found = await chunks.lookup(_store(request), body.ids, _ttl(request), body.repair_after)
    return json_model(found)


@api.route("POST", "/chunks/locations", summary="Record many replica locations at once",
           body=LocationsAdd, response=LocationsAdded)  # fmt: skip
async def add_locations(request: web.Request) -> web.Response:
    body = await read_model(request, LocationsAdd)
    return json_model(await chunks.add_locations(_store(request), body))
