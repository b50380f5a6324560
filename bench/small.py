"""Small files beside Swift: how long one upload and one download take, and what each
upload costs the servers.

    .venv/bin/python -m bench.small                     # 1kB, 100kB, 1MiB; 100 of each
    .venv/bin/python -m bench.small --sizes 4kB --count 300
    .venv/bin/python -m bench.small --no-swift          # filefleet alone

Most files people share are far smaller than a chunk, and what a person waits on then is
the round trips and transactions of one upload, not bytes per second. One client sends
``--count`` uploads of fresh random bytes of each size, one after the other on one kept
connection, then downloads each once; each request is timed from its first byte sent to
its last byte received. Python's ``http.client`` is the client, not curl: starting a curl
process costs ~10 ms, as much as a request being measured.

Both systems run at once, as ``bench.swift`` starts them (``filefleet up`` with 3 nodes
and R=2, SQLite, embedded Redis; Swift SAIO from Debian's packages, 2 replicas), and take
turns size by size, the order alternating. A filefleet upload is timed until its link (its
second copy is made in the background; the downloads begin once every chunk is at R=2); a
Swift PUT is timed until its 201, which comes once both object servers have written
their copy. The servers' CPU per upload is every process of the system, from ``/proc``,
over the uploads and until filefleet's copies exist, divided by the count (what the
processes do at rest meanwhile, the scrubbers' and Swift's timers, is in it: ~0.05 of a
core for each system).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

from bench.cluster import (
    NO_REPAIR_PASS,
    BenchCluster,
    cpu_seconds,
    local_cluster,
    machine,
    wait_all_replicated,
    wait_healthy,
)
from bench.saio import Saio, SaioError, SwiftAccount, check_installed, exit_on_sigterm, saio
from bench.side_by_side import by_role
from bench.swift import CONTAINER, Swift
from filefleet.core.errors import InvalidInput
from filefleet.core.units import format_size, parse_size

DEFAULT_SIZES = "1kB,100kB,1MiB"
TIMEOUT = 60.0  # seconds for any one request


@dataclass
class Result:
    """One system, one size: each request's seconds, and the servers' CPU per upload."""

    system: str
    size: int
    uploads: list[float]
    downloads: list[float]
    cpu_per_upload: dict[str, float]  # seconds, by process kind (node-1, node-2: node)


def percentile(values: list[float], q: float) -> float:
    """The value below which a share ``q`` of ``values`` lies (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


class Client:
    """One kept connection; ``send`` times a request and returns its status and body."""

    def __init__(self, base_url: str, headers: dict[str, str] | None = None) -> None:
        parts = urlsplit(base_url)
        assert parts.hostname is not None and parts.port is not None
        self.prefix = parts.path.rstrip("/")
        self.headers = headers or {}
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=TIMEOUT)

    def send(self, method: str, path: str, body: bytes | None = None,
             headers: dict[str, str] | None = None) -> tuple[float, int, bytes]:  # fmt: skip
        start = time.perf_counter()
        self.conn.request(method, self.prefix + path, body=body,
                          headers={**self.headers, **(headers or {})})  # fmt: skip
        response = self.conn.getresponse()
        data = response.read()
        return time.perf_counter() - start, response.status, data

    def close(self) -> None:
        self.conn.close()


@dataclass
class Target:
    """A system under test: how to upload and download one object, and its processes."""

    name: str
    upload: Callable[[Client, str, bytes], tuple[float, str]]
    download: Callable[[Client, str], tuple[float, bytes]]
    client: Callable[[], Client]
    processes: Callable[[], dict[str, list[int]]]
    settle: Callable[[], object]  # until the uploads' background work is done


def filefleet_target(cluster: BenchCluster) -> Target:
    def upload(client: Client, name: str, body: bytes) -> tuple[float, str]:
        seconds, status, data = client.send("POST", f"/upload?name={quote(name)}", body,
                                            {"Accept": "application/json"})  # fmt: skip
        if status != 201:
            raise RuntimeError(f"filefleet upload: {status} {data[:200]!r}")
        return seconds, str(json.loads(data)["id"])

    def download(client: Client, handle: str) -> tuple[float, bytes]:
        seconds, status, data = client.send("GET", f"/download/{handle}")
        if status != 200:
            raise RuntimeError(f"filefleet download: {status} {data[:200]!r}")
        return seconds, data

    return Target("filefleet", upload, download, lambda: Client(cluster.url),
                  cluster.process_groups, lambda: wait_all_replicated(cluster))  # fmt: skip


def swift_target(swift: Saio, account: SwiftAccount) -> Target:
    def upload(client: Client, name: str, body: bytes) -> tuple[float, str]:
        seconds, status, data = client.send("PUT", f"/{CONTAINER}/{quote(name)}", body)
        if status != 201:
            raise RuntimeError(f"Swift PUT: {status} {data[:200]!r}")
        return seconds, name

    def download(client: Client, handle: str) -> tuple[float, bytes]:
        seconds, status, data = client.send("GET", f"/{CONTAINER}/{quote(handle)}")
        if status != 200:
            raise RuntimeError(f"Swift GET: {status} {data[:200]!r}")
        return seconds, data

    return Target("swift", upload, download,
                  lambda: Client(account.storage_url, account.headers),
                  Swift(swift, account).processes, lambda: None)  # fmt: skip


