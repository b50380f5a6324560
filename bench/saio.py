"""Start a private OpenStack Swift "all in one" from Debian's packages, for a benchmark.

    apt-get install -y swift swift-proxy swift-object swift-container swift-account \\
        memcached python3-swiftclient

``saio(root)`` builds the rings (``swift-ring-builder``) and writes every server's config
in ``root`` (the layout is ``bench/saio_config.py``), starts a private memcached, three
storage nodes (object, container and account server each) and a proxy with tempauth,
every one on a free port of 127.0.0.1, waits until each answers ``/healthcheck``, and
stops every process it started, by pid, when the block ends (also on an error).

Swift reads its hash path prefix and suffix from /etc/swift/swift.conf and from nowhere
else: an existing file is read and left as it is; a missing one is written (random
prefix and suffix, one default policy), said so on stderr, and removed again at the end.
Only the servers an upload and a download pass through run: no replicator, auditor or
updater (a PUT writes both copies before it is answered; nothing is left for them).
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.cluster import process_tree
from bench.saio_config import (
    KEY,
    RINGS,
    SWIFT_CONF,
    USER,
    HashPath,
    SaioLayout,
    StorageNode,
    object_dir,
    proxy_conf,
    read_hash_path,
    ring_commands,
    server_conf,
    swift_conf_text,
)
from filefleet.runtime.ports import free_port

NEEDED = (
    "swift-ring-builder",
    "swift-proxy-server",
    "swift-object-server",
    "swift-container-server",
    "swift-account-server",
    "memcached",
)
INSTALL = (
    "apt-get install -y swift swift-proxy swift-object swift-container swift-account "
    "memcached python3-swiftclient"
)


class SaioError(RuntimeError):
    """Swift could not be set up or did not answer; the message says what to look at."""


@dataclass(frozen=True)
class SwiftAccount:
    storage_url: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"X-Auth-Token": self.token}


@dataclass
class Saio:
    layout: SaioLayout
    hash_path: HashPath
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def pids(self) -> list[int]:
        """Every process of the Swift cluster now: each server and its workers, memcached."""
        return [pid for proc in self.processes.values() for pid in process_tree(proc.pid)]

    def authenticate(self) -> SwiftAccount:
        """tempauth's v1.0 login: a token and the account's storage URL."""
        req = urllib.request.Request(
            f"{self.layout.url}/auth/v1.0",
            headers={"X-Storage-User": USER, "X-Storage-Pass": KEY},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            return SwiftAccount(resp.headers["X-Storage-Url"], resp.headers["X-Auth-Token"])

    def create_container(self, account: SwiftAccount, container: str) -> None:
        req = urllib.request.Request(
            f"{account.storage_url}/{container}", method="PUT", headers=account.headers
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            if resp.status not in (201, 202):
                raise SaioError(f"PUT container {container}: {resp.status}")

    def copies(self, container: str, name: str, size: int) -> int:
        """How many nodes hold a whole ``.data`` file of the object (Swift keeps the
        object's bytes as the file's content, its metadata in extended attributes)."""
        count = 0
        for node in self.layout.nodes:
            where = object_dir(self.layout, node, self.hash_path, container, name)
            if any(p.stat().st_size == size for p in where.glob("*.data")):
                count += 1
        return count


def check_installed() -> None:
    """Raise SaioError naming what is missing and how to install it."""
    missing = [name for name in NEEDED if shutil.which(name) is None]
    if missing:
        raise SaioError(f"not installed: {', '.join(missing)}; install with: {INSTALL}")


@contextmanager
def _hash_path() -> Iterator[HashPath]:
    """The hash path of /etc/swift/swift.conf; written for the block if it is missing."""
    if SWIFT_CONF.exists():
        found = read_hash_path(SWIFT_CONF.read_text(encoding="latin1"))
        if found is None:
            raise SaioError(f"{SWIFT_CONF} has no [swift-hash] prefix or suffix")
        yield found
        return
    made = HashPath(secrets.token_hex(8), secrets.token_hex(8))
    created_dir = not SWIFT_CONF.parent.exists()
    SWIFT_CONF.parent.mkdir(parents=True, exist_ok=True)
    SWIFT_CONF.write_text(swift_conf_text(made))
    print(f"{SWIFT_CONF} was missing: wrote one for this run", file=sys.stderr)
    try:
        yield made
    finally:
        SWIFT_CONF.unlink(missing_ok=True)
        if created_dir:
            SWIFT_CONF.parent.rmdir()
        print(f"{SWIFT_CONF} removed again", file=sys.stderr)


def _layout(root: Path) -> SaioLayout:
    nodes = tuple(StorageNode(i, free_port(), free_port(), free_port()) for i in (1, 2, 3))
    return SaioLayout(root, free_port(), free_port(), nodes, getpass.getuser())


def _write_configs(layout: SaioLayout) -> None:
    layout.swift_dir.mkdir(parents=True)
    for node in layout.nodes:
        (layout.devices(node) / node.device).mkdir(parents=True)
        for ring in RINGS:
            layout.conf_path(ring, node).write_text(server_conf(layout, ring, node))
    layout.proxy_conf_path.write_text(proxy_conf(layout))
    for command in ring_commands(layout):
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode not in (0, 1):  # 1: rebalanced, with a warning
            raise SaioError(f"{' '.join(command)}: {done.stdout}{done.stderr}")


def _start(saio: Saio, name: str, command: list[str]) -> None:
    log = (saio.layout.root / f"{name}.log").open("ab")
    with log:  # the child keeps its own descriptor
        saio.processes[name] = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )


def _start_all(saio: Saio) -> None:
    layout = saio.layout
    user = ["-u", layout.user] if os.geteuid() == 0 else []  # memcached refuses root
    memcached = ["memcached", "-l", "127.0.0.1", "-p", str(layout.memcached_port), "-U", "0"]
    _start(saio, "memcached", [*memcached, "-m", "64", *user])
    for node in layout.nodes:
        for ring in RINGS:
            conf = str(layout.conf_path(ring, node))
            _start(saio, f"{ring}-{node.index}", [f"swift-{ring}-server", conf, "--verbose"])
    _start(saio, "proxy", ["swift-proxy-server", str(layout.proxy_conf_path), "--verbose"])


def _healthy(port: int) -> bool:
    """Whether the server on ``port`` answers its ``/healthcheck`` with 200 (not yet
    listening, or an error: not yet)."""
    url = f"http://127.0.0.1:{port}/healthcheck"
    with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as resp:
        return bool(resp.status == 200)
    return False


def _wait_healthy(saio: Saio, timeout: float = 60) -> None:
    layout = saio.layout
    ports = [layout.proxy_port, *(n.port(r) for n in layout.nodes for r in RINGS)]
    deadline = time.monotonic() + timeout
    for port in ports:
        while not _healthy(port):
            exited = {n: p.returncode for n, p in saio.processes.items() if p.poll() is not None}
            if exited or time.monotonic() > deadline:
                raise SaioError(f"Swift did not start (exited: {exited}); logs in {layout.root}")
            time.sleep(0.2)


def _stop_all(saio: Saio, timeout: float = 20) -> None:
    """SIGTERM to each server (it ends its workers: they share its process group), SIGKILL
    after ``timeout`` to the server and to any worker of its still there; every pid is one
    this module started or a child of one."""
    workers = {name: process_tree(proc.pid)[1:] for name, proc in saio.processes.items()}
    for proc in saio.processes.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for name, proc in saio.processes.items():
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"swift {name} did not stop: killed", file=sys.stderr)
            proc.kill()
            proc.wait()
        for pid in workers[name]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@contextmanager
def saio(root: Path) -> Iterator[Saio]:
    """A running Swift with its rings and configs in ``root`` (which must not exist)."""
    check_installed()
    with _hash_path() as hash_path:
        swift = Saio(_layout(root), hash_path)
        _write_configs(swift.layout)
        try:
            _start_all(swift)
            _wait_healthy(swift)
            yield swift
        finally:
            _stop_all(swift)


def exit_on_sigterm() -> None:
    """Make SIGTERM end the program through its ``finally`` blocks (as Ctrl-C does), so
    that every process it started is stopped; by default it would end at once."""
    signal.signal(signal.SIGTERM, lambda signum, _: sys.exit(128 + signum))


def _serve(root: Path) -> None:
    with saio(root) as swift:
        account = swift.authenticate()
        print(
            json.dumps(
                {
                    "proxy": swift.layout.url,
                    "storage_url": account.storage_url,
                    "token": account.token,
                    "root": str(swift.layout.root),
                }
            )
        )
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()


def main() -> None:
    """Start one, print where it is, and keep it up until Ctrl-C (for trying it by hand)."""
    exit_on_sigterm()
    try:
        with tempfile.TemporaryDirectory(prefix="saio-") as tmp:
            _serve(Path(tmp) / "swift")
    except SaioError as exc:
        sys.exit(f"bench.saio: {exc}")


if __name__ == "__main__":
    main()
