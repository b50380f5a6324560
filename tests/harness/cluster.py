"""A real filefleet cluster for tests, each service started through the ``filefleet`` CLI on
free ports in a temp dir: controller, N nodes, frontend (and, when asked, an event queue).
With ``db`` (e.g. a PostgreSQL URL) and ``start(controllers=2)`` several controllers share
one database and every client is given all their URLs (``--controller URL1,URL2``). With
``tls`` (a test CA) every service serves HTTPS with a certificate it signs and trusts that
CA alone, and the test's own requests do the same.

Tests act on it like an operator would: kill a node by its pid, restart it with the same
data dir, corrupt a chunk file on its disk, and read the controller's view over HTTP.
"""

from __future__ import annotations

import hashlib
import json
import os
import ssl
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filefleet.runtime.ports import free_port
from tests.harness.certs import TestCA
from tests.harness.processes import FILEFLEET, Process, ProcessGroup, wait_for

SECRET = "test-cluster-secret"
# Node knobs for a fleet that notices changes quickly: pings every 200 ms, and no scrubbing
# (no disk reads competing with what a test measures, no chunk quarantined behind its back).
FAST_NODE = ["--ping-interval", "200ms", "--scrub-rate", "0"]


@dataclass
class HttpAnswer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def http(
    method: str,
    url: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 60.0,
    context: ssl.SSLContext | None = None,
) -> HttpAnswer:
    """One request with urllib (``context``: what an https:// server is checked against);
    any status is returned, never raised."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=context) as resp:
            return HttpAnswer(resp.status, dict(resp.headers), resp.read())
    except urllib.error.HTTPError as err:
        return HttpAnswer(err.code, dict(err.headers), err.read())


class NodeDisk:
    """A node's data directory, as tests look at it (the layout of DESIGN §4)."""

    data: Path

    @property
    def node_id(self) -> str:
        return (self.data / "node-id").read_text().strip()

    def chunk_path(self, chunk_id: str) -> Path:
        return self.data / "chunks" / chunk_id[:2] / chunk_id

    def chunk_ids(self) -> set[str]:
        root = self.data / "chunks"
        return {p.name for p in root.glob("*/*")} if root.exists() else set()


@dataclass
class Node(NodeDisk):
    index: int
    data: Path
    port: int
    process: Process | None = None
    scheme: str = "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"


