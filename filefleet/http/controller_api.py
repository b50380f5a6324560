"""Typed calls to the controller's HTTP API, used by every other service and the CLI.

All of them go through the one HttpClient, so they retry with backoff and fail over
between controllers (``--controller URL1,URL2``). Every call here is safe to repeat:
``POST /file`` is idempotent, chunk appends merge by order, location adds are set inserts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import TypeAdapter

from filefleet.core.models import ChunkRef, FileCreate, FileInfo, FileUpdate, NodeInfo, PingRequest
from filefleet.http.client import HttpClient, RetryPolicy

_NODES = TypeAdapter(list[NodeInfo])


class ControllerClient:
    def __init__(
        self, http: HttpClient, urls: Sequence[str], retry: RetryPolicy | None = None
    ) -> None:
        self.http = http
        self.urls = list(urls)
        self.retry = retry

    async def _get(self, path: str, **kw: Any) -> Any:
        return await self.http.get_json(self.urls, path, retry=self.retry, **kw)

    async def _post(self, path: str, body: Any, **kw: Any) -> Any:
        return await self.http.post_json(self.urls, path, body, retry=self.retry, **kw)

    async def create_file(self, record: FileCreate) -> FileInfo:
        return FileInfo.model_validate(await self._post("/file", record.model_dump(mode="json")))

    async def update_file(self, file_id: str, update: FileUpdate) -> FileInfo:
        body = update.model_dump(mode="json", exclude_none=True)
        return FileInfo.model_validate(await self._post(f"/file/{file_id}", body))

    async def append_chunks(self, file_id: str, chunks: Sequence[ChunkRef]) -> FileInfo:
        return await self.update_file(file_id, FileUpdate(chunks=list(chunks)))

    async def get_file(self, file_id: str) -> FileInfo:
        return FileInfo.model_validate(await self._get(f"/file/{file_id}"))

    async def ping(self, ping: PingRequest) -> None:
        await self._post("/ping", ping.model_dump(mode="json"))

    async def active_nodes(self) -> list[NodeInfo]:
        return _NODES.validate_python(await self._get("/active-nodes"))
