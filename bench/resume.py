"""The resumable chunk API (`filefleet share`) against the plain `POST /upload`.

    python -m bench.resume                 # 1 GiB each
    python -m bench.resume --runs 3        # medians of 3 POST/share pairs

1. `POST /upload` of a 1 GiB random file (time until the link is returned);
2. `filefleet share` of another 1 GiB random file (hashing, claims, chunk PUTs, complete);
3. `filefleet share` of that same file again: every chunk is claimed (dedup), so the cost
   is hashing the file and one claim per chunk: time to link.
Replication is left to settle between the steps so they do not disturb each other.
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import aiohttp

import filefleet
from bench.cluster import NO_REPAIR_PASS, BenchCluster, local_cluster, wait_replicated
from bench.throughput import upload
from bench.transfer import make_file
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


def read_back(cluster: BenchCluster) -> int:
    """Chunks the frontend read back from the nodes to check whole-file hashes, so far."""
    secret = cluster.manifest["secret"]
    req = urllib.request.Request(
        f"{cluster.url}/stats", headers={"Authorization": f"Bearer {secret}"}
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return int(json.loads(resp.read())["resumable"]["chunks_read_back"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", default="1GiB")
    parser.add_argument("--runs", type=int, default=1, help="POST/share pairs (medians)")
    args = parser.parse_args()
    size = parse_size(args.size)
    # `filefleet share` starts a new process each time: compile its bytecode first, as an
    # installed package has it (with PYTHONDONTWRITEBYTECODE set, every run would compile
    # the command's modules again, which a user's runs do not).
    compileall.compile_dir(Path(filefleet.__file__).parent, quiet=1)
    with tempfile.TemporaryDirectory(prefix="filefleet-bench-") as tmp:
        root = Path(tmp)
        with local_cluster(root / "cluster", *NO_REPAIR_PASS) as cluster:
            posts, shares = [], []
            for run in range(args.runs):  # fresh files each time: nothing is deduplicated
                plain, chunked = root / f"plain-{run}.bin", root / f"chunked-{run}.bin"
                make_file(plain, size)
                make_file(chunked, size)
                posts.append(size / MiB / asyncio.run(post(cluster.url, plain)))
                wait_replicated(cluster)
                result, seconds = share(chunked, cluster.url, root / "cache")
                shares.append(size / MiB / seconds)
                wait_replicated(cluster)
                print(f"run {run + 1}: POST /upload {posts[-1]:.0f} MiB/s, filefleet share "
                      f"{shares[-1]:.0f} MiB/s ({result['sent_chunks']} chunks sent, "
                      f"{read_back(cluster)} read back at completion so far)")  # fmt: skip
                plain.unlink()
            post_mib, share_mib = statistics.median(posts), statistics.median(shares)
            print(f"{args.size}, median of {args.runs}: POST /upload {post_mib:.0f} MiB/s, "
                  f"filefleet share {share_mib:.0f} MiB/s "
                  f"({(1 - share_mib / post_mib) * 100:.0f} % slower)")  # fmt: skip
            result, seconds = share(chunked, cluster.url, root / "cache")
            print(
                f"filefleet share again (dedup), {args.size}: link in {seconds:.2f} s "
                f"({result['claimed_chunks']} chunks claimed, {result['sent_bytes']} bytes sent)"
            )


if __name__ == "__main__":
    main()
