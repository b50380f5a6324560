"""Start real filefleet processes for tests: free ports, temp dirs, logs kept, always stopped.

Never fixed ports, never blind sleeps, never kill by name: every process is started here,
remembered by its pid, and stopped by that pid (SIGTERM, then SIGKILL after a deadline).
"""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

FILEFLEET = [sys.executable, "-m", "filefleet"]


def wait_for(
    check: Callable[[], T | None], *, timeout: float = 20.0, interval: float = 0.05, what: str = ""
) -> T:
    """Poll ``check`` until it returns something truthy; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            value = check()
            if value:
                return value
        except Exception as exc:
            last_error = exc
        if time.monotonic() > deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {what}{detail}")
        time.sleep(interval)


def http_ok(url: str, timeout: float = 1.0, context: ssl.SSLContext | None = None) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@dataclass
class Process:
    name: str
    args: list[str]
    log_path: Path
    env: dict[str, str]
    url: str | None = None
    popen: subprocess.Popen[bytes] | None = None
    context: ssl.SSLContext | None = None  # what an https:// ``url`` is checked against

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def start(self) -> Process:
        log = self.log_path.open("ab")
        self.popen = subprocess.Popen(
            self.args,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.env,
            start_new_session=True,
        )
        log.close()
        return self

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def wait_healthy(self, timeout: float = 20.0) -> Process:
        assert self.url is not None
        wait_for(
            lambda: self._healthy_or_dead(),
            timeout=timeout,
            what=f"{self.name} at {self.url}/healthz\n{self.log_tail()}",
        )
        return self

    def _healthy_or_dead(self) -> bool:
        if not self.alive():
            raise AssertionError(f"{self.name} exited early\n{self.log_tail()}")
        return http_ok(f"{self.url}/healthz", context=self.context)

    def signal(self, sig: int) -> None:
        if self.alive():
            os.kill(self.pid, sig)

    def begin_stop(self) -> None:
        """Ask it to shut down (SIGTERM) without waiting; ``stop(signalled=True)`` waits."""
        self.signal(signal.SIGTERM)

    def stop(self, timeout: float = 10.0, *, signalled: bool = False) -> int | None:
        """``begin_stop`` (unless already ``signalled``), then SIGKILL if it has not exited
        within ``timeout``."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            if not signalled:
                self.begin_stop()
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        return self.popen.returncode

    def kill(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(5)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        except FileNotFoundError:
            return f"--- {self.name}: no log ---"
        return f"--- {self.name} ({self.log_path}) ---\n" + "\n".join(text)


@dataclass
class ProcessGroup:
    """Every process a test starts; ``stop_all`` runs at teardown whatever happened."""

    workdir: Path
    base_env: dict[str, str] = field(default_factory=dict)
    processes: list[Process] = field(default_factory=list)
    tls: ssl.SSLContext | None = None  # trusted for the https:// URLs of what it starts

    def spawn(
        self,
        name: str,
        args: Sequence[str],
        *,
        url: str | None = None,
        env: dict[str, str] | None = None,
        program: Sequence[str] = FILEFLEET,
        wrap: Sequence[str] = (),
    ) -> Process:
        """Start ``program args`` (a ``filefleet`` command unless told otherwise), inside
        ``wrap`` when given (e.g. ``ip netns exec NS``, which execs: the pid is the
        program's own)."""
        full_env = {**os.environ, **self.base_env, **(env or {})}
        full_env.setdefault("PYTHONUNBUFFERED", "1")
        log_path = self.workdir / f"{name}.log"
        proc = Process(name, [*wrap, *program, *args], log_path, full_env, url, context=self.tls)
        self.processes.append(proc)
        return proc.start()

    def stop_all(self) -> None:
        """Each asked to shut down (the last started first), then waited for: they shut
        down side by side, not one after another."""
        running = [proc for proc in reversed(self.processes) if proc.alive()]
        for proc in running:
            proc.begin_stop()
        for proc in running:
            proc.stop(signalled=True)

    def log_tails(self, lines: int = 30) -> str:
        return "\n".join(p.log_tail(lines) for p in self.processes)
