"""Where each core-second of an upload goes below Python: `perf` over the whole machine.

    python -m bench.native                  # 1 GiB of fresh bytes, until both copies exist
    python -m bench.native --size 256MiB --keep /tmp/perf.data

`bench.profile` samples the Python stacks of each service; what runs in C (uvloop, the
kernel's sockets and file systems, OpenSSL's SHA-256) shows there only as the Python line
that called it, or as "event loop" when no Python frame is on the stack at all. This
benchmark asks the kernel instead: it starts a local cluster (`filefleet up`, 3 nodes,
R=2), runs ``perf record -a -g`` (every CPU, every process, with the kernel's call
chains), uploads fresh random bytes with curl until both copies exist and the cluster is
quiet, and sorts every sample by the process it ran for (a service, the client, other
work) and by what the CPU was doing: the SHA-256 in OpenSSL, the Python interpreter,
memory copies in the C library, uvloop, SQLite, and in the kernel: sockets (TCP over
loopback), files and disk, page faults, waking and switching threads. Prints core-seconds
per GiB in one table (samples of a CPU at ``--rate`` per second: each one stands for
1/rate of a core-second).

Needs root and Linux's `perf` (Debian: ``apt-get install linux-perf``). Only the kernel's
own frames are followed up the call chain: CPython is built without frame pointers, so a
user-space sample is classed by the library it landed in.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.cluster import (
    NO_REPAIR_PASS,
    BenchCluster,
    local_cluster,
    wait_all_replicated,
)
from bench.cluster import wait_replicated as wait_settled
from bench.transfer import curl, make_file
from filefleet.core.units import parse_size

PERF = shutil.which("perf") or "perf"

# What a user-space sample was doing, by how the file name of the library it landed in
# begins (first match wins).
LIBRARIES: list[tuple[str, tuple[str, ...]]] = [
    ("SHA-256 (OpenSSL)", ("libcrypto",)),
    ("Python interpreter", ("libpython", "python3")),
    ("uvloop, libuv", ("loop.cpython", "libuv")),
    ("SQLite", ("libsqlite", "_sqlite3")),
]
LIBC_COPIES = ("memmove", "memcpy", "memset")

# What a kernel sample was doing, by how the functions on its call chain begin (leading
# underscores and a system call's "x64_sys_"/"sys_" ignored; first match wins: a page
# fault taken while copying a socket's bytes counts as a page fault, a write to a socket
# as sockets).
KERNEL: list[tuple[str, tuple[str, ...]]] = [
    ("kernel: page faults", ("asm_exc_page_fault", "handle_mm_fault", "do_user_addr_fault")),
    (
        "kernel: sockets (TCP over loopback)",
        ("tcp_", "sock_", "skb_", "inet_", "ip_", "net_rx_action", "dev_queue_xmit",
         "sendto", "recvfrom", "do_sendfile"),
    ),
    (
        "kernel: files and disk",
        ("ext4_", "iomap_", "blk_", "bio_", "submit_bio", "jbd2", "vfs_fsync", "fsync",
         "fdatasync", "openat", "do_sys_openat", "mkdir", "do_mkdirat", "rename", "do_renameat",
         "unlink", "do_unlinkat", "filemap_", "virtblk", "vring_", "vp_notify"),
    ),
    (
        "kernel: waking and switching threads (futex, epoll)",
        ("futex", "do_futex", "do_epoll", "ep_poll", "eventfd", "schedule", "finish_task_switch",
         "try_to_wake_up", "asm_sysvec_reschedule_ipi"),
    ),
]  # fmt: skip
KERNEL_OTHER = "kernel: other"
LIBC_COPY = "memory copies (C library)"
OTHER_NATIVE = "other user-space code"
IDLE = ("pv_native_safe_halt", "default_idle", "cpuidle_enter", "do_idle", "acpi_idle")

STEPS = [
    *(name for name, _ in LIBRARIES),
    LIBC_COPY,
    OTHER_NATIVE,
    *(name for name, _ in KERNEL),
    KERNEL_OTHER,
]


@dataclass(frozen=True)
class Sample:
    comm: str
    pid: int
    frames: tuple[tuple[str, str], ...]  # (symbol, library), innermost first


def parse_script(lines: Iterable[str]) -> Iterator[Sample]:
    """Samples from ``perf script -F comm,pid,tid,ip,sym,dso``: a head line ("comm
    pid/tid"), then one indented line per frame ("address symbol+offset (library)")."""
    head: tuple[str, int] | None = None
    frames: list[tuple[str, str]] = []
    for line in lines:
        if not line.strip():
            if head is not None:
                yield Sample(head[0], head[1], tuple(frames))
            head, frames = None, []
        elif line[0] in " \t":
            parts = line.split(None, 1)
            rest = parts[1] if len(parts) > 1 else ""
            symbol, _, library = rest.rpartition(" (")
            frames.append((symbol.split("+0x")[0], library.rstrip(")")))
        else:
            comm, _, ids = line.rstrip().rpartition(" ")
            head = (comm.strip(), int(ids.split("/")[0]))
    if head is not None:
        yield Sample(head[0], head[1], tuple(frames))


def step_of(sample: Sample) -> str | None:
    """What the CPU was doing in one sample; None when it was idle."""
    if not sample.frames:
        return OTHER_NATIVE
    symbol, library = sample.frames[0]
    if library != "[kernel.kallsyms]":
        name = library.rsplit("/", 1)[-1]
        for step, names in LIBRARIES:
            if name.startswith(names):
                return step
        if name.startswith("libc.") and any(copy in symbol for copy in LIBC_COPIES):
            return LIBC_COPY
        return OTHER_NATIVE
    if any(name in symbol for name in IDLE):
        return None
    calls = [_call(frame) for frame, _ in sample.frames]
    for step, names in KERNEL:
        if any(call.startswith(names) for call in calls):
            return step
    return KERNEL_OTHER


def _call(frame: str) -> str:
    """A kernel function's name as the rules match it: ``__x64_sys_futex`` -> ``futex``."""
    name = frame.lstrip("_")
    for prefix in ("x64_sys_", "sys_"):
        name = name.removeprefix(prefix)
    return name


def who(sample: Sample, services: dict[int, str]) -> str:
    if sample.pid in services:
        return services[sample.pid]
    if sample.comm == "curl" or sample.pid == os.getpid():
        return "client"
    return "other work"


def tally(samples: Iterable[Sample], services: dict[int, str]) -> dict[str, Counter[str]]:
    """Samples per process group and step (idle CPUs left out)."""
    counts: dict[str, Counter[str]] = {}
    for sample in samples:
        step = step_of(sample)
        if step is not None:
            counts.setdefault(who(sample, services), Counter())[step] += 1
    return counts


def groups_of(cluster: BenchCluster) -> dict[int, str]:
    """Every process of each service (and its children) -> the column it is counted in
    (the nodes together; `filefleet up` itself with the others)."""
    groups: dict[int, str] = {}
    for name, pids in cluster.process_groups().items():
        if name != "up":
            groups.update(dict.fromkeys(pids, "nodes" if name.startswith("node-") else name))
    return groups


COLUMNS = ["frontend", "nodes", "replicator", "controller", "redis", "client", "other work"]


def table(counts: dict[str, Counter[str]], rate: int, gib: float) -> str:
    def value(group: str, step: str | None) -> float:
        found = counts.get(group, Counter())
        samples = sum(found.values()) if step is None else found[step]
        return samples / rate / gib

    services = COLUMNS[:5]
    head = "| core-s per GiB | " + " | ".join(COLUMNS) + " | services |"
    rows = [head, "|---|" + "---:|" * (len(COLUMNS) + 1)]
    for step in [*STEPS, None]:
        values = [value(group, step) for group in COLUMNS]
        mine = sum(values[: len(services)])
        cells = [f"{v:.2f}" for v in values] + [f"{mine:.2f}"]
        label = step or "**all**"
        if step is None:
            cells = [f"**{c}**" for c in cells]
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--size", default="1GiB")
    parser.add_argument("--rate", type=int, default=999, help="samples per second per CPU")
    parser.add_argument("--keep", type=Path, default=None, help="leave perf.data here")
    args = parser.parse_args()
    if os.geteuid() != 0 or shutil.which(PERF) is None:
        raise SystemExit("bench.native needs root and perf (apt-get install linux-perf)")
    size = parse_size(args.size)
    with tempfile.TemporaryDirectory(prefix="ff-bench-native-") as tmp:
        root = Path(tmp)
        data = args.keep or root / "perf.data"
        path = root / "fresh.bin"
        make_file(path, size)
        with local_cluster(root / "cluster", *NO_REPAIR_PASS) as cluster:
            wait_settled(cluster)
            argv = [PERF, "record", "-a", "-g", "-F", str(args.rate), "-o", str(data)]
            perf = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                time.sleep(1.0)  # recording before the upload begins
                start = time.perf_counter()
                sent = curl(f"{cluster.url}/upload?name=fresh.bin", upload=path, method="POST")
                if sent.status != 201:
                    raise RuntimeError(f"upload: {sent.status} {sent.body[:200]!r}")
                link = time.perf_counter() - start
                both = wait_all_replicated(cluster) - start
                wait_settled(cluster)
            finally:
                perf.send_signal(signal.SIGINT)
                perf.wait(60)
            services = groups_of(cluster)
        script = subprocess.run(
            [PERF, "script", "-i", str(data), "-F", "comm,pid,tid,ip,sym,dso"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
    counts = tally(parse_script(script.stdout.splitlines()), services)
    mib = size / 1024**2
    print(f"{args.size} of fresh bytes: {mib / link:.0f} MiB/s until the link, "
          f"{mib / both:.0f} MiB/s until both copies (perf slows both a little)")  # fmt: skip
    print(f"core-seconds per GiB, by process and what the CPU ran ({args.rate} samples/s):\n")
    print(table(counts, args.rate, size / 1024**3))


if __name__ == "__main__":
    main()
