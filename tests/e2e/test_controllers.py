"""Several controllers over one PostgreSQL (issue 6): no single point of failure in the
control plane.

The story: two controllers start at once on a fresh database (both migrate it), three
nodes and a frontend are given both URLs (``--controller URL1,URL2``). A stream of uploads
and downloads runs while the first controller, the one every client calls first, is
SIGKILLed mid-stream. Then: every upload that returned a link downloads byte-identical,
every download during the stream was identical, and the nodes are still active on the
survivor (their pings failed over).

Fast knobs: node TTL 2 s, pings every 200 ms, 64 KiB chunks (several appends per upload).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import threading
import time
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.harness.cluster import FAST_NODE, SECRET, Cluster, http
from tests.harness.postgres import fresh_database
from tests.harness.processes import ProcessGroup, wait_for

KiB = 1024
CHUNK = 64 * KiB
WORKERS = 4
UPLOADS = 60  # the stream's bound in count ...
STREAM_SECONDS = 45.0  # ... and in time
KILL_AFTER = 12  # uploads finished before the first controller is killed


@pytest.fixture
def pg_url() -> Iterator[str]:
    with fresh_database("filefleet_e2e") as url:
        yield url


@pytest.fixture
def cluster(procs: ProcessGroup, tmp_path: Path, pg_url: str) -> Cluster:
    cluster = Cluster(
        procs,
        tmp_path,
        db=pg_url,
        node_args=FAST_NODE,
        frontend_args=["--chunk-size", str(CHUNK)],
        controller_args=["--node-ttl", "2s"],
    )
    return cluster.start(nodes=3, controllers=2)


@dataclass
class Stream:
    """What the workers saw: links returned, failures, and every download compared."""

    cluster: Cluster
    deadline: float
    lock: threading.Lock = field(default_factory=threading.Lock)
    uploaded: dict[str, bytes] = field(default_factory=dict)
    failed_uploads: list[str] = field(default_factory=list)
    bad_downloads: list[str] = field(default_factory=list)
    downloads: int = 0
    started: int = 0
    in_flight_at_kill: int = 0

    def take_turn(self) -> bool:
        with self.lock:
            if self.started >= UPLOADS or time.monotonic() > self.deadline:
                return False
            self.started += 1
            return True

    def upload(self, rng: random.Random) -> None:
        data = os.urandom(rng.randrange(1, 6 * CHUNK))
        query = urllib.parse.urlencode({"name": "stream.bin"})
        answer = http(
            "POST",
            f"{self.cluster.url}/upload?{query}",
            data,
            {"Accept": "application/json"},
            timeout=60,
        )
        with self.lock:
            if answer.status != 201:
                self.failed_uploads.append(f"{answer.status} {answer.body[:200]!r}")
                return
            link = answer.json()
            assert link["sha256"] == hashlib.sha256(data).hexdigest()
            self.uploaded[link["id"]] = data

    def download_one(self, rng: random.Random) -> None:
        with self.lock:
            if not self.uploaded:
                return
            file_id, data = rng.choice(list(self.uploaded.items()))
        answer = self.cluster.download(file_id)
        with self.lock:
            self.downloads += 1
            if answer.status != 200 or answer.body != data:
                self.bad_downloads.append(f"{file_id}: {answer.status} {answer.body[:200]!r}")

    def worker(self, seed: int) -> None:
        rng = random.Random(seed)
        while self.take_turn():
            self.upload(rng)
            self.download_one(rng)


def test_killing_a_controller_mid_stream_loses_nothing(cluster: Cluster) -> None:
    first, survivor = cluster.controllers
    survivor_url = survivor.url
    stream = Stream(cluster, deadline=time.monotonic() + STREAM_SECONDS)

    with ThreadPoolExecutor(WORKERS) as pool:
        futures = [pool.submit(stream.worker, seed) for seed in range(WORKERS)]
        wait_for(
            lambda: len(stream.uploaded) >= KILL_AFTER or stream.failed_uploads,
            timeout=STREAM_SECONDS,
            what=f"{KILL_AFTER} uploads before the kill",
        )
        assert not stream.failed_uploads, stream.failed_uploads
        stream.in_flight_at_kill = stream.started - len(stream.uploaded)
        first.signal(signal.SIGKILL)  # mid-stream: uploads and downloads are in flight
        killed_at = time.monotonic()
        assert first.popen is not None and first.popen.wait(5) == -signal.SIGKILL
        for future in futures:
            future.result()

    assert len(stream.uploaded) > KILL_AFTER + WORKERS, "the stream did not go on after the kill"
    # Even the uploads in flight at the kill finish: every controller call fails over to
    # the survivor and is safe to repeat (idempotent create, appends merged by order).
    assert stream.failed_uploads == []
    assert stream.bad_downloads == []
    assert stream.downloads == len(stream.uploaded)

    # Every upload that returned a link downloads byte-identical afterwards.
    for file_id, data in stream.uploaded.items():
        answer = cluster.download(file_id)
        assert (answer.status, answer.body == data) == (200, True), file_id

    # The nodes kept pinging (through the survivor): all three are active there more than
    # a node TTL (2 s) after the kill.
    assert cluster.controller_url == survivor_url
    everyone = {n.node_id for n in cluster.nodes}
    wait_for(
        lambda: time.monotonic() - killed_at > 3.0 and cluster.active_node_ids() == everyone,
        timeout=15,
        interval=0.25,
        what="three active nodes on the surviving controller, a node TTL after the kill",
    )
    print(
        f"stream: {len(stream.uploaded)} uploads, {len(stream.failed_uploads)} failed, "
        f"{stream.downloads} downloads; {stream.in_flight_at_kill} uploads in flight at the kill"
    )


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_concurrent_creates_of_one_id_through_two_controllers(
    procs: ProcessGroup, tmp_path: Path, backend: str
) -> None:
    """DESIGN §3: of concurrent ``POST /file`` with one id exactly one answers 201; the
    same record again gets 200, a different one 409, whichever controller is asked."""
    database = fresh_database("filefleet_e2e") if backend == "postgresql" else nullcontext(None)
    with database as db:
        cluster = Cluster(procs, tmp_path, db=db)
        urls = [proc.url for proc in cluster.start_controllers(2)]
        record = {
            "id": "race-file-id-000001",
            "name": "same.bin",
            "content_type": "application/octet-stream",
            "expires_at": "2099-01-01T00:00:00Z",
            "delete_token_sha256": "ab" * 32,
        }
        other = {**record, "name": "other.bin"}
        headers = {"Authorization": f"Bearer {SECRET}", "Content-Type": "application/json"}

        def create(n: int) -> tuple[str, int]:
            body = record if n % 2 else other
            answer = http("POST", f"{urls[n // 2 % 2]}/file", json.dumps(body).encode(), headers)
            return str(body["name"]), answer.status

        with ThreadPoolExecutor(16) as pool:
            results = list(pool.map(create, range(32)))
        winners = [name for name, status in results if status == 201]
        assert len(winners) == 1, results
        for name, status in results:
            if status != 201:
                assert status == (200 if name == winners[0] else 409), results
        stored = http("GET", f"{urls[1]}/file/{record['id']}", headers=headers).json()
        assert (stored["name"], stored["state"]) == (winners[0], "uploading")
