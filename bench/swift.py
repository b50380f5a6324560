"""filefleet beside OpenStack Swift on one machine, measured the same way (issue 20).

    python -m bench.swift                        # 1 GiB, 3 repetitions
    python -m bench.swift --size 256MiB --runs 1 --json
    python -m bench.swift --runs 3 --json a.json # the table, and every run saved in a.json
    python -m bench.swift --table a.json b.json  # the runs of earlier ones, put together

Starts a filefleet cluster (`filefleet up`: 3 nodes, R=2, SQLite, embedded Redis) and a
private Swift all-in-one (``bench/saio.py``: 3 object nodes, 2 replicas, tempauth; needs
Debian's swift packages), both in one temporary directory, both kept up for the whole run.
Each repetition writes a file of fresh random bytes and uploads it to both systems, the
order alternating (filefleet first, then Swift first, ...), with curl (``bench/transfer.py``):

- upload until the link: until curl has the answer (filefleet: the link; Swift: 201);
- upload until both copies exist: filefleet, until no chunk of a live file is below R=2
  (the controller's ``/chunks/under-replicated``); Swift writes both replicas before it
  answers (its write quorum for 2 replicas is 2), and the ``.data`` files are checked on
  the two nodes;
- the download, to /dev/null, once every process is quiet again (filefleet's frontend
  checks each chunk's SHA-256 before it sends it; Swift's object server computes the
  MD5 as it reads and quarantines an object that does not match);
- server CPU (user + system from /proc) of every process of each system, per GiB: from
  the upload until both copies exist and the processes are quiet (back within 5 % of a
  core of what they use at rest, measured for each system before the first transfer);
  and for the download.

Prints one table with the medians, the ratios filefleet / Swift (of the medians, and the
range of the ratios within each repetition) and issue 20's targets (``--json``: every
run as well), the CPU per kind of process, how many cores other work kept busy while each
system was measured, and the machine and its load average.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.cluster import (
    NO_REPAIR_PASS,
    BenchCluster,
    cpu_seconds,
    local_cluster,
    machine,
    machine_busy_seconds,
    process_tree,
    wait_all_replicated,
    wait_replicated,
    wait_until_quiet,
)
from bench.saio import Saio, SaioError, SwiftAccount, check_installed, exit_on_sigterm, saio
from bench.saio_config import REPLICAS
from bench.side_by_side import Measure, by_process, summary, table
from bench.transfer import Transfer, curl, make_file
from filefleet.core.errors import InvalidInput
from filefleet.core.units import parse_size

MiB = 1024 * 1024
GiB = 1024 * MiB
CONTAINER = "bench"
SETTLE = 300.0  # seconds a system may take to finish and go quiet after a transfer
# A system is quiet when its processes use no more than this above what they use at rest
# (measured before the first transfer): Swift's eleven processes wake on timers and use
# ~0.1 of a core doing nothing, so "under 5 % of a core" could take minutes to happen,
# and every second of that waiting was counted in Swift's upload CPU.
QUIET_ABOVE_REST = 0.05
REST_SAMPLE = 5.0  # seconds over which each system's CPU at rest is measured


class Filefleet:
    name = "filefleet"

    def __init__(self, cluster: BenchCluster) -> None:
        self.cluster = cluster
        self.rest = 0.0  # cores at rest (``at_rest``)

    def processes(self) -> dict[str, list[int]]:
        return self.cluster.process_groups()

    def upload(self, path: Path, name: str) -> tuple[Transfer, str]:
        url = f"{self.cluster.url}/upload?name={urllib.parse.quote(name)}"
        sent = curl(url, upload=path, method="POST", headers={"Accept": "application/json"})
        if sent.status != 201:
            raise RuntimeError(f"filefleet upload: {sent.status} {sent.body[:200]!r}")
        return sent, str(json.loads(sent.body)["id"])

    def wait_copies(self, handle: str, size: int) -> float:
        return wait_all_replicated(self.cluster)

    def settle(self) -> None:
        wait_replicated(self.cluster, timeout=SETTLE, busy=self.rest + QUIET_ABOVE_REST)

    def download(self, handle: str) -> Transfer:
        return curl(f"{self.cluster.url}/download/{handle}")


class Swift:
    name = "swift"

    def __init__(self, swift: Saio, account: SwiftAccount) -> None:
        self.swift = swift
        self.account = account
        self.rest = 0.0  # cores at rest (``at_rest``)

    def processes(self) -> dict[str, list[int]]:
        return {n: process_tree(p.pid) for n, p in self.swift.processes.items()}

    def upload(self, path: Path, name: str) -> tuple[Transfer, str]:
        url = f"{self.account.storage_url}/{CONTAINER}/{urllib.parse.quote(name)}"
        sent = curl(url, upload=path, method="PUT", headers=self.account.headers)
        if sent.status != 201:
            raise RuntimeError(f"Swift PUT: {sent.status} {sent.body[:200]!r}")
        return sent, name

    def wait_copies(self, handle: str, size: int, timeout: float = 60) -> float:
        deadline = time.monotonic() + timeout
        while self.swift.copies(CONTAINER, handle, size) < REPLICAS:
            if time.monotonic() > deadline:
                raise RuntimeError(f"Swift: {handle} is not on two nodes after {timeout:.0f}s")
            time.sleep(0.01)
        return time.perf_counter()

    def settle(self) -> None:
        busy = self.rest + QUIET_ABOVE_REST
        wait_until_quiet(_pids(self), deadline=time.monotonic() + SETTLE, busy=busy)

    def download(self, handle: str) -> Transfer:
        url = f"{self.account.storage_url}/{CONTAINER}/{urllib.parse.quote(handle)}"
        return curl(url, headers=self.account.headers)


System = Filefleet | Swift


def _pids(system: System) -> list[int]:
    return [pid for pids in system.processes().values() for pid in pids]


def at_rest(system: System) -> float:
    """Cores the system's processes use doing nothing (no transfer since they started)."""
    pids = _pids(system)
    before = cpu_seconds(pids)
    time.sleep(REST_SAMPLE)
    return (cpu_seconds(pids) - before) / REST_SAMPLE


