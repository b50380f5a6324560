"""What ``filefleet up`` keeps its children with, without a cluster: the data dir's lock,
the restart backoff, children that end with their parent, and the children's environment."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from filefleet.core.errors import DataDirInUse
from filefleet.runtime.children import Backoff, ending_with, hold_data_dir
from filefleet.runtime.settings import UpSettings
from filefleet.runtime.supervisor import LocalCluster
from tests.harness.processes import wait_for


def test_a_held_data_dir_is_refused_naming_the_holder_and_left_as_it_was(tmp_path: Path) -> None:
    held = hold_data_dir(tmp_path)
    lock = tmp_path / "up.lock"
    assert lock.read_text() == f"{os.getpid()}\n"
    (tmp_path / "cluster.json").write_text("{}")
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in tmp_path.iterdir()}
    with pytest.raises(DataDirInUse, match=rf"another `filefleet up` \(pid {os.getpid()}\)"):
        hold_data_dir(tmp_path)  # a second open file description: flock refuses it
    after = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in tmp_path.iterdir()}
    assert after == before
    held.close()  # the holder is gone (as when its process dies): the dir is free again
    hold_data_dir(tmp_path).close()


def test_the_backoff_doubles_to_a_bound_and_starts_over_after_a_stable_run() -> None:
    backoff = Backoff(first=1, most=30, stable=60)
    assert [backoff.after_exit(ran=0.5) for _ in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    assert backoff.after_exit(ran=61) == 1  # ran long enough: a fresh crash, not a loop
    assert backoff.after_exit(ran=2) == 2


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_child_ends_when_its_supervisor_is_killed(tmp_path: Path) -> None:
    """A middle process starts a grandchild with ``ending_with``, then is SIGKILLed: the
    grandchild gets SIGTERM from the kernel."""
    pid_file = tmp_path / "grandchild.pid"
    middle = subprocess.Popen(
        [sys.executable, "-c", (
            "import os, subprocess, sys, time\n"
            "from filefleet.runtime.children import ending_with\n"
            "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'],\n"
            "                         preexec_fn=ending_with(os.getpid()))\n"
            f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
            "time.sleep(120)\n"
        )],
    )  # fmt: skip
    try:
        wait_for(lambda: pid_file.exists() and pid_file.read_text(), timeout=20, what="grandchild")
        grandchild = int(pid_file.read_text())
        middle.send_signal(signal.SIGKILL)
        middle.wait(10)
        wait_for(lambda: not _running(grandchild), timeout=10, what="the grandchild ending")
    finally:
        if middle.poll() is None:
            middle.kill()
            middle.wait(10)


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_ending_with_a_parent_that_is_already_gone_ends_the_child_at_once() -> None:
    started = time.monotonic()
    child = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"], preexec_fn=ending_with(1)
    )
    assert child.wait(10) == 1 and time.monotonic() - started < 10


def test_children_do_not_inherit_ups_own_settings_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FILEFLEET_HOST", "0.0.0.0")
    monkeypatch.setenv("FILEFLEET_PUBLIC_URL", "https://files.example.org")
    monkeypatch.setenv("FILEFLEET_LOG_LEVEL", "debug")  # not an `up` setting: passed on
    monkeypatch.setenv("FILEFLEET_TLS_CERT", "/etc/filefleet/tls/host.pem")  # loopback: HTTP
    cluster = LocalCluster(UpSettings(data=tmp_path, secret="s"))
    env = cluster.child_env()
    assert "FILEFLEET_HOST" not in env and "FILEFLEET_PUBLIC_URL" not in env
    assert "FILEFLEET_TLS_CERT" not in env
    assert env["FILEFLEET_LOG_LEVEL"] == "debug" and env["FILEFLEET_SECRET"] == "s"
    plan = {c.name: c.args for c in cluster.plan()}
    assert plan["frontend"][plan["frontend"].index("--host") + 1] == "0.0.0.0"
    public = plan["frontend"][plan["frontend"].index("--public-url") + 1]
    assert public == "https://files.example.org"
    assert "--host" not in plan["node-1"] and "--public-url" not in plan["node-1"]
