"""The resumable chunk API (`filefleet share`) against the plain `POST /upload`.

    python -m bench.resume                 # 1 GiB each

1. `POST /upload` of a 1 GiB random file (time until the link is returned);
2. `filefleet share` of another 1 GiB random file (hashing, claims, chunk PUTs, complete);
3. `filefleet share` of that same file again: every chunk is claimed (dedup), so the cost
   is hashing the file and one claim per chunk: time to link.
Replication is left to settle between the steps so they do not disturb each other.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from bench.cluster import local_cluster, wait_replicated
from bench.throughput import make_file, upload
from filefleet.core.units import parse_size

MiB = 1024 * 1024


def share(path: Path, server: str, cache: Path) -> tuple[dict[str, object], float]:
    env = {**os.environ, "FILEFLEET_SERVER": server, "FILEFLEET_CACHE_DIR": str(cache)}
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "filefleet", "share", str(path), "--json"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(done.stdout), time.perf_counter() - start


async def post(server: str, path: Path) -> float:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3600)) as session:
        return (await upload(session, server, path))[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", default="1GiB")
    args = parser.parse_args()
    size = parse_size(args.size)
    with tempfile.TemporaryDirectory(prefix="filefleet-bench-") as tmp:
        root = Path(tmp)
        plain, chunked = root / "plain.bin", root / "chunked.bin"
        make_file(plain, size)
        make_file(chunked, size)
        with local_cluster(root / "cluster") as cluster:
            seconds = asyncio.run(post(cluster.url, plain))
            print(f"POST /upload, {args.size}: {size / MiB / seconds:.0f} MiB/s ({seconds:.2f} s)")
            wait_replicated(cluster)
            result, seconds = share(chunked, cluster.url, root / "cache")
            print(f"filefleet share, {args.size}: {size / MiB / seconds:.0f} MiB/s "
                  f"({seconds:.2f} s, {result['sent_chunks']} chunks sent)")  # fmt: skip
            wait_replicated(cluster)
            result, seconds = share(chunked, cluster.url, root / "cache")
            print(
                f"filefleet share again (dedup), {args.size}: link in {seconds:.2f} s "
                f"({result['claimed_chunks']} chunks claimed, {result['sent_bytes']} bytes sent)"
            )


if __name__ == "__main__":
    main()