def _cpu(groups: dict[str, list[int]]) -> dict[str, float]:
    return {name: cpu_seconds(pids) for name, pids in groups.items()}


def _ours() -> float:
    """CPU seconds of this process and its children (curl) so far."""
    me, children = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


@dataclass
class Spent:
    """CPU seconds each group of processes spent in a step, and what the rest of the
    machine spent meanwhile (neither the system measured nor this benchmark and its curl)."""

    by_group: dict[str, float]
    others: float
    seconds: float


def _spent(groups: dict[str, list[int]], step: Callable[[], Any]) -> tuple[Any, Spent]:
    """Run ``step``; its result and the CPU each group of processes spent on it."""
    before, busy, mine, start = _cpu(groups), machine_busy_seconds(), _ours(), time.monotonic()
    result = step()
    after = _cpu(groups)
    by_group = {name: after[name] - before[name] for name in groups}
    others = machine_busy_seconds() - busy - sum(by_group.values()) - (_ours() - mine)
    return result, Spent(by_group, max(0.0, others), time.monotonic() - start)


def measure(system: System, path: Path, size: int, name: str) -> Measure:
    """Upload fresh bytes until both copies exist and the system is quiet, then download."""
    groups = system.processes()

    def upload() -> tuple[Transfer, str, float]:
        sent, handle = system.upload(path, name)
        both = system.wait_copies(handle, size) - sent.started
        system.settle()
        return sent, handle, both

    (sent, handle, both), up = _spent(groups, upload)
    got, down = _spent(groups, lambda: system.download(handle))
    if got.status != 200 or got.received != size:
        raise RuntimeError(f"{system.name} download: {got.status}, {got.received} of {size} B")
    mib, gib = size / MiB, size / GiB
    return Measure(
        link=mib / sent.seconds,
        replicated=mib / max(both, sent.seconds),
        download=mib / got.seconds,
        upload_cpu=sum(up.by_group.values()) / gib,
        download_cpu=sum(down.by_group.values()) / gib,
        others=(up.others + down.others) / (up.seconds + down.seconds),
        upload_by_process={k: v / gib for k, v in up.by_group.items()},
        download_by_process={k: v / gib for k, v in down.by_group.items()},
    )


def run(size: int, runs: int, root: Path) -> dict[str, list[Measure]]:
    """Every repetition's measures, by system."""
    results: dict[str, list[Measure]] = {"filefleet": [], "swift": []}
    with local_cluster(root / "filefleet", *NO_REPAIR_PASS) as cluster, saio(root / "swift") as s:
        account = s.authenticate()
        s.create_container(account, CONTAINER)
        systems: list[System] = [Filefleet(cluster), Swift(s, account)]
        for system in systems:
            system.rest = at_rest(system)
            print(f"{system.name} at rest: {system.rest:.3f} cores", file=sys.stderr)
        for index in range(runs):
            path = root / f"fresh-{index}.bin"  # new bytes every repetition: no dedup
            make_file(path, size)
            for system in systems if index % 2 == 0 else systems[::-1]:
                for other in systems:  # neither may still be busy with the last transfer
                    other.settle()
                results[system.name].append(measure(system, path, size, path.name))
                print(f"run {index + 1}: {system.name} done", file=sys.stderr)
            path.unlink()
    return results


