"""Replication speed on a local 3-node cluster (`filefleet up`, R=2, embedded Redis).

    python -m bench.replication                  # 1 GiB, repair rate 1000 MiB/s
    python -m bench.replication --size 256MiB --repair-rate 64

1. Upload one file; from the moment the link is returned, time until every chunk is on 2
   nodes (the replicate events at work): MiB/s of replication.
2. Stop (SIGSTOP) the node that holds a third of the replicas: to the fleet it is gone
   (`filefleet up` would restart a killed one at once, which is not the loss measured
   here), and it is resumed at the end; time until
   every chunk is back on 2 active nodes (detection: node TTL + --repair-after, then the
   repair pass copies at most --repair-rate MiB/s): total heal time and copy MiB/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.cluster import BenchCluster, local_cluster
from bench.throughput import upload
from bench.transfer import make_file
from filefleet.core.units import parse_duration, parse_size

MiB = 1024 * 1024


class Controller:
    def __init__(self, session: aiohttp.ClientSession, cluster: BenchCluster) -> None:
        self.session = session
        self.url = cluster.manifest["services"]["controller"]["url"]
        self.headers = {"Authorization": f"Bearer {cluster.manifest['secret']}"}

    async def get(self, path: str) -> Any:
        async with self.session.get(self.url + path, headers=self.headers) as resp:
            return await resp.json()

    async def chunks(self, file_id: str) -> list[dict[str, Any]]:
        info = await self.get(f"/file/{file_id}")
        result: list[dict[str, Any]] = info["chunks"]
        return result

    async def wait_replicated(self, file_id: str, replicas: int = 2) -> float:
        while True:
            active = {n["id"] for n in await self.get("/active-nodes")}
            chunks = await self.chunks(file_id)
            if all(len(set(c["locations"]) & active) >= replicas for c in chunks):
                return time.perf_counter()
            await asyncio.sleep(0.1)

    async def wait_inactive(self, node_id: str) -> float:
        while node_id in {n["id"] for n in await self.get("/active-nodes")}:
            await asyncio.sleep(0.05)
        return time.perf_counter()


def node_ids(data: Path) -> dict[str, str]:
    """Service name (node-1...) -> node id, from each node's data dir."""
    nodes = data / "nodes"
    return {p.name: (p / "node-id").read_text().strip() for p in sorted(nodes.iterdir())}


async def run(args: argparse.Namespace, work: Path) -> dict[str, float]:
    size = parse_size(args.size)
    path = work / "payload.bin"
    make_file(path, size)
    knobs = ["--node-ttl", args.node_ttl, "--ping-interval", "500ms", "--scrub-rate", "0",
             "--repair-interval", "1s", "--repair-after", args.repair_after,
             "--repair-rate", str(args.repair_rate)]  # fmt: skip
    data = work / "cluster"
    with local_cluster(data, *knobs) as cluster:
        timeout = aiohttp.ClientTimeout(total=None)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            controller = Controller(session, cluster)
            file_id, upload_s = await upload(session, cluster.url, path)
            uploaded = time.perf_counter()
            replicated = await controller.wait_replicated(file_id)
            chunks = await controller.chunks(file_id)
            ids = node_ids(data)
            held = {name: sum(nid in c["locations"] for c in chunks) for name, nid in ids.items()}
            # The node whose share of the replicas is closest to a third.
            victim = min(held, key=lambda name: abs(held[name] / (2 * len(chunks)) - 1 / 3))
            lost_bytes = sum(c["size"] for c in chunks if ids[victim] in c["locations"])
            killed = time.perf_counter()
            pid = cluster.pids(victim)[victim]
            os.kill(pid, signal.SIGSTOP)
            try:
                inactive = await controller.wait_inactive(ids[victim])
                healed = await controller.wait_replicated(file_id)
            finally:
                os.kill(pid, signal.SIGCONT)
    replicate_s = replicated - uploaded
    detect = parse_duration(args.repair_after)
    copy_s = max(1e-3, healed - inactive - detect)
    return {
        "size_mib": size / MiB,
        "chunks": len(chunks),
        "upload_s": upload_s,
        "replicate_s": replicate_s,
        "replicate_mib_s": size / MiB / replicate_s,
        "victim_share": held[victim] / (2 * len(chunks)),
        "lost_mib": lost_bytes / MiB,
        "heal_total_s": healed - killed,
        "detect_s": inactive - killed + detect,
        "heal_copy_s": copy_s,
        "heal_mib_s": lost_bytes / MiB / copy_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--size", default="1GiB")
    parser.add_argument("--repair-rate", type=float, default=1000.0, help="MiB/s")
    parser.add_argument("--repair-after", default="3s")
    parser.add_argument("--node-ttl", default="2s")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ff-bench-repl-") as tmp:
        result = asyncio.run(run(args, Path(tmp)))
    print(json.dumps({k: round(v, 2) for k, v in result.items()}, indent=2))
    print(
        f"replication: {result['size_mib']:.0f} MiB ({result['chunks']:.0f} chunks) reached "
        f"R=2 {result['replicate_s']:.2f}s after the upload "
        f"({result['replicate_mib_s']:.0f} MiB/s)"
    )
    print(
        f"heal: lost a node holding {result['victim_share']:.0%} of the replicas "
        f"({result['lost_mib']:.0f} MiB); back at R=2 after {result['heal_total_s']:.2f}s "
        f"(detection {result['detect_s']:.2f}s, copying {result['heal_copy_s']:.2f}s = "
        f"{result['heal_mib_s']:.0f} MiB/s)"
    )


if __name__ == "__main__":
    main()
