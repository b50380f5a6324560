"""Start a local cluster with `filefleet up` for a benchmark, and read its processes."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filefleet.runtime.ports import free_port


@dataclass
class BenchCluster:
    url: str
    manifest: dict[str, Any]
    pid: int = 0  # `filefleet up`: every process of the cluster is in its tree

    def pids(self, prefix: str) -> dict[str, int]:
        return {
            name: int(svc["pid"])
            for name, svc in self.manifest["services"].items()
            if name.startswith(prefix)
        }

    def process_groups(self) -> dict[str, list[int]]:
        """Each service and its children by name; whatever else `filefleet up` runs as
        ``up`` (the supervisor itself)."""
        services = self.manifest["services"]
        groups = {n: process_tree(int(s["pid"])) for n, s in services.items() if s.get("pid")}
        seen = {pid for pids in groups.values() for pid in pids}
        groups["up"] = [p for p in process_tree(self.pid) if p not in seen]
        return groups

    def reset_peak_rss(self, name: str) -> None:
        """Start VmHWM over from the process's present memory (``clear_refs``, "5")."""
        pid = self.manifest["services"][name]["pid"]
        Path(f"/proc/{pid}/clear_refs").write_text("5")

    def peak_rss_mib(self, name: str) -> float:
        """VmHWM: the process's peak resident memory since it started (or was reset)."""
        pid = self.manifest["services"][name]["pid"]
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")


def wait_healthy(
    url: str,
    *,
    context: ssl.SSLContext | None = None,
    proc: subprocess.Popen[bytes] | None = None,
    timeout: float = 30.0,
) -> None:
    """Until ``url/healthz`` answers; RuntimeError if ``proc`` exits or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError):
            urllib.request.urlopen(f"{url}/healthz", timeout=1, context=context)
            return
        if (proc is not None and proc.poll() is not None) or time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not start")
        time.sleep(0.1)


# For measuring uploads and downloads: the replicator's periodic repair pass (every 30 s by
# default) finds the chunks of an upload still in progress below R and copies them while
# the upload runs, so a pass that happens to fall inside a measured transfer adds CPU
# work to it at random. Replication after an upload (its events) is untouched; its cost is
# measured by bench/replication.py.
NO_REPAIR_PASS = ("--repair-interval", "1h")


@contextmanager
def local_cluster(data: Path, *args: str) -> Iterator[BenchCluster]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FILEFLEET_")}
    log = (data / "up.log").open("ab") if data.exists() else None
    data.mkdir(parents=True, exist_ok=True)
    log = log or (data / "up.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "filefleet", "up", "--data", str(data), "--port", str(port), *args],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        manifest_path = data / "cluster.json"
        deadline = time.monotonic() + 60
        while not manifest_path.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"filefleet up failed; see {data / 'up.log'}")
            time.sleep(0.1)
        manifest = json.loads(manifest_path.read_text())
        yield BenchCluster(f"http://127.0.0.1:{port}", manifest, proc.pid)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(60)
        log.close()


def controller_get(cluster: BenchCluster, path: str) -> Any:
    import urllib.request

    url = cluster.manifest["services"]["controller"]["url"] + path
    req = urllib.request.Request(
        url, headers={"Authorization": f"Bearer {cluster.manifest['secret']}"}
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def wait_replicated(cluster: BenchCluster, timeout: float = 600, busy: float = 0.05) -> float:
    """Seconds until no chunk of a live file is below R (replication settled) and the
    services have gone quiet, under ``busy`` cores (the replicator may still be
    acknowledging events whose chunks are already at R: that work must not be measured
    as part of what comes next)."""
    start = time.monotonic()
    while controller_get(cluster, "/chunks/under-replicated?limit=1")["chunks"]:
        if time.monotonic() - start > timeout:
            raise RuntimeError("replication did not settle")
        time.sleep(0.1)
    wait_quiet(cluster, deadline=start + timeout, busy=busy)
    return time.monotonic() - start


_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """CPU seconds (user + system) the processes have used so far; one gone is skipped."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / _TICKS


def machine_busy_seconds() -> float:
    """CPU seconds every core of the machine has spent busy since boot (/proc/stat: user,
    nice, system, irq, softirq, steal), whoever it was for."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / _TICKS


def cpu_by_service(cluster: BenchCluster) -> dict[str, float]:
    """CPU seconds (user + system) each service has used so far, by name."""
    return {
        name: cpu_seconds([int(svc["pid"])])
        for name, svc in cluster.manifest["services"].items()
        if "pid" in svc
    }


def cpu_since(cluster: BenchCluster, before: dict[str, float]) -> dict[str, float]:
    """CPU seconds each service used since ``before`` (``cpu_by_service``)."""
    now = cpu_by_service(cluster)
    return {name: now[name] - before.get(name, 0.0) for name in now}


def wait_all_replicated(cluster: BenchCluster) -> float:
    """``time.perf_counter()`` once no chunk of a live file is below R; polled every 50 ms
    with the cheapest question (one indexed lookup: a poll that read a whole file's
    chunk list would itself cost the controller a noticeable share of a core)."""
    while controller_get(cluster, "/chunks/under-replicated?limit=1")["chunks"]:
        time.sleep(0.05)
    return time.perf_counter()


def wait_quiet(cluster: BenchCluster, *, deadline: float, busy: float = 0.05) -> None:
    """Until the cluster's processes together use under ``busy`` of a core for 1 s."""
    pids = [int(svc["pid"]) for svc in cluster.manifest["services"].values() if "pid" in svc]
    wait_until_quiet(pids, deadline=deadline, busy=busy)


def wait_until_quiet(pids: list[int], *, deadline: float, busy: float = 0.05) -> None:
    """Until the processes together use under ``busy`` of a core for 1 s."""
    while time.monotonic() < deadline:
        before = cpu_seconds(pids)
        time.sleep(1.0)
        if cpu_seconds(pids) - before < busy:
            return
    raise RuntimeError("the cluster did not go quiet")


def machine() -> dict[str, Any]:
    """The processor's model (as ``lscpu`` names it), the cores, the load average now."""
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    model = next(
        (ln.split(":", 1)[1].strip() for ln in cpuinfo if ln.startswith("model name")),
        platform.processor(),
    )
    return {"cpu": model, "cores": os.cpu_count(), "load_average": os.getloadavg()}


def process_tree(root: int) -> list[int]:
    """``root`` and every process descended from it, as /proc shows them now."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree
