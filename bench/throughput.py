"""Upload and download throughput through the frontend of a local 3-node cluster.

    python -m bench.throughput                      # 1 GiB, then 8 clients x 64 MiB
    python -m bench.throughput --rss 256MiB,1GiB,4GiB   # frontend peak RSS vs file size

Upload time is until the link is returned; download reads the whole body (every chunk is
verified by the frontend against its SHA-256 before it is sent). Between the two the
replicator is left to finish its copies, so that each phase is measured alone. Prints MiB/s
and the peak RSS (VmHWM) of the frontend and each node.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp

from bench.cluster import NO_REPAIR_PASS, BenchCluster, local_cluster, wait_replicated
from filefleet.core.units import parse_size

MiB = 1024 * 1024
PIECE = 4 * MiB


def make_file(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    with path.open("wb") as out:
        left = size
        while left:
            block = os.urandom(min(PIECE, left))
            digest.update(block)
            out.write(block)
            left -= len(block)
        out.flush()
        os.fsync(out.fileno())  # on disk now: its writeback must not compete with the runs
    return digest.hexdigest()


SEND_PIECE = 1024 * 1024  # what the client reads and hands to aiohttp at a time


async def file_body(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb", buffering=0) as src:
        while block := src.read(SEND_PIECE):
            yield block


async def upload(session: aiohttp.ClientSession, url: str, path: Path) -> tuple[str, float]:
    """Stream the file with its Content-Length, as ``curl -T`` does (not chunked)."""
    size = (await asyncio.to_thread(path.stat)).st_size
    start = time.perf_counter()
    async with session.post(
        f"{url}/upload?name={path.name}",
        data=file_body(path),
        headers={"Accept": "application/json", "Content-Length": str(size)},
    ) as resp:
        body = await resp.json()
        if resp.status != 201:
            raise RuntimeError(f"upload failed: {resp.status} {body}")
    return str(body["id"]), time.perf_counter() - start


async def download(session: aiohttp.ClientSession, url: str, file_id: str) -> tuple[int, float]:
    """Read the whole body as it arrives (``iter_any``: pieces as the socket gives them;
    ``iter_chunked`` would join them into 4 MiB blocks, a copy the client does not need)."""
    start = time.perf_counter()
    received = 0
    async with session.get(f"{url}/download/{file_id}") as resp:
        resp.raise_for_status()
        async for block in resp.content.iter_any():
            received += len(block)
    return received, time.perf_counter() - start


async def single(cluster: BenchCluster, path: Path, size: int) -> tuple[float, float]:
    timeout = aiohttp.ClientTimeout(total=3600)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        file_id, up = await upload(session, cluster.url, path)
        await asyncio.to_thread(wait_replicated, cluster)  # measure the download alone
        received, down = await download(session, cluster.url, file_id)
    assert received == size
    return size / MiB / up, size / MiB / down


async def concurrent(cluster: BenchCluster, paths: list[Path], size: int) -> tuple[float, float]:
    timeout = aiohttp.ClientTimeout(total=3600)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        start = time.perf_counter()
        results = await asyncio.gather(*(upload(session, cluster.url, p) for p in paths))
        up = time.perf_counter() - start
        await asyncio.to_thread(wait_replicated, cluster)
        start = time.perf_counter()
        got = await asyncio.gather(*(download(session, cluster.url, r[0]) for r in results))
        down = time.perf_counter() - start
    assert all(n == size for n, _ in got)
    total = size * len(paths) / MiB
    return total / up, total / down


def report_rss(cluster: BenchCluster) -> str:
    names = ["frontend", *sorted(cluster.pids("node-"))]
    return ", ".join(f"{n} {cluster.peak_rss_mib(n):.0f} MiB" for n in names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", default="1GiB")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--client-size", default="64MiB")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--rss", default="", help="comma-separated sizes: frontend RSS per size")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="filefleet-bench-") as tmp:
        root = Path(tmp)
        if args.rss:
            for text in args.rss.split(","):
                size = parse_size(text)
                path = root / f"rss-{text}.bin"
                make_file(path, size)
                with local_cluster(root / f"rss-{text}", *NO_REPAIR_PASS) as cluster:
                    up, down = asyncio.run(single(cluster, path, size))
                    print(
                        f"{text}: up {up:.0f} MiB/s, down {down:.0f} MiB/s; {report_rss(cluster)}"
                    )
                path.unlink()
            return
        size = parse_size(args.size)
        big = root / "big.bin"
        make_file(big, size)
        client_size = parse_size(args.client_size)
        small = [root / f"client-{i}.bin" for i in range(args.clients)]
        for p in small:
            make_file(p, client_size)
        with local_cluster(root / "cluster", *NO_REPAIR_PASS) as cluster:
            ups, downs = [], []
            for _ in range(args.runs):
                up, down = asyncio.run(single(cluster, big, size))
                ups.append(up)
                downs.append(down)
            print(
                f"1 client, {args.size}: upload {statistics.median(ups):.0f} MiB/s, "
                f"download {statistics.median(downs):.0f} MiB/s"
            )
            up, down = asyncio.run(concurrent(cluster, small, client_size))
            print(
                f"{args.clients} clients x {args.client_size}: upload {up:.0f} MiB/s, "
                f"download {down:.0f} MiB/s"
            )
            print(f"peak RSS: {report_rss(cluster)}")


if __name__ == "__main__":
    main()
