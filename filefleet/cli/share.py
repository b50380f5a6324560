"""`filefleet share FILE...`: upload files through the resumable chunk API, print links.

Per file: create an upload (or find the one an interrupted run left, from the state file);
then read the file once, hashing each chunk and the whole file, and for every window of
32 chunks, while the next window is being hashed: claim the missing ones the fleet
already holds in one request (dedup: no byte sent for those), and send the others, a few
in flight. Chunks the upload already has (an interrupted run sent them) are skipped.
Finally complete: the server checks the whole file's SHA-256.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from filefleet.cli.common import fail
from filefleet.cli.transfer import ShareState, client, progress_bar, run_command, server_url
from filefleet.core.buffers import BufferPool
from filefleet.core.errors import Forbidden, Gone, NotFound
from filefleet.http.client import HttpClient

INFLIGHT = 8
WINDOW = 32  # chunks hashed, then claimed in one request, while earlier ones are sent


@dataclass
class ShareCounters:
    sent_bytes: int = 0
    sent_chunks: int = 0
    claimed_chunks: int = 0
    skipped_chunks: int = 0


# The whole-file hash must see the chunks in order: one thread keeps submission order,
# while chunk hashes run in other threads (hashlib releases the GIL: both cores work).
_ordered = ThreadPoolExecutor(max_workers=1, thread_name_prefix="file-sha256")


def _chunk_hash(data: memoryview) -> str:
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
        upload_id, chunk_size = status["id"], int(status["chunk_size"])
        missing = sorted(status["missing"])
        counters.skipped_chunks = int(status["chunk_count"]) - len(missing)
        task = self.progress.add_task(path.name[:30], total=size, note="")
        have = set(range(int(status["chunk_count"]))) - set(missing)
        self.progress.advance(task, sum(_length(i, size, chunk_size) for i in have))
        wanted = set(missing)
        sends = _Bounded(INFLIGHT)
        # Chunks are read into reused buffers: no fresh 4 MiB allocation (and its page
        # faults) per chunk, and memory bounded by the chunks in flight.
        buffers = BufferPool(chunk_size, INFLIGHT)

        async def handle(window: list[tuple[int, str]]) -> None:
            """A window of hashed chunks: claim the missing ones, send what is not claimed."""
            todo = [(i, sha) for i, sha in window if i in wanted]
            claimed = await self._claim(upload_id, todo)
            counters.claimed_chunks += len(claimed)
            if claimed:
                self.progress.advance(task, sum(_length(i, size, chunk_size) for i in claimed))
                self.progress.update(task, note=f"dedup: {counters.claimed_chunks} chunks")
            for index, sha in todo:
                if index not in claimed:
                    sends.start(self._send(path, upload_id, index, sha, buffers, counters, task))

        # Hashing runs ahead while earlier windows are claimed and sent (both cores work).
        windows = _Bounded(2)
        file_sha = await hash_file(path, chunk_size, lambda w: windows.start(handle(w)))
        await windows.wait()
        await sends.wait()
        body = {"sha256": file_sha, "delete_token": token["delete_token"]}
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

    async def _claim(self, upload_id: str, wanted: list[tuple[int, str]]) -> set[int]:
        """Claim by hash, 1,000 chunks per request; the indexes the server recorded."""
        claimed: set[int] = set()
        for start in range(0, len(wanted) if self.dedup else 0, 1000):
            body = {"chunks": [{"index": i, "sha256": h} for i, h in wanted[start : start + 1000]]}
            try:
                answer = await self.http.post_json(
                    self.server, f"/uploads/{upload_id}/claims", body
                )
            except Forbidden:  # the server turned dedup off (--no-dedup): send every chunk
                self.dedup = False
                return claimed
            claimed.update(int(i) for i in answer["claimed"])
        return claimed

    async def _send(
        self, path: Path, upload_id: str, index: int, sha: str, buffers: BufferPool,
        counters: ShareCounters, task: Any,
    ) -> None:  # fmt: skip
        buffer = await buffers.acquire()
        try:
            length = await asyncio.to_thread(_read_at, path, index * buffers.size, buffer)
            await self.http.request(
                "PUT", self.server, f"/uploads/{upload_id}/chunks/{index}",
                params={"sha256": sha}, data=memoryview(buffer)[:length],
            )  # fmt: skip
        finally:
            buffers.release(buffer)
        counters.sent_chunks += 1
        counters.sent_bytes += length
        self.progress.advance(task, length)


class _Bounded:
    """Coroutines run at most ``limit`` at a time; ``wait`` raises the first failure."""

    def __init__(self, limit: int) -> None:
        self.slots = asyncio.Semaphore(limit)
        self.tasks: list[asyncio.Task[None]] = []

    def start(self, work: Coroutine[Any, Any, None]) -> None:
        async def bounded() -> None:
            async with self.slots:
                await work

        self.tasks.append(asyncio.create_task(bounded()))

    async def wait(self) -> None:
        try:
            await asyncio.gather(*self.tasks)
        finally:
            for pending in self.tasks:
                pending.cancel()


def _length(index: int, size: int, chunk_size: int) -> int:
    return min(chunk_size, size - index * chunk_size)


def _read_at(path: Path, offset: int, buffer: bytearray) -> int:
    """Fill ``buffer`` from ``offset`` (less only at the end of the file); the length read."""
    with path.open("rb", buffering=0) as f:
        f.seek(offset)
        return _fill(f, buffer)


def _fill(f: io.RawIOBase, buffer: bytearray) -> int:
    view = memoryview(buffer)
    filled = 0
    while filled < len(buffer) and (got := f.readinto(view[filled:])):
        filled += got
    return filled


async def hash_file(
    path: Path, chunk_size: int, on_window: Callable[[list[tuple[int, str]]], None]
) -> str:
    """The whole file's SHA-256, reading it once; each chunk's SHA-256 is handed to
    ``on_window`` in order, ``WINDOW`` chunks at a time. Chunk hashes run in worker threads
    while one ordered thread feeds the whole-file hash (hashlib releases the GIL, so both
    cores work). At most a few chunks are held at once."""
    loop = asyncio.get_running_loop()
    file_hash = hashlib.sha256()
    buffers = BufferPool(chunk_size, INFLIGHT)
    window: list[asyncio.Task[str]] = []
    index = 0

    async def chunk_sha(buffer: bytearray, data: memoryview, whole: asyncio.Future[None]) -> str:
        try:
            return await asyncio.to_thread(_chunk_hash, data)
        finally:
            await asyncio.shield(whole)
            buffers.release(buffer)

    async def flush() -> None:
        hashes = await asyncio.gather(*window)
        first = index - len(window)
        on_window([(first + n, sha) for n, sha in enumerate(hashes)])
        window.clear()

    with path.open("rb", buffering=0) as f:
        while True:
            buffer = await buffers.acquire()
            length = await asyncio.to_thread(_fill, f, buffer)
            if not length:
                buffers.release(buffer)
                break
            data = memoryview(buffer)[:length]
            whole = loop.run_in_executor(_ordered, file_hash.update, data)
            window.append(asyncio.create_task(chunk_sha(buffer, data, whole)))
            index += 1
            if len(window) == WINDOW:
                await flush()
    if window:
        await flush()
    return await loop.run_in_executor(_ordered, file_hash.hexdigest)


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