def load_runs(paths: list[Path]) -> tuple[dict[str, list[Measure]], list[dict[str, Any]]]:
    """The runs of earlier ``--json`` files, put together; the machine as each file saw it.
    ValueError names a file that is not one (or holds uploads of another size)."""
    results: dict[str, list[Measure]] = {"filefleet": [], "swift": []}
    machines, sizes = [], set()
    for path in paths:
        try:
            data = json.loads(path.read_text())
            for name, runs in results.items():
                runs.extend(Measure(**run) for run in data[name]["runs"])
            machines.append(data["machine"])
            sizes.add(data["size"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}: not the --json of bench.swift ({exc!r})") from exc
    if len(sizes) > 1:
        raise ValueError(f"the files hold uploads of different sizes: {sorted(sizes)}")
    return results, machines


def measure_all(size: int, runs: int, where: Path | None) -> dict[str, Any]:
    """Measure both systems; the runs (as ``summary`` gives them) and the machine."""
    exit_on_sigterm()
    before = machine()
    check_installed()
    if shutil.which("curl") is None:
        raise SaioError("not installed: curl; install with: apt-get install -y curl")
    with tempfile.TemporaryDirectory(prefix="filefleet-swift-", dir=where) as tmp:
        results = run(size, runs, Path(tmp))
    m = {**before, "load_average_after": os.getloadavg()}
    return {"size": size, "machine": m, **summary(results["filefleet"], results["swift"])}


def report(results: dict[str, list[Measure]], machines: list[dict[str, Any]], title: str) -> str:
    ours, theirs = results["filefleet"], results["swift"]
    lines = [
        f"{title}, median of {len(ours)}, curl, alternating",
        table(ours, theirs),
        "core-s per GiB uploaded to R=2, by kind of process (nodes, servers summed):",
        "  " + by_process("filefleet", [r.upload_by_process for r in ours]),
        "  " + by_process("Swift", [r.upload_by_process for r in theirs]),
        "core-s per GiB downloaded, by kind of process:",
        "  " + by_process("filefleet", [r.download_by_process for r in ours]),
        "  " + by_process("Swift", [r.download_by_process for r in theirs]),
    ]
    for name, runs in results.items():
        busy = ", ".join("–" if r.others is None else f"{r.others:.2f}" for r in runs)
        lines.append(f"cores busy with other work while {name} was measured, each run: {busy}")
    for m in machines:
        load = ", ".join(f"{x:.2f}" for x in m["load_average"])
        after = ", ".join(f"{x:.2f}" for x in m["load_average_after"])
        cpu = f"{m['cpu']}, {m['cores']} cores"
        lines.append(f"machine: {cpu}; load average {load} before, {after} after")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", default="1GiB", help="bytes per upload (fresh every run)")
    parser.add_argument("--runs", type=int, default=3, help="repetitions, order alternating")
    parser.add_argument(
        "--json",
        nargs="?",
        const="-",
        metavar="FILE",
        help="every run as JSON: on stdout instead of the table, or into FILE beside it",
    )
    parser.add_argument("--dir", type=Path, default=None, help="where the temporary data go")
    parser.add_argument(
        "--table",
        nargs="+",
        type=Path,
        metavar="FILE",
        help="measure nothing: the table of the runs in earlier --json files, put together",
    )
    args = parser.parse_args()
    if args.table:
        try:
            results, machines = load_runs(args.table)
        except ValueError as exc:
            parser.error(str(exc))
        print(report(results, machines, "saved runs"))
        return
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    try:
        size = parse_size(args.size)
    except InvalidInput as exc:
        parser.error(f"--size: {exc}")
    if size < 1:
        parser.error("--size must be at least 1 byte")
    try:
        data = measure_all(size, args.runs, args.dir)
    except SaioError as exc:
        sys.exit(f"bench.swift: {exc}")
    if args.json == "-":
        print(json.dumps(data, indent=2))
        return
    if args.json:
        Path(args.json).write_text(json.dumps(data, indent=2) + "\n")
    results = {name: [Measure(**r) for r in data[name]["runs"]] for name in ("filefleet", "swift")}
    print(report(results, [data["machine"]], f"{args.size} of fresh bytes per upload"))


if __name__ == "__main__":
    main()
