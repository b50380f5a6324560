"""Backing servers a test starts for itself (PostgreSQL, Redis, RabbitMQ), to restart or
crash them without touching the machine's own servers on their standard ports.

A ``ServerProcess`` is a harness ``Process`` (its log is printed when the test fails) that
may run as another user (PostgreSQL refuses root: ``as_user``), stops with the server's
own signal (PostgreSQL's fast shutdown is SIGINT), and takes every process under it down
at the end: a server's children (PostgreSQL backends, RabbitMQ's Erlang VM) never outlive
the test. Each runs in a session of its own, so its pid is its process group's id.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REQUIRE_SERVICES
from tests.harness.processes import Process, ProcessGroup, wait_for


def require_binary(label: str, *candidates: str) -> str:
    """The first of ``candidates`` that exists; skip (or fail under
    FILEFLEET_REQUIRE_SERVICES=1) when none does."""
    for path in candidates:
        if Path(path).is_file() and os.access(path, os.X_OK):
            return path
    message = f"{label} not installed (looked for {', '.join(candidates)})"
    if REQUIRE_SERVICES:
        pytest.fail(f"{message} and FILEFLEET_REQUIRE_SERVICES=1")
    pytest.skip(message)


@contextlib.contextmanager
def server_dir(prefix: str, owner: str | None = None) -> Iterator[Path]:
    """A fresh temp dir owned by ``owner`` (a server's user), removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        if owner is not None:
            entry = pwd.getpwnam(owner)
            os.chown(path, entry.pw_uid, entry.pw_gid)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def as_user(user: str | None, args: list[str]) -> list[str]:
    """``args`` run as ``user`` (None: as we are). ``setpriv`` switches the ids and execs:
    the process started is the server itself, whose pid the test then signals."""
    if user is None:
        return args
    return ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", "--", *args]


def run_as(user: str | None, args: list[str], timeout: float = 60.0) -> str:
    """Run a server's tool (initdb, pg_basebackup, rabbitmqctl) to completion; its output,
    or an AssertionError carrying it."""
    result = subprocess.run(
        as_user(user, args),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {result.returncode}:\n{result.stderr}")
    return result.stdout


@dataclass
class ServerProcess(Process):
    stop_signal: int = signal.SIGTERM

    def wait_ready(self, ready: Callable[[], bool], timeout: float = 30.0) -> ServerProcess:
        def check() -> bool:
            if not self.alive():
                raise AssertionError(f"{self.name} exited early\n{self.log_tail()}")
            return ready()

        wait_for(check, timeout=timeout, interval=0.1, what=f"{self.name} ready\n")
        return self

    def begin_stop(self) -> None:
        self.signal(self.stop_signal)

    def stop(self, timeout: float = 15.0, *, signalled: bool = False) -> int | None:
        """The server's own shutdown signal; SIGKILL to the group after ``timeout``."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            if not signalled:
                self.begin_stop()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout)
        self.crash()
        return self.popen.returncode

    def crash(self) -> None:
        """SIGKILL to the server and every process under it at once, as if its machine lost
        power: its group, and descendants that left the group (PostgreSQL's backends each
        call setsid)."""
        assert self.popen is not None
        doomed = [self.popen.pid, *_descendants(self.popen.pid)]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        for pid in doomed:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(5)


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid``, from /proc (children of each of its threads)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            for child in (task / "children").read_text().split():
                found += [int(child), *_descendants(int(child))]
    return found


def spawn_server(
    procs: ProcessGroup,
    name: str,
    args: list[str],
    *,
    env: dict[str, str] | None = None,
    user: str | None = None,
    stop_signal: int = signal.SIGTERM,
) -> ServerProcess:
    """Start a server under ``procs``: stopped at teardown, its log tail shown on failure."""
    full_env = {**os.environ, **(env or {})}
    log = procs.workdir / f"{name}.log"
    proc = ServerProcess(name, as_user(user, args), log, full_env, stop_signal=stop_signal)
    procs.processes.append(proc)
    proc.start()
    return proc
