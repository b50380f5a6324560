"""The controller's CPU per request, by kind: what each call an upload makes costs it.

    python -m bench.controller                          # SQLite in a temp dir
    python -m bench.controller --requests 500 --batch 16
    python -m bench.controller --db postgresql://127.0.0.1/scratch   # a database of its own

Starts one `filefleet controller` (its own process, on a free port), registers three
nodes and creates one file, then sends each kind of request ``--requests`` times, one
after another, through the client every service uses (``ControllerClient``): the node
list, a ping, a file created, an append of ``--batch`` chunks (each with one location),
a lookup of ``--batch`` chunks and a recording of ``--batch`` locations (what the
replicator sends after copying). For each kind it prints the controller's CPU time per
request (user + system, from /proc: the event loop, the SQL driver's thread, everything)
and the wall time per request as the client saw it, as a Markdown table.

An upload of 1 GiB costs the controller ~130 requests (docs/benchmarks.md): about 30
appends, 25 lookups, 25 recordings, 20 node lists and the nodes' pings. ``--db`` must name
a database the benchmark may fill (it creates the schema and writes to it); the default,
a SQLite file in a temporary directory, is removed afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.cluster import cpu_seconds, wait_healthy
from filefleet.core import ids
from filefleet.core.models import ChunkRef, FileCreate, PingRequest
from filefleet.http.client import HttpClient
from filefleet.http.controller_api import ControllerClient
from filefleet.runtime.ports import free_port

CHUNK = 4 * 1024 * 1024


def fresh_chunk_id() -> str:
    return secrets.token_hex(32)


class Workload:
    """The records the requests work on: three nodes, one file, the chunks appended."""

    def __init__(self, controller: ControllerClient, batch: int) -> None:
        self.controller = controller
        self.batch = batch
        self.nodes = [secrets.token_hex(16) for _ in range(3)]
        self.file_id = ids.new_file_id()
        self.appended: list[str] = []
        self.recorded = 0

    async def setup(self) -> None:
        for number in range(3):
            await self.ping(number)
        await self.create_file(self.file_id)

    async def active_nodes(self, _: int) -> None:
        assert len(await self.controller.active_nodes()) == 3

    async def ping(self, number: int) -> None:
        node = self.nodes[number % 3]
        space = 1 << 40
        ping = PingRequest(id=node, url=f"http://{node}", capacity=space, free=space, chunks=number)
        await self.controller.ping(ping)

    async def create(self, _: int) -> None:
        await self.create_file(ids.new_file_id())

    async def create_file(self, file_id: str) -> None:
        record = FileCreate(
            id=file_id,
            name=f"{file_id}.bin",
            expires_at=datetime.now(UTC) + timedelta(days=1),
            delete_token_sha256=secrets.token_hex(32),
        )
        await self.controller.create_file(record)

    async def append(self, _: int) -> None:
        first = len(self.appended)
        refs = [
            ChunkRef(id=fresh_chunk_id(), order=first + k, size=CHUNK, locations=[node])
            for k, node in enumerate(self.nodes[(first + k) % 3] for k in range(self.batch))
        ]
        summary = await self.controller.append_chunks(self.file_id, refs)
        assert summary.chunk_count == first + self.batch
        self.appended += [ref.id for ref in refs]

    def _some(self, number: int) -> list[str]:
        start = (number * self.batch) % max(1, len(self.appended) - self.batch)
        return self.appended[start : start + self.batch]

    async def lookup(self, number: int) -> None:
        assert len(await self.controller.lookup_chunks(self._some(number))) == self.batch

    async def record(self, _: int) -> None:
        # Chunk number k was appended on node k % 3; its second copy goes to the next one.
        start = self.recorded
        chunk_ids = self.appended[start : start + self.batch]
        self.recorded += len(chunk_ids)
        pairs = [(c, self.nodes[(start + k + 1) % 3]) for k, c in enumerate(chunk_ids)]
        assert (await self.controller.add_locations(pairs)).added == len(pairs)


async def measure(
    pid: int, requests: int, call: Callable[[int], Awaitable[None]]
) -> tuple[float, float]:
    """ms of the controller's CPU and of wall time per request."""
    cpu = cpu_seconds([pid])
    start = time.perf_counter()
    for number in range(requests):
        await call(number)
    wall = time.perf_counter() - start
    return 1000 * (cpu_seconds([pid]) - cpu) / requests, 1000 * wall / requests


async def run(url: str, pid: int, secret: str, requests: int, batch: int) -> None:
    http = HttpClient(secret=secret)
    try:
        controller = ControllerClient(http, [url])
        work = Workload(controller, batch)
        await work.setup()
        kinds: list[tuple[str, Callable[[int], Awaitable[None]]]] = [
            ("`GET /active-nodes`", work.active_nodes),
            ("`POST /ping`", work.ping),
            ("`POST /file` (create)", work.create),
            (f"`POST /file/{{id}}`: append {batch} chunks", work.append),
            (f"`POST /chunks/lookup`: {batch} chunks", work.lookup),
            (f"`POST /chunks/locations`: {batch} locations", work.record),
        ]
        # Once each first: connections made, statements compiled and cached. The appends
        # (one more than are measured) leave enough chunks for every recording.
        for _, call in kinds:
            await call(0)
        print("| request | controller CPU, ms | wall, ms |")
        print("|---|---:|---:|")
        for name, call in kinds:
            cpu, wall = await measure(pid, requests, call)
            print(f"| {name} | {cpu:.2f} | {wall:.2f} |")
    finally:
        await http.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="of each kind")
    parser.add_argument("--batch", type=int, default=8, help="chunks per append, lookup, record")
    parser.add_argument("--db", default="", help="default: SQLite in a temporary directory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-controller-") as tmp:
        db = args.db or f"sqlite:///{tmp}/meta.db"
        port, secret, log = free_port(), secrets.token_hex(32), Path(tmp) / "controller.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("FILEFLEET_")}
        env["FILEFLEET_SECRET"] = secret
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "filefleet", "controller", "--port", str(port),
                 "--db", db],
                stdout=out, stderr=subprocess.STDOUT, env=env,
            )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            try:
                wait_healthy(url, proc=proc)
            except RuntimeError as exc:
                raise SystemExit(f"{exc}; see {log}") from None
            print(f"controller on {db.split('://')[0]}, {args.requests} requests of each kind")
            asyncio.run(run(url, proc.pid, secret, args.requests, args.batch))
        finally:
            proc.terminate()
            proc.wait(30)


if __name__ == "__main__":
    main()
