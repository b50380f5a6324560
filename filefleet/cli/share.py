"""`filefleet share FILE...`: upload files through the resumable chunk API, print links.

Per file: create an upload (or find the one an interrupted run left, from the state file);
then read the file, hashing each chunk, and for every window of 16 chunks, while the next
window is being hashed: claim the missing ones the fleet already holds in one request
(dedup: no byte sent for those), and send the others, a few in flight, each read again
from the file slice by slice as it goes out (``http/file_range.py``: cheaper than holding
every hashed chunk in memory until it is sent). Chunks the upload already has (an
interrupted run sent them) are skipped. Finally complete.

The whole file's SHA-256: when this run sent every chunk, the frontend saw every byte,
each checked against the hash this client computed for its chunk, and computes the
whole-file hash from them; a second hash here would cost a quarter of the upload's CPU
and check nothing more. When some chunks' bytes were not sent (claimed, or sent by an
earlier run), the client reads the file once more for its whole-file hash: the frontend
checks it without reading those chunks back, or knows it from an identical active file.
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
from filefleet.core.chunking import CHUNK_API_INFLIGHT
from filefleet.core.errors import Forbidden, Gone, HashMismatch, NotFound
from filefleet.core.hashing import file_sha256
from filefleet.http.client import HttpClient
from filefleet.http.file_range import FileChanged, FileRange

INFLIGHT = CHUNK_API_INFLIGHT
WINDOW = 16  # chunks hashed, then claimed in one request, while earlier ones are sent
# Chunks hashed but not yet sent or claimed, at most: the hashing stays this close to the
# sending, so a chunk is re-read for sending while the page cache still holds it.
AHEAD = 2 * WINDOW + INFLIGHT


@dataclass
class ShareCounters:
    sent_bytes: int = 0
    sent_chunks: int = 0
    claimed_chunks: int = 0
    skipped_chunks: int = 0


# Chunks are read and hashed in order by one thread (hashlib releases the GIL, so the
# event loop keeps sending on the other core meanwhile).
_hashing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="file-sha256")


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
        ahead = asyncio.Semaphore(AHEAD)  # one per chunk hashed and not yet done with

        with path.open("rb", buffering=0) as f:

            async def handle(window: list[Chunk]) -> None:
                """A window of hashed chunks: claim the missing ones, send the others."""
                todo = [c for c in window if c.index in wanted]  # others: sent by an earlier run
                for _ in range(len(window) - len(todo)):
                    ahead.release()
                claimed = await self._claim(upload_id, [(c.index, c.sha256) for c in todo])
                for _ in claimed:
                    ahead.release()
                counters.claimed_chunks += len(claimed)
                if claimed:
                    done = sum(_length(i, size, chunk_size) for i in claimed)
                    self.progress.advance(task, done)
                    self.progress.update(task, note=f"dedup: {counters.claimed_chunks} chunks")
                for chunk in todo:
                    if chunk.index not in claimed:
                        body = FileRange(f.fileno(), chunk.index * chunk_size, chunk.length)
                        sent = self._send(upload_id, chunk, body, counters, task)
                        sends.start(_then_release(sent, ahead))

            # Hashing runs ahead while earlier windows are claimed and sent (both cores work).
            windows = _Bounded(2)
            await hash_chunks(f, chunk_size, lambda w: windows.start(handle(w)), ahead)
            await windows.wait()
            await sends.wait()
        body = {"delete_token": token["delete_token"]}
        if counters.sent_chunks < int(status["chunk_count"]):  # see the module's doc
            whole = await asyncio.get_running_loop().run_in_executor(_hashing, file_sha256, path)
            body["sha256"] = whole.hexdigest()
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
        self, upload_id: str, chunk: Chunk, body: FileRange, counters: ShareCounters, task: Any
    ) -> None:
        try:
            await self.http.request(
                "PUT", self.server, f"/uploads/{upload_id}/chunks/{chunk.index}",
                params={"sha256": chunk.sha256}, data=body,
            )  # fmt: skip
        except HashMismatch:
            raise FileChanged(
                f"chunk {chunk.index} no longer holds the bytes it was hashed from: the file "
                "changed while it was being shared; nothing wrong was stored, run the "
                "command again once the file is complete"
            ) from None
        counters.sent_chunks += 1
        counters.sent_bytes += chunk.length
        self.progress.advance(task, chunk.length)


async def _then_release(work: Coroutine[Any, Any, None], slot: asyncio.Semaphore) -> None:
    try:
        await work
    finally:
        slot.release()


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


def _fill(f: io.RawIOBase, buffer: bytearray) -> int:
    view = memoryview(buffer)
    filled = 0
    while filled < len(buffer) and (got := f.readinto(view[filled:])):
        filled += got
    return filled


@dataclass
class Chunk:
    """A chunk of the file as hashed: where it is (``index``), its length and SHA-256."""

    index: int
    length: int
    sha256: str


async def hash_chunks(
    f: io.RawIOBase,
    chunk_size: int,
    on_window: Callable[[list[Chunk]], None],
    ahead: asyncio.Semaphore,
) -> None:
    """Read the file ``f`` from its current position to its end and hand its chunks,
    hashed, to ``on_window`` in order, ``WINDOW`` at a time. Each chunk takes one of
    ``ahead`` before it is read; the receiver gives it back once done with the chunk
    (sent, claimed or already there), which bounds how far hashing runs ahead.

    One worker thread reads and hashes each chunk, through two buffers used in turn: it
    fills one while the loop hands the other's chunk on. Nothing is kept for sending
    (``FileRange`` reads it again): cycling through many buffers costs more CPU for the
    same hashing (fewer of the bytes are still in the CPU cache), and on a machine whose
    cores are also busy sending, CPU is what bounds the upload."""
    loop = asyncio.get_running_loop()
    buffers = [bytearray(chunk_size), bytearray(chunk_size)]
    window: list[Chunk] = []
    index = 0

    async def read(buffer: bytearray) -> asyncio.Future[tuple[int, str]]:
        await ahead.acquire()
        return loop.run_in_executor(_hashing, _read_hashed, f, buffer)

    def hand_on(chunk: Chunk) -> None:
        nonlocal window
        window.append(chunk)
        if len(window) == WINDOW:
            on_window(window)
            window = []

    following = await read(buffers[0])
    while True:
        length, sha256 = await following
        if not length:
            ahead.release()  # the end of the file: no chunk took it
            break
        chunk = Chunk(index, length, sha256)
        index += 1
        if not ahead.locked():  # the thread reads on at once, while this one is handed on
            following = await read(buffers[index % 2])
            hand_on(chunk)
        else:  # hand this one on first: the next read waits for a chunk to be done with
            hand_on(chunk)
            following = await read(buffers[index % 2])
    if window:
        on_window(window)


def _read_hashed(f: io.RawIOBase, buffer: bytearray) -> tuple[int, str]:
    """In the hashing thread: fill ``buffer`` with the next chunk; its length and its
    SHA-256 (length 0 at the end of the file)."""
    length = _fill(f, buffer)
    return length, hashlib.sha256(memoryview(buffer)[:length]).hexdigest()


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
