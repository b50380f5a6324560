"""`filefleet share FILE...`: upload files through the resumable chunk API, print links.

Per file: create an upload (or find the one an interrupted run left, from the state file);
then read the file, hashing each chunk, and for every window of chunks (1, 2, 4, then 16
at a time), while the next window is being hashed: claim the missing ones the fleet
already holds in one request (dedup: no byte sent for those), and send the others, a few
in flight, each handed by the kernel from the page cache to the socket as it goes out
(``fastpath/file_range.py``: cheaper than holding every hashed chunk in memory until it is
sent). Chunks the upload already has (an interrupted run sent them) are skipped. Finally
complete.

The whole file's SHA-256: when this run sent every chunk, the frontend saw every byte,
each checked against the hash this client computed for its chunk, and computes the
whole-file hash from them; a second hash here would cost a quarter of the upload's CPU
and check nothing more. When some chunks' bytes were not sent (claimed, or sent by an
earlier run), the client reads the file once more for its whole-file hash, in a second
thread from the first such chunk on: the frontend checks it without reading those chunks
back, or knows it from an identical active file.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import mmap
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from filefleet.cli import password
from filefleet.cli.common import fail, file_sha256
from filefleet.cli.password import PasswordOption
from filefleet.cli.target import DataOption, ServerOption, TlsCaOption, find_frontend
from filefleet.cli.transfer import ShareState, client, progress_bar, run_command
from filefleet.core.chunking import CHUNK_API_INFLIGHT, chunk_span
from filefleet.core.errors import FileChanged, Forbidden, Gone, HashMismatch, NotFound
from filefleet.fastpath.file_range import FileRange
from filefleet.http.client import HttpClient

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
_hashing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chunk-sha256")
# The whole file's hash, when it is needed, beside them.
_whole_hashing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="file-sha256")


class Share:
    def __init__(
        self,
        http: HttpClient,
        server: str,
        *,
        dedup: bool,
        progress: Any,
        password: str | None = None,
    ) -> None:
        self.http = http
        self.server = server
        self.dedup = dedup
        self.progress = progress
        self.password = password  # protects each link (cli/password.py)

    async def share(
        self, path: Path, expires: str | None, max_downloads: int | None
    ) -> dict[str, Any]:
        state = ShareState(self.server, path)
        size = state.size
        status = await self._resume(state) or await self._create(
            state, path, size, expires, max_downloads
        )
        token = state.load() or {}
        upload = _FileUpload(self, path, status)
        await upload.send_chunks()
        counters = upload.counters
        body = {"delete_token": token["delete_token"]}
        if counters.sent_chunks < int(status["chunk_count"]):  # see the module's doc
            body["sha256"] = (await upload.whole_file_hash()).hexdigest()
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
        if saved.get("protected", False) != (self.password is not None):
            return None  # begun with(out) a password: this run's link must be as asked
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
        status = await self._open_upload({"name": path.name, "size": size}, expires, max_downloads)
        saved = {"server": self.server, "id": status["id"], "delete_token": status["delete_token"]}
        state.save({**saved, "protected": self.password is not None})
        return status

    async def _open_upload(
        self, body: dict[str, Any], expires: str | None, max_downloads: int | None
    ) -> dict[str, Any]:
        """``POST /uploads`` with ``body`` and this share's options: the new upload."""
        body = dict(body)
        if expires:
            body["expires"] = expires
        if max_downloads:
            body["max_downloads"] = max_downloads
        if self.password is not None:
            body["password"] = self.password
        status: dict[str, Any] = await self.http.post_json(self.server, "/uploads", body)
        return status

    async def claim(self, upload_id: str, wanted: list[tuple[int, str]]) -> set[int]:
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


