"""Replicators and event queues for tests: ``filefleet replicator`` processes started
through the CLI next to a harness ``Cluster``, their ``/stats``, and per-test queue names
on the real Redis / RabbitMQ (deleted at teardown)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from filefleet.queue.factory import open_queue
from filefleet.runtime.ports import free_port
from tests.conftest import require_service
from tests.harness.cluster import Cluster
from tests.harness.processes import Process, wait_for

QUEUE_SERVERS = {
    "redis": ("Redis", "127.0.0.1", 6379, "redis://127.0.0.1:6379/0"),
    "rabbitmq": ("RabbitMQ", "127.0.0.1", 5672, "amqp://guest:guest@127.0.0.1:5672/"),
}


def unique_queue_url(backend: str) -> str:
    """A queue URL on the real server with a name no other test uses."""
    base = QUEUE_SERVERS[backend][3]
    return f"{base}?name=filefleet-e2e-{uuid.uuid4().hex[:12]}"


@contextlib.contextmanager
def redis_queue() -> Iterator[str]:
    """A queue of the test's own on the real Redis (without one the test is skipped, or
    fails under FILEFLEET_REQUIRE_SERVICES=1), purged afterwards."""
    label, host, port, _ = QUEUE_SERVERS["redis"]
    require_service(label, host, port)
    url = unique_queue_url("redis")
    try:
        yield url
    finally:
        purge_queue(url)


def purge_queue(url: str) -> None:
    async def purge() -> None:
        queue = open_queue(url)
        try:
            await queue.purge()
        finally:
            await queue.close()

    asyncio.run(purge())


@dataclass
class Replicator:
    process: Process
    port: int
    cluster: Cluster

    @property
    def url(self) -> str:
        return self.cluster.service_url(self.port)

    def stats(self) -> dict[str, Any]:
        return self.cluster.stats_of(self.url)


def start_replicator(cluster: Cluster, *args: str, name: str = "replicator") -> Replicator:
    """``filefleet replicator`` on a free port, on the cluster's controller and queue."""
    port = free_port()
    argv = ["replicator", "--port", str(port), "--controller", cluster.controller_urls]
    if cluster.queue:
        argv += ["--queue", cluster.queue]
    process = cluster.procs.spawn(name, [*argv, *args], url=cluster.service_url(port))
    process.wait_healthy()
    return Replicator(process, port, cluster)


def chunk_locations(cluster: Cluster, file_ids: list[str]) -> dict[str, list[str]]:
    """Chunk id -> the node ids the controller lists for it, over the given files."""
    found: dict[str, list[str]] = {}
    for file_id in file_ids:
        for chunk in cluster.file_info(file_id)["chunks"]:
            found[chunk["id"]] = chunk["locations"]
    return found


def fully_replicated(cluster: Cluster, file_ids: list[str], replicas: int = 2) -> bool:
    """Every chunk of the files is listed on at least ``replicas`` active nodes."""
    active = cluster.active_node_ids()
    locations = chunk_locations(cluster, file_ids)
    return all(len(set(nodes) & active) >= replicas for nodes in locations.values())


def wait_replicated(
    cluster: Cluster, file_ids: list[str], replicas: int = 2, timeout: float = 30.0
) -> dict[str, list[str]]:
    wait_for(
        lambda: fully_replicated(cluster, file_ids, replicas),
        timeout=timeout,
        interval=0.1,
        what=f"every chunk on {replicas} active nodes",
    )
    return chunk_locations(cluster, file_ids)