def measure(target: Target, size: int, count: int, tag: str) -> Result:
    """``count`` uploads of fresh bytes of ``size``, then a download of each (checked)."""
    client = target.client()
    try:
        groups = target.processes()
        before = {name: cpu_seconds(pids) for name, pids in groups.items()}
        uploads, sent = [], []
        for index in range(count):
            body = os.urandom(size)
            seconds, handle = target.upload(client, f"{tag}-{size}-{index}", body)
            uploads.append(seconds)
            sent.append((handle, body))
        target.settle()
        spent = {name: cpu_seconds(pids) - before[name] for name, pids in groups.items()}
        downloads = []
        for handle, body in sent:
            seconds, data = target.download(client, handle)
            if data != body:
                raise RuntimeError(f"{target.name}: {handle} came back different")
            downloads.append(seconds)
    finally:
        client.close()
    per_upload = {k: v / count for k, v in by_role(spent).items()}
    return Result(target.name, size, uploads, downloads, per_upload)


def table(results: list[Result]) -> str:
    """Markdown: per size, each system's median and 90th percentile, and the ratio."""
    lines = [
        "| size | | filefleet | Swift | ratio (medians) |",
        "|---|---|---:|---:|---:|",
    ]
    sizes = sorted({r.size for r in results})
    for size in sizes:
        ours = next((r for r in results if r.size == size and r.system == "filefleet"), None)
        theirs = next((r for r in results if r.size == size and r.system == "swift"), None)
        for label, pick in (("upload", "uploads"), ("download", "downloads")):
            cells = []
            for result in (ours, theirs):
                if result is None:
                    cells.append("")
                    continue
                values: list[float] = getattr(result, pick)
                cells.append(f"{1000 * statistics.median(values):.1f} ms "
                             f"(p90 {1000 * percentile(values, 0.9):.1f})")  # fmt: skip
            ratio = ""
            if ours is not None and theirs is not None:
                mine = statistics.median(getattr(ours, pick))
                other = statistics.median(getattr(theirs, pick))
                ratio = f"×{mine / other:.2f}"
            lines.append(f"| {format_size(size)} | {label} | {cells[0]} | {cells[1]} | {ratio} |")
    lines.append("")
    lines.append("servers' CPU per upload, ms, by kind of process:")
    for result in results:
        parts = sorted(result.cpu_per_upload.items(), key=lambda kv: -kv[1])
        shown = ", ".join(f"{k} {1000 * v:.1f}" for k, v in parts if v > 0)
        total = 1000 * sum(result.cpu_per_upload.values())
        lines.append(f"  {result.system} {format_size(result.size)}: {total:.1f} ({shown})")
    return "\n".join(lines)


def run(sizes: list[int], count: int, root: Path, with_swift: bool) -> list[Result]:
    results: list[Result] = []
    with local_cluster(root / "filefleet", *NO_REPAIR_PASS) as cluster:
        wait_healthy(cluster.url)
        targets = [filefleet_target(cluster)]
        if not with_swift:
            return _turns(targets, sizes, count)
        with saio(root / "swift") as swift:
            account = swift.authenticate()
            swift.create_container(account, CONTAINER)
            targets.append(swift_target(swift, account))
            results = _turns(targets, sizes, count)
    return results


def _turns(targets: list[Target], sizes: list[int], count: int) -> list[Result]:
    results = []
    for target in targets:  # warm up: connections, caches, the first files' directories
        measure(target, 1000, 10, "warm")
    for index, size in enumerate(sizes):
        for target in targets if index % 2 == 0 else targets[::-1]:
            results.append(measure(target, size, count, "run"))
            print(f"{format_size(size)}: {target.name} done", file=sys.stderr)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default=DEFAULT_SIZES, help="comma-separated sizes")
    parser.add_argument("--count", type=int, default=100, help="uploads of each size")
    parser.add_argument("--no-swift", action="store_true", help="measure filefleet alone")
    parser.add_argument("--dir", type=Path, default=None, help="where the temporary data go")
    args = parser.parse_args()
    try:
        sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
    except InvalidInput as exc:
        parser.error(f"--sizes: {exc}")
    if not sizes or min(sizes) < 1:
        parser.error("--sizes: at least one size of at least 1 byte")
    if args.count < 1:
        parser.error("--count must be at least 1")
    exit_on_sigterm()
    before = machine()
    try:
        if not args.no_swift:
            check_installed()
        with tempfile.TemporaryDirectory(prefix="filefleet-small-", dir=args.dir) as tmp:
            results = run(sizes, args.count, Path(tmp), not args.no_swift)
    except SaioError as exc:
        sys.exit(f"bench.small: {exc}")
    print(f"{args.count} uploads and downloads of each size, one client, one kept connection")
    print(table(results))
    load = ", ".join(f"{x:.2f}" for x in before["load_average"])
    print(f"machine: {before['cpu']}, {before['cores']} cores; load average {load} before")


if __name__ == "__main__":
    main()