class _FileUpload:
    """Sending one file's chunks: hashed in order, a window at a time; each window's
    missing chunks claimed, the others sent (``INFLIGHT`` at a time), in chunk order."""

    def __init__(self, share: Share, path: Path, status: dict[str, Any]) -> None:
        self.share = share
        self.path = path
        self.upload_id = str(status["id"])
        self.chunk_size = int(status["chunk_size"])
        self.size = int(status["size"])
        self.wanted = set(status["missing"])  # the others were sent by an earlier run
        count = int(status["chunk_count"])
        self.counters = ShareCounters(skipped_chunks=count - len(self.wanted))
        self.task = share.progress.add_task(path.name[:30], total=self.size, note="")
        sent_before = set(range(count)) - self.wanted
        share.progress.advance(self.task, sum(self._length(i) for i in sent_before))
        self.sends = _Bounded(INFLIGHT)
        self.windows = _Bounded(2)
        self.ahead = asyncio.Semaphore(AHEAD)  # one per chunk hashed and not yet done with
        self._queued: asyncio.Future[None] | None = None  # the last window's sends, queued
        self._whole: asyncio.Future[hashlib._Hash] | None = None
        if self.counters.skipped_chunks:
            self.whole_file_hash()

    def whole_file_hash(self) -> asyncio.Future[hashlib._Hash]:
        """The whole file's SHA-256, needed when some chunks are not sent (see the module's
        doc): hashed in a thread of its own, beside the chunks, from the first such chunk."""
        if self._whole is None:
            loop = asyncio.get_running_loop()
            self._whole = loop.run_in_executor(_whole_hashing, file_sha256, self.path)
        return self._whole

    async def send_chunks(self) -> None:
        with self.path.open("rb", buffering=0) as f:
            # Hashing runs ahead while earlier windows are claimed and sent (both cores work).
            await hash_chunks(f, self.chunk_size, lambda w: self._on_window(f, w), self.ahead)
            await self.windows.wait()
            await self.sends.wait()

    def _on_window(self, f: io.RawIOBase, window: list[Chunk]) -> None:
        before, self._queued = self._queued, asyncio.get_running_loop().create_future()
        self.windows.start(self._handle(f, window, before, self._queued))

    async def _handle(
        self,
        f: io.RawIOBase,
        window: list[Chunk],
        before: asyncio.Future[None] | None,
        queued: asyncio.Future[None],
    ) -> None:
        """Claim the window's missing chunks, then send the others, queued after the
        previous window's (``before``): claims may come back out of order, but chunks go
        out in order, as the frontend folds them into the whole-file hash."""
        todo = [c for c in window if c.index in self.wanted]
        claimed = await self.share.claim(self.upload_id, [(c.index, c.sha256) for c in todo])
        for _ in range(len(window) - len(todo) + len(claimed)):
            self.ahead.release()  # done with without sending: there already, or claimed
        self.counters.claimed_chunks += len(claimed)
        if claimed:
            self.whole_file_hash()
            progress = self.share.progress
            progress.advance(self.task, sum(self._length(i) for i in claimed))
            progress.update(self.task, note=f"dedup: {self.counters.claimed_chunks} chunks")
        if before is not None:
            await before
        for chunk in todo:
            if chunk.index not in claimed:
                body = FileRange(f.fileno(), chunk.index * self.chunk_size, chunk.length)
                self.sends.start(_then_release(self._send(chunk, body), self.ahead))
        queued.set_result(None)

    async def _send(self, chunk: Chunk, body: FileRange) -> None:
        try:
            await self.share.http.request(
                "PUT", self.share.server, f"/uploads/{self.upload_id}/chunks/{chunk.index}",
                params={"sha256": chunk.sha256}, data=body,
            )  # fmt: skip
        except HashMismatch:
            raise FileChanged(
                f"chunk {chunk.index} no longer holds the bytes it was hashed from: the file "
                "changed while it was being shared; nothing wrong was stored, run the "
                "command again once the file is complete"
            ) from None
        self.counters.sent_chunks += 1
        self.counters.sent_bytes += chunk.length
        self.share.progress.advance(self.task, chunk.length)

    def _length(self, index: int) -> int:
        return chunk_span(index, self.size, self.chunk_size)[1]


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


