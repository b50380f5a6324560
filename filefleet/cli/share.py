"""`filefleet share FILE...`: upload files through the resumable chunk API, print links.

Per file: create an upload (or find the one an interrupted run left, from the state file),
then read the file once, chunk by chunk, hashing each chunk and the whole file; chunks the
upload already has are skipped, chunks the fleet already holds are claimed without sending
a byte (dedup), the rest are sent with a bounded number in flight. Then complete.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from filefleet.cli.common import fail
from filefleet.cli.transfer import ShareState, client, progress_bar, run_command, server_url
from filefleet.core.errors import Forbidden, Gone, NotFound
from filefleet.http.client import HttpClient

INFLIGHT = 4


@dataclass
class ShareCounters:
    sent_bytes: int = 0
    sent_chunks: int = 0
    claimed_chunks: int = 0
    skipped_chunks: int = 0


# The whole-file hash must see the chunks in order: one thread keeps submission order,
# while chunk hashes run in other threads (hashlib releases the GIL: both cores work).
_ordered = ThreadPoolExecutor(max_workers=1, thread_name_prefix="file-sha256")


def _chunk_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Share:
    def __init__(self, http: HttpClient, server: str, *, dedup: bool, progress: Any) -> None:
        self.http = http
        self.server = server
        self.dedup = dedup
        self.progress = progress

    async def share(
        self, path: Path, expires: str | None, max_downloads: int | None
    ) -> dict[str, Any]:
        state = ShareState(self.server, path)
        size = state.size
        status = await self._resume(state) or await self._create(
            state, path, size, expires, max_downloads
        )
        token = state.load() or {}
        counters = ShareCounters()
        missing = set(status["missing"])
        task = self.progress.add_task(path.name[:30], total=size, note="")
        file_hash = hashlib.sha256()
        slots = asyncio.Semaphore(INFLIGHT)
        pending: list[asyncio.Task[None]] = []
        chunk_size = int(status["chunk_size"])
        loop = asyncio.get_running_loop()
        with path.open("rb") as f:
            for index in range(int(status["chunk_count"])):
                await slots.acquire()  # bounds the chunks held in memory
                _raise_failed(pending)
                data: bytes = await asyncio.to_thread(f.read, chunk_size)
                hashed = loop.run_in_executor(_ordered, file_hash.update, data)
                if index in missing:
                    work = self._send(status["id"], index, data, counters, task)
                else:  # the upload has it already: only the whole-file hash needs it
                    counters.skipped_chunks += 1
                    self.progress.advance(task, len(data))
                    work = None
                pending.append(asyncio.create_task(_then_release(work, hashed, slots)))
            await asyncio.gather(*pending)
        body = {"sha256": file_hash.hexdigest(), "delete_token": token["delete_token"]}
        result = (await self.http.request(
            "POST", self.server, f"/uploads/{status['id']}/complete", json=body,
            headers={"Accept": "application/json"},
        )).json()  # fmt: skip
        state.clear()
        return {"file": str(path), **result, **asdict(counters)}

    async def _resume(self, state: ShareState) -> dict[str, Any] | None:
        saved = state.load()
        if not saved or saved.get("server") != self.server:
            return None
        try:
            status: dict[str, Any] = await self.http.get_json(
                self.server, f"/uploads/{saved['id']}"
            )
        except (NotFound, Gone):
            state.clear()
            return None
        return status

    async def _create(
        self,
        state: ShareState,
        path: Path,
        size: int,
        expires: str | None,
        max_downloads: int | None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"name": path.name, "size": size}
        if expires:
            body["expires"] = expires
        if max_downloads:
            body["max_downloads"] = max_downloads
        status: dict[str, Any] = await self.http.post_json(self.server, "/uploads", body)
        state.save(
            {"server": self.server, "id": status["id"], "delete_token": status["delete_token"]}
        )
        return status

    async def _send(
        self, upload_id: str, index: int, data: bytes, counters: ShareCounters, task: Any
    ) -> None:
        """Claim the chunk if the fleet has it, else send its bytes."""
        sha = await asyncio.to_thread(_chunk_hash, data)
        path = f"/uploads/{upload_id}/chunks/{index}"
        if self.dedup and await self._claim(path, sha):
            counters.claimed_chunks += 1
            self.progress.advance(task, len(data))
            self.progress.update(task, note=f"dedup: {counters.claimed_chunks} chunks")
            return
        await self.http.request("PUT", self.server, path, params={"sha256": sha}, data=data)
        counters.sent_chunks += 1
        counters.sent_bytes += len(data)
        self.progress.advance(task, len(data))

    async def _claim(self, path: str, sha: str) -> bool:
        try:
            claim = await self.http.post_json(
                self.server, f"{path}/claim", {}, params={"sha256": sha}
            )
        except Forbidden:  # the server turned dedup off (--no-dedup): send every chunk
            self.dedup = False
            return False
        return bool(claim.get("claimed"))


async def _then_release(
    work: Coroutine[Any, Any, None] | None, hashed: asyncio.Future[None], slots: asyncio.Semaphore
) -> None:
    try:
        if work is not None:
            await work
    finally:
        await asyncio.shield(hashed)  # the chunk's bytes are free once the file hash read them
        slots.release()


def _raise_failed(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        if task.done() and not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]


def share(
    files: Annotated[list[Path], typer.Argument(help="Files to share.", show_default=False)],
    server: Annotated[str | None, typer.Option(help="Frontend URL (FILEFLEET_SERVER).")] = None,
    expires: Annotated[str | None, typer.Option(help="Lifetime: 90s, 12h, 1d, 7d.")] = None,
    max_downloads: Annotated[int | None, typer.Option(help="Downloads allowed.")] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print JSON, one object per file.")
    ] = False,
    dedup: Annotated[bool, typer.Option(help="Claim chunks the fleet already holds.")] = True,
) -> None:
    """Share files: prints one link per file. Run again after an interruption to resume."""
    for path in files:
        if not path.is_file():
            fail(f"{path}: not a readable file")
    url = server_url(server)

    async def work() -> list[dict[str, Any]]:
        async with client() as http:
            with progress_bar(not json_out) as progress:
                sharer = Share(http, url, dedup=dedup, progress=progress)
                return [await sharer.share(p, expires, max_downloads) for p in files]

    results = run_command(work)
    for result in results:
        if json_out:
            typer.echo(json.dumps(result))
        else:
            typer.echo(result["url"])
            typer.echo(f"  delete: {result['delete_url']}", err=True)


def register(app: typer.Typer) -> None:
    app.command("share")(share)
