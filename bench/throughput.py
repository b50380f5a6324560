"""Upload and download throughput through the frontend of a local 3-node cluster.

    python -m bench.throughput                      # 1 GiB, then 8 clients x 64 MiB
    python -m bench.throughput --rss 256MiB,1GiB,4GiB   # frontend peak RSS vs file size
    python -m bench.throughput --read-ahead 4           # a frontend knob set for the run
    python -m bench.throughput --clients 32 --read-ahead-pool 0

Every run uploads fresh random bytes (a file the fleet already holds deduplicates: its
re-upload is measured on a line of its own). An upload is timed until its link is
returned and until both copies of every chunk exist (R=2: the replicator copies while the
upload runs); the download reads the whole body (every chunk verified by the frontend
before it is sent) once the cluster is quiet again, so each phase is measured alone.
Prints MiB/s, the core-seconds per GiB each service spent (from /proc, user + system:
upload to both copies, and download) and the peak RSS (VmHWM) of the frontend and nodes:
with one client at a time, and the frontend's with all clients uploading, then all
downloading.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bench.cluster import (
    NO_REPAIR_PASS,
    BenchCluster,
    cpu_by_service,
    cpu_since,
    local_cluster,
    wait_all_replicated,
    wait_replicated,
)
from bench.transfer import make_file
from filefleet.core.units import parse_size

MiB = 1024 * 1024


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


@dataclass
class Run:
    """One upload of fresh bytes and its download: speeds, and CPU per GiB per service."""

    link: float  # MiB/s until the link is returned
    replicated: float  # MiB/s until every chunk is on two nodes
    download: float  # MiB/s of the verified download
    upload_cpu: dict[str, float]  # core-seconds per GiB, from the upload to both copies
    download_cpu: dict[str, float]


async def single(cluster: BenchCluster, path: Path, size: int) -> Run:
    """Upload (until the link, and until both copies exist, with the CPU every service
    spent on it), then download once the cluster is quiet again."""
    timeout = aiohttp.ClientTimeout(total=3600)
    gib = size / 1024**3
    async with aiohttp.ClientSession(timeout=timeout) as session:
        before = cpu_by_service(cluster)
        start = time.perf_counter()
        file_id, up = await upload(session, cluster.url, path)
        both = await asyncio.to_thread(wait_all_replicated, cluster) - start
        await asyncio.to_thread(wait_replicated, cluster)  # the last acks: counted too
        upload_cpu = {k: v / gib for k, v in cpu_since(cluster, before).items()}
        before = cpu_by_service(cluster)
        received, down = await download(session, cluster.url, file_id)
        download_cpu = {k: v / gib for k, v in cpu_since(cluster, before).items()}
    assert received == size
    mib = size / MiB
    return Run(mib / up, mib / both, mib / down, upload_cpu, download_cpu)


async def reupload(cluster: BenchCluster, path: Path, size: int) -> float:
    """MiB/s of uploading bytes the fleet already holds (every chunk deduplicates)."""
    timeout = aiohttp.ClientTimeout(total=3600)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        _, up = await upload(session, cluster.url, path)
    await asyncio.to_thread(wait_replicated, cluster)
    return size / MiB / up


@dataclass
class Concurrent:
    """Many clients at once: MiB/s in all, and the frontend's peak memory in each phase."""

    upload: float
    download: float
    upload_rss: float  # MiB, VmHWM over the uploads
    download_rss: float  # MiB, VmHWM over the downloads alone


async def concurrent(cluster: BenchCluster, paths: list[Path], size: int) -> Concurrent:
    timeout = aiohttp.ClientTimeout(total=3600)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        cluster.reset_peak_rss("frontend")
        start = time.perf_counter()
        results = await asyncio.gather(*(upload(session, cluster.url, p) for p in paths))
        up = time.perf_counter() - start
        upload_rss = cluster.peak_rss_mib("frontend")
        await asyncio.to_thread(wait_replicated, cluster)
        cluster.reset_peak_rss("frontend")
        start = time.perf_counter()
        got = await asyncio.gather(*(download(session, cluster.url, r[0]) for r in results))
        down = time.perf_counter() - start
        download_rss = cluster.peak_rss_mib("frontend")
    assert all(n == size for n, _ in got)
    total = size * len(paths) / MiB
    return Concurrent(total / up, total / down, upload_rss, download_rss)


