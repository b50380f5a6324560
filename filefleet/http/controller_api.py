"""Typed calls to the controller's HTTP API, used by every other service and the CLI.

All of them go through the one HttpClient, so they retry with backoff and fail over
between controllers (``--controller URL1,URL2``). Every call here is safe to repeat:
``POST /file`` is idempotent, chunk appends merge by order, location adds are set inserts.

How long a call keeps trying (``CONTROLLER_RETRY``, unless the caller gives its own): a
controller answers 503 while its database restarts or fails over, and a controller
restarts itself in about a second; a call waits through such a gap of up to ~4.5 s (9
attempts, 0.1 s doubling to 2 s between them, jittered: 4.5-9 s of waiting in all)
rather than failing an upload at once, and then gives up with the 503, which the
frontend passes on to its client.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import TypeAdapter

from filefleet.core.file_query import FileQuery
from filefleet.core.health import ClusterStatus
from filefleet.core.models import (
    BundleCreate,
    ChunkInfo,
    ChunkList,
    ChunkPage,
    ChunkRef,
    DrainRequest,
    FileCreate,
    FileInfo,
    FileList,
    FileSummary,
    FileUpdate,
    LocationsAdded,
    NodeForgotten,
    NodeInfo,
    NodeReport,
    NodeStatus,
    PingRequest,
)
from filefleet.http.client import HttpClient
from filefleet.http.retry import RetryPolicy

CONTROLLER_RETRY = RetryPolicy(attempts=9, base_delay=0.1, max_delay=2.0)
_NODES = TypeAdapter(list[NodeInfo])
_NODE_STATUSES = TypeAdapter(list[NodeStatus])


class ControllerClient:
    def __init__(
        self, http: HttpClient, urls: Sequence[str], retry: RetryPolicy | None = None
    ) -> None:
        self.http = http
        self.urls = list(urls)
        self.retry = retry or CONTROLLER_RETRY

    async def _get(self, path: str, **kw: Any) -> Any:
        return await self.http.get_json(self.urls, path, retry=self.retry, **kw)

    async def _post(self, path: str, body: Any, **kw: Any) -> Any:
        return await self.http.post_json(self.urls, path, body, retry=self.retry, **kw)

    async def _delete(self, path: str) -> Any:
        return (await self.http.request("DELETE", self.urls, path, retry=self.retry)).json()

    async def create_file(self, record: FileCreate) -> FileInfo:
        return FileInfo.model_validate(await self._post("/file", record.model_dump(mode="json")))

    async def create_bundle(self, bundle: BundleCreate) -> FileInfo:
        """One file of finished files (idempotent: retried after a lost answer, the same
        bundle comes back)."""
        return FileInfo.model_validate(await self._post("/bundle", bundle.model_dump(mode="json")))

    async def update_file(self, file_id: str, update: FileUpdate) -> FileSummary:
        body = update.model_dump(mode="json", exclude_none=True)
        return FileSummary.model_validate(await self._post(f"/file/{file_id}", body))

    async def append_chunks(self, file_id: str, chunks: Sequence[ChunkRef]) -> FileSummary:
        return await self.update_file(file_id, FileUpdate(chunks=list(chunks)))

    async def get_file(self, file_id: str) -> FileInfo:
        return FileInfo.model_validate(await self._get(f"/file/{file_id}"))

    async def get_summary(self, file_id: str) -> FileSummary:
        return FileSummary.model_validate(await self._get(f"/file/{file_id}/summary"))

    async def ping(self, ping: PingRequest) -> None:
        """Fields left unset are left out: a controller older than the node knows only the
        seed's, and refuses others."""
        await self._post("/ping", ping.model_dump(mode="json", exclude_none=True))

    async def active_nodes(self) -> list[NodeInfo]:
        return _NODES.validate_python(await self._get("/active-nodes"))

    async def all_nodes(self) -> list[NodeStatus]:
        """Every known node with its ``active`` flag (``GET /nodes``)."""
        return _NODE_STATUSES.validate_python(await self._get("/nodes"))

    async def node_report(self, node_id: str) -> NodeReport:
        """``GET /nodes/{id}``: the node, its listed chunks and those still short of R."""
        return NodeReport.model_validate(await self._get(f"/nodes/{node_id}"))

    async def drain_node(
        self, node_id: str, *, draining: bool = True, force: bool = False
    ) -> NodeReport:
        """Start draining the node (or, ``draining=False``, return it to service)."""
        body = DrainRequest(draining=draining, force=force).model_dump()
        return NodeReport.model_validate(await self._post(f"/nodes/{node_id}/drain", body))

    async def forget_node(self, node_id: str, *, force: bool = False) -> NodeForgotten:
        """Remove the node's record and its locations (an active node only with force).
        A repeat after a lost answer finds nothing to forget (NotFound)."""
        path = f"/nodes/{node_id}" + ("?force=true" if force else "")
        answer = await self.http.request("DELETE", self.urls, path, retry=self.retry)
        return NodeForgotten.model_validate(answer.json())

    async def status(self) -> ClusterStatus:
        """``GET /status``: R, every node with its active flag, the totals, the verdict."""
        return ClusterStatus.model_validate(await self._get("/status"))

    async def list_files(self, query: FileQuery) -> FileList:
        """One page of ``GET /files``; ask again with ``after=page.next`` for the next."""
        return FileList.model_validate(await self._get("/files", params=query.as_params()))

    async def mark_deleting(self, file_id: str, token_sha256: str | None = None) -> FileInfo:
        """State -> deleting; with the owner's token hash (403 if wrong), or as the GC."""
        body = {} if token_sha256 is None else {"delete_token_sha256": token_sha256}
        return FileInfo.model_validate(await self._post(f"/file/{file_id}/deleting", body))

    async def delete_file(self, file_id: str) -> bool:
        """Remove the file's metadata; False if it was already gone."""
        return bool((await self._delete(f"/file/{file_id}"))["deleted"])

    async def check_password(self, file_id: str, candidate: str) -> None:
        """Return if ``candidate`` is the file's password; PasswordWrong (401) if not,
        TooManyTries (429, ``retry_after``) past the limit of wrong tries.

        Not retried: a retry after a lost answer would count a wrong try twice.
        """
        await self.http.post_json(
            self.urls, f"/file/{file_id}/password", {"password": candidate},
            retry=RetryPolicy(attempts=1),
        )  # fmt: skip

    async def take_download(self, file_id: str) -> FileInfo:
        """Count one download atomically; raises Gone (410) when none is left.

        Not retried: a retry after a lost answer would count a second download.
        """
        raw = await self.http.post_json(
            self.urls, f"/file/{file_id}/download", {}, retry=RetryPolicy(attempts=1)
        )
        return FileInfo.model_validate(raw)

    async def get_chunk(self, chunk_id: str, repair_after: float = 0.0) -> ChunkInfo:
        params = {"repair_after": f"{repair_after}s"}
        return ChunkInfo.model_validate(await self._get(f"/chunk/{chunk_id}", params=params))

    async def lookup_chunks(
        self, chunk_ids: Sequence[str], repair_after: float = 0.0
    ) -> list[ChunkInfo]:
        """The records of the known ones among ``chunk_ids`` (one call per 1,000); live
        counts as for ``get_chunk``."""
        found: list[ChunkInfo] = []
        for start in range(0, len(chunk_ids), 1000):
            body = {"ids": list(chunk_ids[start : start + 1000]), "repair_after": repair_after}
            found += ChunkList.model_validate(await self._post("/chunks/lookup", body)).chunks
        return found

    async def listed_on_node(self, node_id: str, after: str | None, until: str | None) -> list[str]:
        """Every chunk the metadata lists on the node with an id in ``(after, until]``
        (None: unbounded), in order, in pages of 1,000."""
        found: list[str] = []
        while True:
            params: dict[str, str | int] = {"limit": 1000}
            if after:
                params["after"] = after
            if until:
                params["until"] = until
            page = ChunkPage.model_validate(
                await self._get(f"/nodes/{node_id}/chunks", params=params)
            )
            found += page.chunks
            if page.next is None:
                return found
            after = page.next

    async def add_locations(self, pairs: Sequence[tuple[str, str]]) -> LocationsAdded:
        """Record (chunk, node) replicas, up to 1,000 per call, each call one transaction."""
        added, unknown = 0, []
        for start in range(0, len(pairs), 1000):
            body = {"add": [{"chunk": c, "node": n} for c, n in pairs[start : start + 1000]]}
            answer = LocationsAdded.model_validate(await self._post("/chunks/locations", body))
            added += answer.added
            unknown += answer.unknown
        return LocationsAdded(added=added, unknown=unknown)

    async def add_location(self, chunk_id: str, node_id: str) -> ChunkInfo:
        raw = await self._post(f"/chunk/{chunk_id}/locations", {"node": node_id})
        return ChunkInfo.model_validate(raw)

    async def remove_location(
        self, chunk_id: str, node_id: str, *, reclaimed: bool = False
    ) -> ChunkInfo:
        """Drop one location; ``reclaimed`` when the GC deleted the replica (counted)."""
        path = f"/chunk/{chunk_id}/locations/{node_id}"
        raw = await self._delete(path + ("?reclaimed=true" if reclaimed else ""))
        return ChunkInfo.model_validate(raw)

    async def under_replicated(
        self, *, replicas: int | None = None, repair_after: float = 0.0, limit: int = 100
    ) -> list[ChunkInfo]:
        """Chunks of live files below R live replicas, fewest first (R: the controller's
        ``--replicas`` unless given)."""
        params: dict[str, str | int] = {"limit": limit, "repair_after": f"{repair_after}s"}
        if replicas is not None:
            params["replicas"] = replicas
        raw = await self._get("/chunks/under-replicated", params=params)
        return ChunkList.model_validate(raw).chunks

    async def mark_collecting(self, chunk_id: str, grace: float) -> bool:
        """GC step 1 (DESIGN §8): mark the chunk unless a live file references it."""
        raw = await self._post(f"/chunk/{chunk_id}/collecting", {"grace": grace})
        return bool(raw["collecting"])

    async def delete_chunk(self, chunk_id: str) -> bool:
        """Remove a marked chunk's record once no file and no location names it."""
        return bool((await self._delete(f"/chunk/{chunk_id}"))["deleted"])
