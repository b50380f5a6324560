"""`filefleet up`: one command starts a whole cluster that serves a round trip."""

from __future__ import annotations

import base64
import json
import os
import signal
from collections.abc import Callable
from pathlib import Path

from tests.harness.cluster import http
from tests.harness.processes import ProcessGroup, free_port, wait_for


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
