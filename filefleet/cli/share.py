"""`filefleet share FILE...`: upload files through the resumable chunk API, print links.

Per file: create an upload (or find the one an interrupted run left, from the state file);
1. read the file once, hashing each chunk and the whole file;
2. claim, in one request per 1,000 chunks, the missing chunks the fleet already holds
   (dedup: no byte sent for those);
3. send the remaining missing chunks, a few in flight;
4. complete (the server checks the whole file's SHA-256).
Chunks the upload already has (an interrupted run sent them) are skipped.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
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
        upload_id, chunk_size = status["id"], int(status["chunk_size"])
        missing = sorted(status["missing"])
        counters.skipped_chunks = int(status["chunk_count"]) - len(missing)
        task = self.progress.add_task(path.name[:30], total=size, note="hashing")
        # 1. Hash every chunk and the whole file (the server checks the whole at the end).
        chunk_hashes, file_sha = await hash_file(path, chunk_size)
        have = set(range(int(status["chunk_count"]))) - set(missing)
        self.progress.advance(task, sum(_length(i, size, chunk_size) for i in have))
        # 2. Claim what the fleet already holds: no bytes sent for those.
        claimed = await self._claim(upload_id, [(i, chunk_hashes[i]) for i in missing])
        counters.claimed_chunks = len(claimed)
        if claimed:
            self.progress.advance(task, sum(_length(i, size, chunk_size) for i in claimed))
        note = f"dedup: {len(claimed)} chunks" if claimed else ""
        self.progress.update(task, note=note)
        # 3. Send the rest, a few chunks in flight.
        to_send = [i for i in missing if i not in claimed]
        await self._send_all(path, upload_id, to_send, chunk_hashes, chunk_size, counters, task)
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

    async def _send_all(
        self, path: Path, upload_id: str, indexes: list[int], hashes: list[str],
        chunk_size: int, counters: ShareCounters, task: Any,
    ) -> None:  # fmt: skip
        slots = asyncio.Semaphore(INFLIGHT)

        async def send(index: int) -> None:
            async with slots:  # bounds the chunks held in memory
                data = await asyncio.to_thread(_read_at, path, index * chunk_size, chunk_size)
                await self.http.request(
                    "PUT", self.server, f"/uploads/{upload_id}/chunks/{index}",
                    params={"sha256": hashes[index]}, data=data,
                )  # fmt: skip
                counters.sent_chunks += 1
                counters.sent_bytes += len(data)
                self.progress.advance(task, len(data))

        tasks = [asyncio.create_task(send(i)) for i in indexes]
        try:
            await asyncio.gather(*tasks)
        finally:
            for pending in tasks:
                pending.cancel()


def _length(index: int, size: int, chunk_size: int) -> int:
    return min(chunk_size, size - index * chunk_size)


def _read_at(path: Path, offset: int, length: int) -> bytes:
    with path.open("rb") as f:
        f.seek(offset)
        return f.read(length)


async def hash_file(path: Path, chunk_size: int) -> tuple[list[str], str]:
    """Each chunk's SHA-256 and the whole file's, reading the file once: chunk hashes run in
    worker threads while one ordered thread feeds the whole-file hash (both cores work;
    hashlib releases the GIL). At most a few chunks are held at once."""
    loop = asyncio.get_running_loop()
    file_hash = hashlib.sha256()
    slots = asyncio.Semaphore(INFLIGHT)
    pending: list[asyncio.Task[str]] = []

    async def chunk_sha(data: bytes, whole: asyncio.Future[None]) -> str:
        try:
            return await asyncio.to_thread(_chunk_hash, data)
        finally:
            await asyncio.shield(whole)
            slots.release()

    with path.open("rb") as f:
        while True:
            await slots.acquire()
            data: bytes = await asyncio.to_thread(f.read, chunk_size)
            if not data:
                slots.release()
                break
            whole = loop.run_in_executor(_ordered, file_hash.update, data)
            pending.append(asyncio.create_task(chunk_sha(data, whole)))
    hashes = list(await asyncio.gather(*pending))
    return hashes, await loop.run_in_executor(_ordered, file_hash.hexdigest)


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
