"""Metadata queries at scale: the questions repair, the GC and the frontend ask, timed on a
store holding 1 million chunk records, on PostgreSQL (a fresh database, dropped after) and
on SQLite (a temp file).

    python -m bench.metadata                          # 1,000,000 chunks, both backends
    python -m bench.metadata --chunks 100000 --backends sqlite

The data: files of 4 chunks each (250,000 files for 1 million chunks), every chunk on 2 of
6 nodes; 1% of files expired, 0.5% deleting, 0.5% abandoned uploads, 0.1% of chunks with one
replica left. It is written with bulk inserts (executemany in batches) straight into the
tables of ``filefleet.store.schema``, after the Alembic migrations created them. Each query
then runs through ``SqlStore`` (what the controller runs) ``--repeat`` times; the median
in ms is printed as a Markdown table. "repair, one node silent" is the worst case of
repair's query: one node of six stopped pinging, so a third of all chunks are candidates.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text, update
from sqlalchemy.ext.asyncio import create_async_engine

from filefleet.controller.collecting_mark import mark_collecting
from filefleet.core.file_query import FileQuery
from filefleet.store.schema import chunk_locations, chunks, file_chunks, files, nodes
from filefleet.store.sql import SqlStore, open_store

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
CHUNKS_PER_FILE = 4
NODES = 6
BATCH = 20_000
PG_ADMIN = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


def chunk_id(n: int) -> str:
    return hashlib.sha256(n.to_bytes(8, "big")).hexdigest()


def file_id(n: int) -> str:
    return f"benchfile{n:012d}"


def node_id(n: int) -> str:
    return f"{n:032x}"


def file_state(n: int) -> tuple[str, datetime, datetime]:
    """(state, expires_at, updated_at) of file ``n``: mostly active and unexpired."""
    if n % 100 == 1:
        return "active", NOW - timedelta(hours=1), NOW - timedelta(days=2)
    if n % 200 == 2:
        return "deleting", NOW + timedelta(days=1), NOW - timedelta(minutes=5)
    if n % 200 == 3:
        return "uploading", NOW + timedelta(days=1), NOW - timedelta(hours=3)
    return "active", NOW + timedelta(days=7), NOW - timedelta(days=1)


async def fill(store: SqlStore, total_chunks: int) -> float:
    """Bulk-insert the data set; returns the seconds it took."""
    start = time.perf_counter()
    token = "ab" * 32
    async with store.engine.begin() as conn:
        await conn.execute(
            insert(nodes),
            [
                {
                    "id": node_id(n),
                    "url": f"http://node-{n}",
                    "last_ping": NOW,
                    "capacity": 10**12,
                    "free": 10**11,
                    "chunks": 0,
                }
                for n in range(NODES)
            ],
        )
    for first in range(0, total_chunks // CHUNKS_PER_FILE, BATCH // CHUNKS_PER_FILE):
        last = min(first + BATCH // CHUNKS_PER_FILE, total_chunks // CHUNKS_PER_FILE)
        file_rows, chunk_rows, list_rows, location_rows = [], [], [], []
        for f in range(first, last):
            state, expires_at, updated_at = file_state(f)
            file_rows.append(
                {
                    "id": file_id(f),
                    "name": f"file-{f}.bin",
                    "size": 4 * CHUNKS_PER_FILE,
                    "sha256": "cd" * 32,
                    "content_type": "application/octet-stream",
                    "uploaded_at": updated_at,
                    "updated_at": updated_at,
                    "expires_at": expires_at,
                    "state": state,
                    "max_downloads": None,
                    "downloads": 0,
                    "delete_token_sha256": token,
                }
            )
            for order in range(CHUNKS_PER_FILE):
                c = f * CHUNKS_PER_FILE + order
                cid = chunk_id(c)
                holders = [c % NODES] if c % 1000 == 7 else [c % NODES, (c + 1) % NODES]
                chunk_rows.append(
                    {
                        "id": cid,
                        "size": 4,
                        "last_referenced": updated_at,
                        "collecting_since": None,
                        "location_count": len(holders),
                    }
                )
                list_rows.append(
                    {"file_id": file_id(f), "order": order, "chunk_id": cid, "size": 4}
                )
                location_rows += [{"chunk_id": cid, "node_id": node_id(h)} for h in holders]
        async with store.engine.begin() as conn:
            await conn.execute(insert(files), file_rows)
            await conn.execute(insert(chunks), chunk_rows)
            await conn.execute(insert(file_chunks), list_rows)
            await conn.execute(insert(chunk_locations), location_rows)
    async with store.engine.connect() as conn:  # fresh planner statistics
        await conn.execute(text("ANALYZE"))
        await conn.commit()
    return time.perf_counter() - start


async def median_ms(call: Callable[[int], Awaitable[Any]], repeat: int) -> float:
    await call(0)  # warm the cache and the statement cache
    times = []
    for i in range(1, repeat + 1):
        start = time.perf_counter()
        await call(i)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


async def measure(store: SqlStore, total_chunks: int, repeat: int) -> dict[str, float]:
    total_files = total_chunks // CHUNKS_PER_FILE
    rng = random.Random(1)
    active = [f for f in range(total_files) if file_state(f)[0] == "active" and f % 100 != 1]
    deleting = [f for f in range(total_files) if file_state(f)[0] == "deleting"]
    rng.shuffle(deleting)

    async def below(_: int) -> Any:
        return await store.chunks_below(2, 10, 100)

    queries: dict[str, Callable[[int], Awaitable[Any]]] = {
        "repair: chunks below R (chunks_below, 100)": below,
        "GC: expired active files (list_files, page of 100)": lambda _: store.list_files(
            FileQuery(state="active", expired=True, limit=100)
        ),
        "GC: deleting files (list_files, page of 100)": lambda _: store.list_files(
            FileQuery(state="deleting", limit=100)
        ),
        "GC: abandoned uploads (list_files idle, page of 100)": lambda _: store.list_files(
            FileQuery(state="uploading", idle=3600, limit=100)
        ),
        "/active-nodes (active_nodes)": lambda _: store.active_nodes(10),
        "download: get_file (4 chunks)": lambda _: store.get_file(file_id(rng.choice(active))),
        "GC: mark_collecting, chunk of a live file (refused)": lambda _: mark_collecting(
            store, chunk_id(rng.choice(active) * CHUNKS_PER_FILE), 3600
        ),
        "GC: mark_collecting, chunk of a deleting file (marked)": lambda i: mark_collecting(
            store, chunk_id(deleting[i] * CHUNKS_PER_FILE + 1), 3600
        ),
        "GC/repair: get_chunk": lambda _: store.get_chunk(
            chunk_id(rng.randrange(total_chunks)), 10
        ),
    }
    results = {name: await median_ms(call, repeat) for name, call in queries.items()}
    # the worst case of repair's question: one node of six silent for longer than the TTL
    async with store.engine.begin() as conn:
        await conn.execute(
            update(nodes)
            .where(nodes.c.id == node_id(0))
            .values(last_ping=NOW - timedelta(minutes=10))
        )
    results["repair, one node of 6 silent: chunks_below (100)"] = await median_ms(
        below, max(3, repeat // 5)
    )
    return results


async def run_backend(backend: str, total_chunks: int, repeat: int) -> dict[str, float]:
    admin = None
    if backend == "postgresql":
        name = f"filefleet_bench_{uuid.uuid4().hex[:12]}"
        admin = create_async_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = f"postgresql://postgres@127.0.0.1:5432/{name}"
        tmp = None
    else:
        tmp = tempfile.TemporaryDirectory(prefix="filefleet-bench-")
        url = f"sqlite:///{Path(tmp.name) / 'meta.db'}"
    try:
        store = await open_store(url, clock=lambda: NOW)
        try:
            seconds = await fill(store, total_chunks)
            print(f"{backend}: inserted {total_chunks:,} chunks in {seconds:.0f} s", flush=True)
            return await measure(store, total_chunks, repeat)
        finally:
            await store.close()
    finally:
        if admin is not None:
            async with admin.connect() as conn:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await admin.dispose()
        if tmp is not None:
            tmp.cleanup()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=25)
    parser.add_argument("--backends", default="postgresql,sqlite")
    args = parser.parse_args()
    backends = args.backends.split(",")
    results = {b: await run_backend(b, args.chunks, args.repeat) for b in backends}
    print(f"\n| median ms, {args.chunks:,} chunks | " + " | ".join(backends) + " |")
    print("|---|" + "---:|" * len(backends))
    for name in results[backends[0]]:
        cells = " | ".join(f"{results[b][name]:.1f}" for b in backends)
        print(f"| {name} | {cells} |")


if __name__ == "__main__":
    asyncio.run(main())