class ClusterView:
    """A running cluster seen from outside: the controller's view over HTTP with the
    secret, and the frontend as a user sees it."""

    tls: TestCA | None = None  # the CA of its certificates, when it serves HTTPS

    def call(self, method: str, url: str, body: bytes | None = None, **kw: Any) -> HttpAnswer:
        """``http`` trusting the cluster's CA when it has one."""
        context = self.tls.context if self.tls is not None else None
        return http(method, url, body, context=context, **kw)

    @property
    def controller_url(self) -> str:
        raise NotImplementedError

    @property
    def url(self) -> str:
        """The frontend's base URL."""
        raise NotImplementedError

    def upload(self, data: bytes, name: str = "file.bin", **params: str) -> dict[str, Any]:
        query = urllib.parse.urlencode({"name": name, **params})
        headers = {"Accept": "application/json"}
        answer = self.call("POST", f"{self.url}/upload?{query}", data, headers=headers)
        assert answer.status == 201, (answer.status, answer.body)
        result: dict[str, Any] = answer.json()
        assert result["sha256"] == hashlib.sha256(data).hexdigest()
        return result

    def download(self, file_id: str, headers: dict[str, str] | None = None) -> HttpAnswer:
        return self.call("GET", f"{self.url}/download/{file_id}", headers=headers)

    def stats_of(self, base: str) -> dict[str, Any]:
        """The ``/stats`` of the service at ``base``, read with the secret."""
        headers = {"Authorization": f"Bearer {SECRET}"}
        answer = self.call("GET", f"{base}/stats", headers=headers)
        assert answer.status == 200, (answer.status, answer.body)
        result: dict[str, Any] = answer.json()
        return result

    def frontend_stats(self) -> dict[str, Any]:
        return self.stats_of(self.url)

    def fsck(self, *args: str) -> dict[str, Any]:
        """``filefleet fsck --json`` run as an operator would, from this (the test's) host;
        its exit code under ``"exit"``."""
        env = {**os.environ, "FILEFLEET_SECRET": SECRET}
        if self.tls is not None:
            env["FILEFLEET_TLS_CA"] = str(self.tls.ca)
        argv = [*FILEFLEET, "fsck", "--json", "--controller", self.controller_url, *args]
        done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
        assert done.returncode in (0, 1), (done.returncode, done.stderr)
        report: dict[str, Any] = json.loads(done.stdout)
        report["exit"] = done.returncode
        return report

    def wait_clean(self, timeout: float = 90.0) -> dict[str, Any]:
        """Until ``filefleet fsck`` says the fleet is whole: every live chunk on R good
        replicas, every node answering. The fleet must get there by itself."""
        last: dict[str, Any] = {}

        def clean() -> bool:
            nonlocal last
            last = self.fsck()
            return bool(last["clean"]) and last["exit"] == 0

        try:
            wait_for(clean, timeout=timeout, interval=1.0, what="filefleet fsck clean")
        except AssertionError as exc:
            shown = json.dumps(last, indent=1)[:3000]
            raise AssertionError(f"{exc}\nlast fsck: {shown}") from None
        return last

    def api(self, method: str, path: str, body: Any = None, timeout: float = 60.0) -> HttpAnswer:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {SECRET}", "Content-Type": "application/json"}
        return self.call(method, self.controller_url + path, data, headers=headers, timeout=timeout)

    def active_node_ids(self) -> set[str]:
        return {n["id"] for n in self.api("GET", "/active-nodes").json()}

    def wait_active(self, count: int, timeout: float = 20.0) -> None:
        wait_for(
            lambda: len(self.active_node_ids()) >= count,
            timeout=timeout,
            what=f"{count} active nodes",
        )

    def file_info(self, file_id: str) -> dict[str, Any]:
        answer = self.api("GET", f"/file/{file_id}")
        assert answer.status == 200, (answer.status, answer.body)
        result: dict[str, Any] = answer.json()
        return result


