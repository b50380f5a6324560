"""A filefleet cluster spread over namespace hosts (``hosts.py``), for fault tests.

One host, ``core``, runs the control plane and the public side: a private Redis (the
replicate queue), the controller, the frontend, a replicator and the GC. Every file node
runs on a host of its own, so its link can be cut, dropped or slowed while the rest of
the fleet keeps running; the test process talks to the frontend and the controller over
the bridge, as a client on another machine would. Every service is the real
``filefleet`` command, bound to its host's address, started and stopped by pid through
the test's ``ProcessGroup`` (whose teardown also prints every log's tail on failure).

Ports: each service gets a free port (picked in the test's namespace; a new namespace
has nothing listening, so it is free there too).

A node may get a small disk of its own (``small_disks``: a tmpfs of that size mounted on
its data directory), to fill up; ``close`` stops those nodes and unmounts it.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filefleet.runtime.ports import free_port
from tests.harness.cluster import SECRET, ClusterView, NodeDisk, http
from tests.harness.hosts import Host, Network
from tests.harness.processes import Process, ProcessGroup, wait_for

# Fast but not flapping on a loaded 2-core machine: pings every 500 ms, inactive after 3 s.
NODE_TTL = "3s"
PING_INTERVAL = "500ms"


@dataclass
class FleetNode(NodeDisk):
    index: int
    host: Host
    data: Path
    port: int
    process: Process | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host.address}:{self.port}"

    def freeze(self) -> None:
        """SIGSTOP: the process hangs; its kernel still accepts connections."""
        assert self.process is not None
        self.process.signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        self.process.signal(signal.SIGCONT)


@dataclass
class Fleet(ClusterView):
    procs: ProcessGroup
    root: Path
    network: Network
    replicas: int = 2
    chunk_size: str = "256KiB"
    node_args: list[str] = field(default_factory=list)
    frontend_args: list[str] = field(default_factory=list)
    controller_args: list[str] = field(default_factory=list)
    replicator_args: list[str] = field(default_factory=list)
    gc_args: list[str] = field(default_factory=list)
    small_disks: dict[int, str] = field(default_factory=dict)  # node index -> tmpfs size
    node_extra: dict[int, list[str]] = field(default_factory=dict)  # node index -> its args
    nodes: list[FleetNode] = field(default_factory=list)
    mounts: list[Path] = field(default_factory=list)
    core: Host | None = None
    ports: dict[str, int] = field(default_factory=dict)
    services: dict[str, Process] = field(default_factory=dict)

    # -- start ------------------------------------------------------------------------------

    def start(self, nodes: int = 3) -> Fleet:
        self.procs.base_env["FILEFLEET_SECRET"] = SECRET
        self.core = self.network.add_host("core")
        self._start_redis()
        self._start_service(
            "controller",
            ["--db", f"sqlite:///{self.root / 'meta.db'}", "--node-ttl", NODE_TTL,
             "--replicas", str(self.replicas), *self.controller_args],
        )  # fmt: skip
        for _ in range(nodes):
            self.add_node()
        self.wait_active(nodes)
        self._start_service(
            "frontend",
            ["--controller", self.controller_url, "--queue", self.queue_url,
             "--chunk-size", self.chunk_size, *self.frontend_args],
        )  # fmt: skip
        self._start_service(
            "replicator",
            ["--controller", self.controller_url, "--queue", self.queue_url,
             "--replicas", str(self.replicas), *self.replicator_args],
        )  # fmt: skip
        self._start_service("gc", ["--controller", self.controller_url, *self.gc_args])
        return self

    def _start_redis(self) -> None:
        assert self.core is not None
        redis = shutil.which("redis-server")
        if redis is None:
            raise RuntimeError("redis-server is not installed")
        port = self.ports["redis"] = free_port()
        data = self.root / "redis"
        data.mkdir()
        argv = ["--bind", self.core.address, "--port", str(port), "--dir", str(data),
                "--save", "", "--appendonly", "no", "--protected-mode", "no"]  # fmt: skip
        self.services["redis"] = self.procs.spawn(
            "redis", argv, program=[redis], wrap=self.core.command([])
        )
        ping = ["redis-cli", "-h", self.core.address, "-p", str(port), "ping"]
        core = self.core
        wait_for(
            lambda: core.exec(*ping, check=False).stdout.strip() == "PONG",
            timeout=15,
            what="the private Redis",
        )

    @property
    def queue_url(self) -> str:
        assert self.core is not None
        return f"redis://{self.core.address}:{self.ports['redis']}/0"

    def _start_service(self, name: str, args: list[str]) -> Process:
        assert self.core is not None
        port = self.ports.setdefault(name, free_port())
        url = f"http://{self.core.address}:{port}"
        argv = [name, "--host", self.core.address, "--port", str(port), *args]
        self.services[name] = self.procs.spawn(name, argv, url=url, wrap=self.core.command([]))
        return self.services[name].wait_healthy()

    def restart(self, name: str) -> Process:
        """The service started again as it was (same host, port and flags), once the old
        process has ended (the test stops or kills it first)."""
        old = self.services[name]
        assert not old.alive(), f"{name} is still running"
        self.services[name] = self.procs.spawn(name, old.args, url=old.url, program=())
        return self.services[name].wait_healthy()

    def add_node(self) -> FleetNode:
        index = len(self.nodes) + 1
        host = self.network.add_host(f"node{index}")
        node = FleetNode(index, host, self.root / f"node-{index}", free_port())
        self.nodes.append(node)
        size = self.small_disks.get(index)
        if size is not None:
            node.data.mkdir()
            subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                            str(node.data)], check=True, timeout=20)  # fmt: skip
            self.mounts.append(node.data)
        self.start_node(node)
        return node

    def close(self) -> None:
        """Stop the nodes on small disks, then unmount those (lazily: never left behind)."""
        for node in self.nodes:
            if node.data in self.mounts and node.process is not None:
                node.process.stop()
        for mount in self.mounts:
            subprocess.run(["umount", "-l", str(mount)], check=False, timeout=20)
        self.mounts.clear()

    def start_node(self, node: FleetNode) -> Process:
        argv = ["node", "--data", str(node.data), "--host", node.host.address,
                "--port", str(node.port), "--controller", self.controller_url,
                "--ping-interval", PING_INTERVAL, "--scrub-rate", "0", *self.node_args,
                *self.node_extra.get(node.index, [])]  # fmt: skip
        node.process = self.procs.spawn(
            f"node-{node.index}", argv, url=node.url, wrap=node.host.command([])
        )
        return node.process.wait_healthy()

    # -- addresses ---------------------------------------------------------------------------

    def service_url(self, name: str) -> str:
        assert self.core is not None
        return f"http://{self.core.address}:{self.ports[name]}"

    @property
    def controller_url(self) -> str:
        return self.service_url("controller")

    @property
    def url(self) -> str:
        return self.service_url("frontend")

    # -- the controller's and services' view --------------------------------------------------

    def stats(self, service: str) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {SECRET}"}
        answer = http("GET", f"{self.service_url(service)}/stats", headers=headers)
        assert answer.status == 200, answer.body
        result: dict[str, Any] = answer.json()
        return result

    def replicated(self, file_id: str) -> bool:
        """Whether the controller lists R replicas of every chunk of the file."""
        chunks = self.file_info(file_id)["chunks"]
        return all(len(set(chunk["locations"])) >= self.replicas for chunk in chunks)

    def under_replicated(self, file_ids: list[str]) -> dict[str, list[str]]:
        """Chunks of these files not listed on R active nodes that hold them on disk."""
        active = self.active_node_ids()
        on_disk = {n.node_id: n.chunk_ids() for n in self.nodes}
        short: dict[str, list[str]] = {}
        for file_id in file_ids:
            for chunk in self.file_info(file_id)["chunks"]:
                good = [
                    node for node in chunk["locations"]
                    if node in active and chunk["id"] in on_disk.get(node, set())
                ]  # fmt: skip
                if len(set(good)) < self.replicas:
                    short[chunk["id"]] = chunk["locations"]
        return short

    def wait_whole(self, file_ids: list[str], timeout: float = 60.0) -> None:
        """Every chunk of the files on R active nodes, each really holding it."""
        wait_for(
            lambda: not self.under_replicated(file_ids),
            timeout=timeout,
            interval=0.25,
            what=f"every chunk of {len(file_ids)} files on {self.replicas} active nodes",
        )
