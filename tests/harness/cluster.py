"""A real filefleet cluster for tests, each service started through the ``filefleet`` CLI on
free ports in a temp dir: controller, N nodes, frontend (and, when asked, an event queue).

Tests act on it like an operator would: kill a node by its pid, restart it with the same
data dir, corrupt a chunk file on its disk, and read the controller's view over HTTP.
"""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.harness.processes import Process, ProcessGroup, free_port, wait_for

SECRET = "test-cluster-secret"


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
) -> HttpAnswer:
    """One request with urllib; any status is returned, never raised."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return HttpAnswer(resp.status, dict(resp.headers), resp.read())
    except urllib.error.HTTPError as err:
        return HttpAnswer(err.code, dict(err.headers), err.read())


@dataclass
class Node:
    index: int
    data: Path
    port: int
    process: Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def node_id(self) -> str:
        return (self.data / "node-id").read_text().strip()

    def chunk_path(self, chunk_id: str) -> Path:
        return self.data / "chunks" / chunk_id[:2] / chunk_id

    def chunk_ids(self) -> set[str]:
        root = self.data / "chunks"
        return {p.name for p in root.glob("*/*")} if root.exists() else set()


@dataclass
class Cluster:
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

    @property
    def controller_url(self) -> str:
        return f"http://127.0.0.1:{self.controller_port}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.frontend_port}"

    def start(self, nodes: int = 3) -> Cluster:
        self.procs.base_env["FILEFLEET_SECRET"] = SECRET
        self.start_controller()
        for _ in range(nodes):
            self.add_node()
        self.wait_active(nodes)
        self.start_frontend()
        return self

    def start_controller(self) -> Process:
        self.controller_port = self.controller_port or free_port()
        db = f"sqlite:///{self.root / 'meta.db'}"
        args = ["controller", "--port", str(self.controller_port), "--db", db]
        self.controller = self.procs.spawn(
            "controller", [*args, *self.controller_args], url=self.controller_url
        )
        return self.controller.wait_healthy()

    def add_node(self) -> Node:
        index = len(self.nodes) + 1
        node = Node(index, self.root / f"node-{index}", free_port())
        self.nodes.append(node)
        self.start_node(node)
        return node

    def start_node(self, node: Node) -> Process:
        args = [
            "node",
            "--data",
            str(node.data),
            "--port",
            str(node.port),
            "--controller",
            self.controller_url,
            *self.node_args,
        ]
        node.process = self.procs.spawn(f"node-{node.index}", args, url=node.url)
        return node.process.wait_healthy()

    def start_gc(self, *args: str) -> Process:
        """The garbage collector (``filefleet gc``) with ``args`` (e.g. fast knobs)."""
        self.gc_port = self.gc_port or free_port()
        argv = ["gc", "--port", str(self.gc_port), "--controller", self.controller_url, *args]
        self.gc = self.procs.spawn("gc", argv, url=f"http://127.0.0.1:{self.gc_port}")
        return self.gc.wait_healthy()

    def gc_stats(self) -> dict[str, Any]:
        """The GC's ``/stats``: ``passes``, ``totals`` and ``last_pass`` counters."""
        headers = {"Authorization": f"Bearer {SECRET}"}
        answer = http("GET", f"http://127.0.0.1:{self.gc_port}/stats", headers=headers)
        assert answer.status == 200, answer.body
        result: dict[str, Any] = answer.json()
        return result

    def start_frontend(self) -> Process:
        self.frontend_port = self.frontend_port or free_port()
        args = ["frontend", "--port", str(self.frontend_port), "--controller", self.controller_url]
        if self.queue:
            args += ["--queue", self.queue]
        self.frontend = self.procs.spawn("frontend", [*args, *self.frontend_args], url=self.url)
        return self.frontend.wait_healthy()

    # -- the controller's view -------------------------------------------------------------

    def api(self, method: str, path: str, body: Any = None) -> HttpAnswer:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {SECRET}", "Content-Type": "application/json"}
        return http(method, self.controller_url + path, data, headers)

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
        assert answer.status == 200, answer.body
        result: dict[str, Any] = answer.json()
        return result

    # -- as a user -------------------------------------------------------------------------

    def upload(self, data: bytes, name: str = "file.bin", **params: str) -> dict[str, Any]:
        query = urllib.parse.urlencode({"name": name, **params})
        answer = http("POST", f"{self.url}/upload?{query}", data, {"Accept": "application/json"})
        assert answer.status == 201, (answer.status, answer.body)
        result: dict[str, Any] = answer.json()
        assert result["sha256"] == hashlib.sha256(data).hexdigest()
        return result

    def download(self, file_id: str, headers: dict[str, str] | None = None) -> HttpAnswer:
        return http("GET", f"{self.url}/download/{file_id}", headers=headers)