@dataclass
class Cluster(ClusterView):
    procs: ProcessGroup
    root: Path
    node_args: list[str] = field(default_factory=list)
    frontend_args: list[str] = field(default_factory=list)
    controller_args: list[str] = field(default_factory=list)
    queue: str | None = None
    controller_port: int = 0
    frontend_port: int = 0
    nodes: list[Node] = field(default_factory=list)
    controller: Process | None = None
    frontend: Process | None = None
    gc: Process | None = None
    gc_port: int = 0
    db: str | None = None  # default: SQLite under ``root``
    controller_ports: list[int] = field(default_factory=list)
    controllers: list[Process] = field(default_factory=list)
    tls: TestCA | None = None  # serve HTTPS with a certificate this CA signs, trusting it

    def __post_init__(self) -> None:
        if self.tls is None:
            return
        files = self.tls.sign("services")  # 127.0.0.1 and localhost: every service here
        self.procs.tls = self.tls.context
        self.procs.base_env.update(
            FILEFLEET_TLS_CERT=str(files.cert),
            FILEFLEET_TLS_KEY=str(files.key),
            FILEFLEET_TLS_CA=str(self.tls.ca),
        )

    @property
    def scheme(self) -> str:
        return "http" if self.tls is None else "https"

    def service_url(self, port: int) -> str:
        return f"{self.scheme}://127.0.0.1:{port}"

    @property
    def controller_url(self) -> str:
        """The first controller still running (the one the test's own calls go to)."""
        for port, proc in zip(self.controller_ports, self.controllers, strict=False):
            if proc.alive():
                return self.service_url(port)
        return self.service_url(self.controller_port)

    @property
    def controller_urls(self) -> str:
        """Every controller, as the comma-separated ``--controller`` value clients take."""
        ports = self.controller_ports or [self.controller_port]
        return ",".join(self.service_url(port) for port in ports)

    @property
    def url(self) -> str:
        return self.service_url(self.frontend_port)

    def start(self, nodes: int = 3, controllers: int = 1) -> Cluster:
        """Controllers first (everything else registers with them), then the nodes and the
        frontend together: each process spends most of its start importing, so starting
        them at once rather than one after another saves about a second per cluster."""
        self.start_controllers(controllers)
        started = [self.add_node(wait=False) for _ in range(nodes)]
        frontend = self.start_frontend(wait=False)
        for node in started:
            assert node.process is not None
            node.process.wait_healthy()
        self.wait_active(nodes)
        frontend.wait_healthy()
        return self

    def start_controllers(self, count: int = 1) -> list[Process]:
        """``count`` controllers over ``db``, started at once: several controllers migrating
        one database must not trip each other."""
        self.procs.base_env["FILEFLEET_SECRET"] = SECRET
        self.controller_port = self.controller_port or free_port()
        self.controller_ports = [self.controller_port, *(free_port() for _ in range(count - 1))]
        started = [self.start_controller(index, wait=False) for index in range(count)]
        return [proc.wait_healthy() for proc in started]

    def start_controller(self, index: int = 0, *, wait: bool = True) -> Process:
        """Controller ``index`` (0: the first, also ``self.controller``); all share ``db``."""
        if not self.controller_ports:
            self.controller_port = self.controller_port or free_port()
            self.controller_ports = [self.controller_port]
        port = self.controller_ports[index]
        db = self.db or f"sqlite:///{self.root / 'meta.db'}"
        args = ["controller", "--port", str(port), "--db", db]
        name = "controller" if index == 0 else f"controller-{index + 1}"
        proc = self.procs.spawn(name, [*args, *self.controller_args], url=self.service_url(port))
        if index < len(self.controllers):
            self.controllers[index] = proc
        else:
            self.controllers.append(proc)
        if index == 0:
            self.controller = proc
        return proc.wait_healthy() if wait else proc

    def add_node(self, *, wait: bool = True) -> Node:
        index = len(self.nodes) + 1
        node = Node(index, self.root / f"node-{index}", free_port(), scheme=self.scheme)
        self.nodes.append(node)
        self.start_node(node, wait=wait)
        return node

    def start_node(self, node: Node, *, wait: bool = True) -> Process:
        args = [
            "node",
            "--data",
            str(node.data),
            "--port",
            str(node.port),
            "--controller",
            self.controller_urls,
            *self.node_args,
        ]
        node.process = self.procs.spawn(f"node-{node.index}", args, url=node.url)
        return node.process.wait_healthy() if wait else node.process

    def start_gc(self, *args: str) -> Process:
        """The garbage collector (``filefleet gc``) with ``args`` (e.g. fast knobs)."""
        self.gc_port = self.gc_port or free_port()
        argv = ["gc", "--port", str(self.gc_port), "--controller", self.controller_urls, *args]
        self.gc = self.procs.spawn("gc", argv, url=self.service_url(self.gc_port))
        return self.gc.wait_healthy()

    def gc_stats(self) -> dict[str, Any]:
        """The GC's ``/stats``: ``passes``, ``totals`` and ``last_pass`` counters."""
        return self.stats_of(self.service_url(self.gc_port))

    def start_frontend(self, *, wait: bool = True) -> Process:
        self.frontend_port = self.frontend_port or free_port()
        args = ["frontend", "--port", str(self.frontend_port), "--controller", self.controller_urls]
        if self.queue:
            args += ["--queue", self.queue]
        self.frontend = self.procs.spawn("frontend", [*args, *self.frontend_args], url=self.url)
        return self.frontend.wait_healthy() if wait else self.frontend
