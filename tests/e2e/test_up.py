"""`filefleet up`: one command starts a whole cluster that serves a round trip."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from filefleet.runtime.ports import free_port
from tests.harness.cluster import http
from tests.harness.processes import FILEFLEET, Process, ProcessGroup, wait_for


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie child of the (now reaped) supervisor would show as alive; read its state.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except FileNotFoundError:
        return False
    return state != "Z"


def _basic(secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"admin:{secret}".encode()).decode()}


def _gone(pid: int) -> Callable[[], bool]:
    return lambda: not _pid_alive(pid)


def test_up_serves_a_round_trip_and_stops_everything(procs: ProcessGroup, tmp_path: Path) -> None:
    data_dir = tmp_path / "cluster"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FILEFLEET_")}
    up = procs.spawn(
        "up",
        ["up", "--data", str(data_dir), "--port", str(port)],
        env={**env, "FILEFLEET_SECRET": ""},
    )
    manifest_path = data_dir / "cluster.json"
    wait_for(manifest_path.exists, timeout=60, what=f"cluster.json\n{up.log_tail()}")
    manifest = json.loads(manifest_path.read_text())
    assert set(manifest) >= {"secret", "queue", "db", "services"}
    assert len(manifest["secret"]) == 64
    names = set(manifest["services"])
    assert {"controller", "frontend", "node-1", "node-2", "node-3", "redis"} <= names
    assert manifest["queue"].startswith("redis://127.0.0.1:")
    assert manifest["db"] == f"sqlite:///{data_dir / 'meta.db'}"
    assert oct(manifest_path.stat().st_mode & 0o777) == "0o600"
    wait_for(
        lambda: f"http://127.0.0.1:{port}/" in up.log_path.read_text(),
        timeout=10,
        what="the upload URL printed",
    )

    page = http("GET", f"http://127.0.0.1:{port}/")
    assert page.status == 200 and b'enctype="multipart/form-data"' in page.body
    payload = os.urandom(5 * 1024 * 1024)
    link = http("PUT", f"http://127.0.0.1:{port}/upload/hello.bin", payload)
    assert link.status == 201
    assert http("GET", link.body.decode().strip()).body == payload
    # The controller reads the embedded queue for the status view's dead letters.
    controller = manifest["services"]["controller"]["url"]
    bearer = {"Authorization": f"Bearer {manifest['secret']}"}
    status = http("GET", f"{controller}/status", headers=bearer).json()
    assert status["dead_letters"] == [] and "0 dead letters" in status["verdict"]
    page = http("GET", f"{controller}/ui", headers=_basic(manifest["secret"]))
    assert page.status == 200 and b"Dead letters (0)" in page.body
    # The secret is not on any command line.
    for service in manifest["services"].values():
        cmdline = Path(f"/proc/{service['pid']}/cmdline").read_bytes()
        assert manifest["secret"].encode() not in cmdline

    up.signal(signal.SIGINT)
    assert up.popen is not None
    assert up.popen.wait(30) == 0
    for name, service in manifest["services"].items():
        wait_for(_gone(service["pid"]), timeout=15, what=f"{name} stopped")
    assert not manifest_path.exists()


def test_up_refuses_a_taken_port_without_traceback(procs: ProcessGroup, tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        up = procs.spawn("up", ["up", "--data", str(tmp_path / "c"), "--port", str(port)])
        assert up.popen is not None
        assert up.popen.wait(30) == 1
    log = up.log_path.read_text()
    assert f"port {port}" in log and "already in use" in log
    assert "Traceback" not in log


# --- the supervisor ---------------------------------------------------------------------


def _start_up(procs: ProcessGroup, data_dir: Path, *args: str, name: str = "up") -> Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FILEFLEET_")}
    port = free_port()
    return procs.spawn(name, ["up", "--data", str(data_dir), "--port", str(port), *args], env=env)


def _manifest(data_dir: Path, up: Process) -> dict[str, Any]:
    path = data_dir / "cluster.json"
    wait_for(path.exists, timeout=60, what=f"cluster.json\n{up.log_tail()}")
    manifest: dict[str, Any] = json.loads(path.read_text())
    return manifest


def _cli(*args: str, data_dir: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FILEFLEET_")}
    return subprocess.run(
        [*FILEFLEET, *args], capture_output=True, text=True, timeout=timeout, check=False,
        env={**env, "FILEFLEET_DATA": str(data_dir)},
    )  # fmt: skip


def test_a_killed_child_of_up_comes_back(procs: ProcessGroup, tmp_path: Path) -> None:
    data_dir = tmp_path / "cluster"
    up = _start_up(procs, data_dir)
    manifest = _manifest(data_dir, up)
    secret = manifest["secret"]
    for name in ("node-2", "controller"):
        before = manifest["services"][name]
        os.kill(before["pid"], signal.SIGKILL)
        wait_for(_gone(before["pid"]), timeout=10, what=f"{name} killed")

        def back(name: str = name, old: int = before["pid"]) -> dict[str, Any] | None:
            now = json.loads((data_dir / "cluster.json").read_text())["services"][name]
            fresh = now["pid"] != old and _pid_alive(now["pid"])
            return now if fresh and http("GET", f"{now['url']}/healthz").status == 200 else None

        again = wait_for(back, timeout=30, what=f"{name} started again\n{up.log_tail()}")
        assert again["url"] == before["url"]  # the same port: the others still reach it
        manifest = json.loads((data_dir / "cluster.json").read_text())
    log = up.log_path.read_text()
    assert "node-2 exited (code -9)" in log and "node-2 started again" in log
    assert "controller exited (code -9)" in log and "Traceback" not in log
    # The cluster works as before: every node active again, a round trip through the CLI.
    bearer = {"Authorization": f"Bearer {secret}"}
    controller = manifest["services"]["controller"]["url"]
    wait_for(lambda: len(http("GET", f"{controller}/active-nodes", headers=bearer).json()) == 3,
             timeout=20, what="three active nodes")  # fmt: skip
    payload = tmp_path / "payload.bin"
    payload.write_bytes(os.urandom(300_000))
    shared = _cli("share", str(payload), "--json", data_dir=data_dir)  # no --server: cluster.json
    assert shared.returncode == 0, shared.stderr
    file_id = json.loads(shared.stdout)["id"]
    got = _cli("get", file_id, "-o", str(tmp_path / "back.bin"), "--json", data_dir=data_dir)
    assert got.returncode == 0, got.stderr
    assert (tmp_path / "back.bin").read_bytes() == payload.read_bytes()
    assert json.loads(got.stdout)["size"] == 300_000


def test_a_second_up_on_the_same_data_dir_is_refused_and_the_first_untouched(
    procs: ProcessGroup, tmp_path: Path
) -> None:
    data_dir = tmp_path / "cluster"
    first = _start_up(procs, data_dir)
    _manifest(data_dir, first)
    wait_for(lambda: "filefleet is up" in first.log_path.read_text(), timeout=30, what="up")
    entries = sorted(p.name for p in data_dir.iterdir())
    watched = (data_dir / "cluster.json", data_dir / "up.lock")
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in watched}
    second = _start_up(procs, data_dir, name="second-up")
    assert second.popen is not None
    assert second.popen.wait(30) == 1
    log = second.log_path.read_text()
    assert f"another `filefleet up` (pid {first.pid}) is running on {data_dir}" in log
    assert "Traceback" not in log
    after = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in watched}
    assert after == before  # cluster.json and the lock as the first wrote them
    assert sorted(p.name for p in data_dir.iterdir()) == entries  # nothing new either
    status = _cli("status", data_dir=data_dir)
    assert status.returncode == 0, status.stdout + status.stderr  # the first serves on


def test_the_children_of_a_killed_up_end_with_it(procs: ProcessGroup, tmp_path: Path) -> None:
    data_dir = tmp_path / "cluster"
    up = _start_up(procs, data_dir)
    pids = [s["pid"] for s in _manifest(data_dir, up)["services"].values()]
    assert all(_pid_alive(pid) for pid in pids)
    up.signal(signal.SIGKILL)
    try:
        for pid in pids:
            wait_for(_gone(pid), timeout=20, what=f"child {pid} ending with its supervisor")
    finally:
        for pid in pids:  # never leave a service behind, whatever happened
            if _pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
    # Nothing answers now: a client says so in one line, quickly, naming the URL.
    started = time.monotonic()
    status = _cli("status", data_dir=data_dir)
    assert (status.returncode, status.stdout) == (2, "")
    assert time.monotonic() - started < 5  # the CLI's own bound is 2 s; the rest is start-up
    assert status.stderr.startswith("filefleet: error: nothing answers at http://127.0.0.1:")
    assert "--controller" in status.stderr and len(status.stderr.splitlines()) == 1