def _fill(f: io.RawIOBase, buffer: mmap.mmap) -> int:
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
    hashed, to ``on_window`` in order: 1, 2, 4... then ``WINDOW`` at a time (the first
    chunks go out at once). Each chunk takes one of ``ahead`` before it is read; the
    receiver gives it back once done with the chunk (sent, claimed or already there),
    which bounds how far hashing runs ahead.

    One worker thread reads and hashes each chunk, through two buffers used in turn: it
    fills one while the loop hands the other's chunk on. Nothing is kept for sending
    (``FileRange`` reads it again): cycling through many buffers costs more CPU for the
    same hashing (fewer of the bytes are still in the CPU cache), and on a machine whose
    cores are also busy sending, CPU is what bounds the upload."""
    loop = asyncio.get_running_loop()
    # Anonymous maps, not bytearrays: a bytearray is zeroed when it is made, 8 MiB of page
    # faults on the event loop before the first chunk can be read; a map's pages are
    # faulted in by the first read into them, in the hashing thread.
    buffers = [mmap.mmap(-1, chunk_size), mmap.mmap(-1, chunk_size)]
    window: list[Chunk] = []
    size = 1
    index = 0

    async def read(buffer: mmap.mmap) -> asyncio.Future[tuple[int, str]]:
        await ahead.acquire()
        return loop.run_in_executor(_hashing, _read_hashed, f, buffer)

    def hand_on(chunk: Chunk) -> None:
        nonlocal window, size
        window.append(chunk)
        if len(window) == size:
            on_window(window)
            window, size = [], min(2 * size, WINDOW)

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


def _read_hashed(f: io.RawIOBase, buffer: mmap.mmap) -> tuple[int, str]:
    """In the hashing thread: fill ``buffer`` with the next chunk; its length and its
    SHA-256 (length 0 at the end of the file)."""
    length = _fill(f, buffer)
    return length, hashlib.sha256(memoryview(buffer)[:length]).hexdigest()


def share(
    files: Annotated[list[Path], typer.Argument(help="Files to share.", show_default=False)],
    server: ServerOption = None,
    data: DataOption = None,
    tls_ca: TlsCaOption = None,
    expires: Annotated[
        str | None, typer.Option(envvar="FILEFLEET_EXPIRES", help="Lifetime: 90s, 12h, 1d, 7d.")
    ] = None,
    max_downloads: Annotated[
        int | None, typer.Option(envvar="FILEFLEET_MAX_DOWNLOADS", help="Downloads allowed.")
    ] = None,
    json_out: Annotated[
        bool,
        typer.Option("--json", envvar="FILEFLEET_JSON", help="Print JSON, one object per file."),
    ] = False,
    dedup: Annotated[
        bool, typer.Option(envvar="FILEFLEET_DEDUP", help="Claim chunks the fleet already holds.")
    ] = True,
    bundle: Annotated[
        bool,
        typer.Option(
            "--bundle", envvar="FILEFLEET_BUNDLE", help="One link for all the files (a zip)."
        ),
    ] = False,
    name: Annotated[
        str | None, typer.Option(envvar="FILEFLEET_NAME", help="The bundle's zip name.")
    ] = None,
    encrypt: Annotated[
        bool,
        typer.Option(
            "--encrypt",
            envvar="FILEFLEET_ENCRYPT",
            help="Encrypt end to end: the key goes only in the link's #fragment.",
        ),
    ] = False,
    ask_password: PasswordOption = False,
) -> None:
    """Share files: prints one link per file (one for all with --bundle). Run again after
    an interruption to resume."""
    for path in files:
        if not path.is_file():
            fail(f"{path}: not a readable file")
    if encrypt and bundle:
        fail("--encrypt and --bundle do not go together: share encrypted files one by one")
    url = find_frontend(server, data)
    secret = password.for_sharing(ask_password)

    async def work() -> list[dict[str, Any]]:
        async with client(tls_ca) as http:
            with progress_bar(not json_out) as progress:
                sharer = Share(http, url, dedup=dedup, progress=progress, password=secret)
                if encrypt:
                    from filefleet.cli.encrypted_share import EncryptedShare

                    sharer = EncryptedShare(
                        http, url, dedup=False, progress=progress, password=secret
                    )
                if not bundle:
                    return [await sharer.share(p, expires, max_downloads) for p in files]
                # Each file is uploaded (and resumed) on its own, then made one bundle,
                # which carries the expiry and the download limit.
                shared = [await sharer.share(p, expires, None) for p in files]
                return [await make_bundle(http, url, shared, expires, max_downloads, name, secret)]

    results = run_command(work, url)
    for result in results:
        if json_out:
            typer.echo(json.dumps(result))
        else:
            typer.echo(result["url"])
            typer.echo(f"  delete: {result['delete_url']}", err=True)


async def make_bundle(
    http: HttpClient,
    server: str,
    shared: list[dict[str, Any]],
    expires: str | None,
    max_downloads: int | None,
    name: str | None,
    secret: str | None = None,
) -> dict[str, Any]:
    """``POST /bundles`` with the files just shared: one link for all of them (protected
    by ``secret`` when given)."""
    body: dict[str, Any] = {
        "files": [
            {"id": s["id"], "delete_token": s["delete_url"].rsplit("/", 1)[-1]} for s in shared
        ]
    }
    given = (("expires", expires), ("max_downloads", max_downloads), ("name", name),
             ("password", secret))  # fmt: skip
    for key, value in given:
        if value:
            body[key] = value
    answer = await http.request(
        "POST", server, "/bundles", json=body, headers={"Accept": "application/json"}
    )
    result: dict[str, Any] = answer.json()
    return result


def register(app: typer.Typer) -> None:
    app.command("share")(share)