def cpu_line(per_gib: list[dict[str, float]]) -> str:
    """Median core-seconds per GiB per service, the nodes summed as well."""
    names = sorted(per_gib[0])
    median = {n: statistics.median(run.get(n, 0.0) for run in per_gib) for n in names}
    nodes = sum(v for n, v in median.items() if n.startswith("node-"))
    parts = [f"{n} {median[n]:.2f}" for n in names if not n.startswith("node-")]
    node_parts = ", ".join(f"{n} {median[n]:.2f}" for n in names if n.startswith("node-"))
    return f"{', '.join(parts)}, nodes {nodes:.2f} ({node_parts}); all {sum(median.values()):.2f}"


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
    parser.add_argument("--inflight", help="the frontend's --inflight (default: its own)")
    parser.add_argument("--read-ahead", help="the frontend's --read-ahead (default: its own)")
    parser.add_argument("--read-ahead-pool", help="the frontend's --read-ahead-pool")
    args = parser.parse_args()
    knobs = [*NO_REPAIR_PASS]
    for flag in ("--inflight", "--read-ahead", "--read-ahead-pool"):
        value = getattr(args, flag[2:].replace("-", "_"))
        if value is not None:
            knobs += [flag, value]
    with tempfile.TemporaryDirectory(prefix="filefleet-bench-") as tmp:
        root = Path(tmp)
        if args.rss:
            for text in args.rss.split(","):
                size = parse_size(text)
                path = root / f"rss-{text}.bin"
                make_file(path, size)
                with local_cluster(root / f"rss-{text}", *knobs) as cluster:
                    run = asyncio.run(single(cluster, path, size))
                    print(
                        f"{text}: up {run.link:.0f} MiB/s, down {run.download:.0f} MiB/s; "
                        f"{report_rss(cluster)}"
                    )
                path.unlink()
            return
        size = parse_size(args.size)
        client_size = parse_size(args.client_size)
        small = [root / f"client-{i}.bin" for i in range(args.clients)]
        for p in small:
            make_file(p, client_size)
        with local_cluster(root / "cluster", *knobs) as cluster:
            runs = []
            for index in range(args.runs):
                fresh = root / f"fresh-{index}.bin"  # new bytes every run: no dedup
                make_file(fresh, size)
                runs.append(asyncio.run(single(cluster, fresh, size)))
                if index < args.runs - 1:
                    fresh.unlink()
            again = asyncio.run(reupload(cluster, fresh, size))
            fresh.unlink()
            print(
                f"1 client, {args.size} of fresh bytes, median of {args.runs}: upload "
                f"{statistics.median(r.link for r in runs):.0f} MiB/s until the link, "
                f"{statistics.median(r.replicated for r in runs):.0f} MiB/s until both "
                f"copies exist; download {statistics.median(r.download for r in runs):.0f} MiB/s"
            )
            print(f"  re-upload of the same bytes (every chunk deduplicated): {again:.0f} MiB/s")
            upload_cpu = cpu_line([r.upload_cpu for r in runs])
            print(f"  core-s per GiB, upload to both copies: {upload_cpu}")
            print(f"  core-s per GiB, download: {cpu_line([r.download_cpu for r in runs])}")
            peaks = report_rss(cluster)  # since the start: one client, then the other
            many = asyncio.run(concurrent(cluster, small, client_size))
            print(
                f"{args.clients} clients x {args.client_size}: upload {many.upload:.0f} MiB/s, "
                f"download {many.download:.0f} MiB/s; frontend peak RSS {many.upload_rss:.0f} "
                f"MiB uploading, {many.download_rss:.0f} MiB downloading"
            )
            print(f"peak RSS, one client at a time: {peaks}")


if __name__ == "__main__":
    main()
