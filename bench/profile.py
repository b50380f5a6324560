"""Where each core-second of an upload goes: every service sampled with py-spy.

    python -m bench.profile                 # 1 GiB of fresh bytes, until both copies exist
    python -m bench.profile --size 256MiB --rate 200 --keep /tmp/profiles

Starts a local cluster (`filefleet up`, 3 nodes, R=2), attaches `py-spy record` to every
service (sampling rate ``--rate`` per second, idle time left out),
uploads fresh random bytes, waits until every chunk has both copies and the cluster is
quiet, then sorts each service's samples into steps by the functions on their stacks and
prints core-seconds per GiB per service and step (samples are taken only of threads
that run, so an idle event loop costs nothing here). The nodes are summed; "first node" and
"second node" are not told apart (each node is the first for some chunks and the second
for others). ``--keep DIR`` leaves the raw collapsed stacks there, for flame graphs.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import aiohttp

from bench.cluster import (
    NO_REPAIR_PASS,
    BenchCluster,
    cpu_by_service,
    cpu_since,
    local_cluster,
    wait_all_replicated,
)
from bench.cluster import wait_replicated as wait_settled
from bench.throughput import upload
from bench.transfer import make_file
from filefleet.core.units import parse_size

# The py-spy installed beside this Python (a virtualenv's bin), else the one on PATH.
_BESIDE = Path(sys.executable).with_name("py-spy")
PY_SPY = str(_BESIDE) if _BESIDE.exists() else (shutil.which("py-spy") or "py-spy")

_PACKAGE = Path(__file__).resolve().parent.parent / "filefleet"


def lines_with(module: str, *texts: str) -> tuple[str, ...]:
    """ "module.py:N" for each line of ``module`` (under filefleet/) holding one of
    ``texts``: how a sample in C code called from that line (a hash, a copy) is told apart
    from the lines around it, found anew as the code moves."""
    source = (_PACKAGE / module).read_text().splitlines()
    return tuple(
        f"{module}:{number})"
        for number, line in enumerate(source, 1)
        if any(text in line for text in texts)
    )


# A sample's step: the first rule whose pattern appears in its stack (innermost frames are
# looked at first). Order matters: a SHA-256 pass inside a receive is counted as hashing.
# Frames are "function (file:line)"; time in C code (hashlib, a system call, uvloop) shows
# as the Python line that called it, hence the lines named below.
STEPS: list[tuple[str, tuple[str, ...]]] = [
    (
        "SHA-256",
        (
            "_hash_arrived",
            "_hash_queued",
            "hashlib",
            "hexdigest",
            *lines_with("fastpath/pooled_chunks.py", "own.update("),
            *lines_with("http/bodies.py", "digest.update(view"),
            *lines_with("fastpath/reading.py", "digest.update("),
        ),
    ),
    (
        "copies of bytes",
        (
            *lines_with("fastpath/pooled_chunks.py", "piece_in_buffer[:] ="),
            *lines_with("http/bodies.py", "view[filled:end] = piece"),
            "_aligned_buffer",
        ),
    ),
    (
        "fsync, disk writes",
        ("fsync", "write_durably", "_write_direct", "_write_buffered", "_write_all"),
    ),
    ("disk reads", ("read_into", "reading.py")),
    ("metadata (SQL)", ("sqlalchemy", "aiosqlite", "asyncpg", "sqlite3", "store/")),
    ("JSON and models", ("pydantic", "json", "model_validate", "model_dump")),
    ("send", ("sock_sendall", "sendfile", "_send_body", "write_eof", "writelines")),
    ("receive", ("sock_recv", "recv_into", "fill (", "data_received", "feed_data")),
    ("queue", ("redis", "aio_pika", "aiormq")),
    ("HTTP framing, routing", ("aiohttp", "direct.py", "server.py")),
    ("event loop (uvloop: callbacks, socket I/O)", ("Runner.run",)),
]
OTHER = "other Python"
# A thread waiting for work is sampled as running in non-blocking mode: not CPU time.
IDLE = (
    "_worker (concurrent/futures/thread.py:81)",
    "_connection_worker_thread (aiosqlite/core.py:59)",
)


def step_of(stack: str) -> str | None:
    """The step of one sample, None when its thread was only waiting for work."""
    frames = stack.split(";")[::-1]  # innermost first
    if frames and frames[0] in IDLE:
        return None
    for frame in frames:
        for step, patterns in STEPS:
            if any(p in frame for p in patterns):
                return step
    return OTHER


def read_samples(path: Path) -> Counter[str]:
    """Collapsed stacks (``stack count`` per line) -> samples per step."""
    steps: Counter[str] = Counter()
    if not path.exists():
        return steps
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        step = step_of(stack)
        if count.isdigit() and step is not None:
            steps[step] += int(count)
    return steps


def start_spies(cluster: BenchCluster, out: Path, rate: int) -> dict[str, subprocess.Popen[bytes]]:
    spies = {}
    for name, svc in cluster.manifest["services"].items():
        if "pid" not in svc or name == "redis":
            continue
        # Non-blocking: the process is not paused to be sampled (native frames would need
        # that); time in C code (hashlib, a system call) shows as the Python line calling it.
        argv = [
            PY_SPY,
            "record",
            "--pid",
            str(svc["pid"]),
            "--rate",
            str(rate),
            "--nonblocking",
            "--format",
            "raw",
            "--output",
            str(out / f"{name}.txt"),
        ]
        spies[name] = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1.0)  # attached before the upload begins
    return spies


def stop_spies(spies: dict[str, subprocess.Popen[bytes]]) -> None:
    for spy in spies.values():
        spy.send_signal(signal.SIGINT)
    for spy in spies.values():
        spy.wait(60)


async def upload_fresh(cluster: BenchCluster, path: Path) -> tuple[float, float]:
    timeout = aiohttp.ClientTimeout(total=3600)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        start = time.perf_counter()
        _, link = await upload(session, cluster.url, path)
    both = await asyncio.to_thread(wait_all_replicated, cluster) - start
    await asyncio.to_thread(wait_settled, cluster)
    return link, both


def table(profiles: dict[str, Counter[str]], cpu: dict[str, float], gib: float) -> str:
    """Core-seconds per GiB per service and step: each service's CPU time as /proc counts
    it, shared out over the steps in proportion to its samples (a sampler also counts a
    thread blocked in a system call, e.g. fsync, as running: samples alone overstate)."""
    services = ["frontend", "nodes", "replicator", "controller", "gc"]
    group = {name: "nodes" if name.startswith("node-") else name for name in profiles}
    samples: dict[str, Counter[str]] = {s: Counter() for s in services}
    seconds: dict[str, float] = dict.fromkeys(services, 0.0)
    for name, steps in profiles.items():
        samples[group[name]].update(steps)
        seconds[group[name]] += cpu.get(name, 0.0)
    order = [step for step, _ in STEPS] + [OTHER]

    def share(service: str, step: str) -> float:
        total = sum(samples[service].values())
        part = samples[service][step] / total if total else 0.0
        return part * seconds[service] / gib

    rows = ["| step | " + " | ".join(services) + " | all |", "|" + "---|" * (len(services) + 2)]
    for step in order:
        values = [share(service, step) for service in services]
        rows.append(f"| {step} | " + " | ".join(f"{v:.2f}" for v in values) +
                    f" | {sum(values):.2f} |")  # fmt: skip
    totals = [seconds[service] / gib for service in services]
    rows.append("| **all** | " + " | ".join(f"**{v:.2f}**" for v in totals) +
                f" | **{sum(totals):.2f}** |")  # fmt: skip
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--size", default="1GiB")
    parser.add_argument("--rate", type=int, default=100, help="samples per second")
    parser.add_argument("--keep", type=Path, default=None, help="leave the raw stacks here")
    args = parser.parse_args()
    size = parse_size(args.size)
    with tempfile.TemporaryDirectory(prefix="ff-bench-profile-") as tmp:
        root = Path(tmp)
        out = args.keep or root / "profiles"
        out.mkdir(parents=True, exist_ok=True)
        path = root / "fresh.bin"
        make_file(path, size)
        with local_cluster(root / "cluster", *NO_REPAIR_PASS) as cluster:
            spies = start_spies(cluster, out, args.rate)
            before = cpu_by_service(cluster)
            try:
                link, both = asyncio.run(upload_fresh(cluster, path))
                cpu = cpu_since(cluster, before)
            finally:
                stop_spies(spies)
        profiles = {name: read_samples(out / f"{name}.txt") for name in spies}
    mib = size / 1024**2
    print(f"{args.size} of fresh bytes: {mib / link:.0f} MiB/s until the link, "
          f"{mib / both:.0f} MiB/s until both copies (sampling slows both)")  # fmt: skip
    print("core-seconds per GiB, by service and step:\n")
    print(table(profiles, cpu, size / 1024**3))


if __name__ == "__main__":
    main()
