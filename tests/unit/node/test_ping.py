"""The node's ping, one pass at a time, against a fake controller."""

from __future__ import annotations

import os
from pathlib import Path

from filefleet.http.client import HttpClient
from filefleet.http.controller_api import ControllerClient
from filefleet.http.retry import NO_RETRY
from filefleet.node.chunkstore import ChunkStore
from filefleet.node.ping import FULL_PING_EVERY, Pinger, filesystem_id
from filefleet.runtime.ports import free_port
from tests.unit.node.chunks import fill
from tests.unit.node.conftest import FakeController


async def test_ping_reports_the_node(
    store: ChunkStore, controller: tuple[FakeController, ControllerClient]
) -> None:
    fake, client = controller
    await fill(store, 3)
    pinger = Pinger(store, client, "http://127.0.0.1:9999", interval=2)
    assert await pinger.run_once() == {"sent": 1, "failed": 0}
    method, path, body = fake.calls[-1]
    assert (method, path) == ("POST", "/ping")
    assert isinstance(body, dict)
    assert body["id"] == store.node_id and body["url"] == "http://127.0.0.1:9999"
    assert body["chunks"] == 3 and body["capacity"] > 0 and body["free"] > 0
    # Beyond the seed's fields: the name (the data dir's, by default) and the filesystem.
    assert body["name"] == store.root.resolve().name
    assert body["filesystem"] == filesystem_id(store.root)
    named = Pinger(store, client, "http://127.0.0.1:9999", interval=2, name="disk-7")
    assert named.request().name == "disk-7"


async def test_an_older_controller_gets_the_seeds_fields_only(
    store: ChunkStore, controller: tuple[FakeController, ControllerClient]
) -> None:
    fake, client = controller
    fake.older = True
    pinger = Pinger(store, client, "http://127.0.0.1:9999", interval=2)
    for _ in range(3):
        assert await pinger.run_once() == {"sent": 1, "failed": 0}
    bodies = [body for _, path, body in fake.calls if path == "/ping"]
    assert isinstance(bodies[0], dict) and "name" in bodies[0]  # refused
    assert all(isinstance(b, dict) and "name" not in b for b in bodies[1:])
    assert len(bodies) == 4  # one refused, then one ping per pass
    fake.older = False  # upgraded: the whole ping again, within FULL_PING_EVERY pings
    for _ in range(FULL_PING_EVERY):
        await pinger.run_once()
    last = [body for _, path, body in fake.calls if path == "/ping"][-1]
    assert isinstance(last, dict) and last["name"] == store.root.resolve().name
    assert not pinger.seed_only


def test_nodes_on_one_filesystem_report_one_id(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    assert filesystem_id(tmp_path / "a") == filesystem_id(tmp_path / "b")
    shm = Path("/dev/shm")
    if shm.is_dir() and os.stat(shm).st_dev != os.stat(tmp_path).st_dev:
        assert filesystem_id(shm) != filesystem_id(tmp_path)


async def test_ping_failure_is_counted_not_raised(store: ChunkStore) -> None:
    async with HttpClient(secret="s") as http:
        nobody = f"http://127.0.0.1:{free_port()}"  # nothing listens: refused at once
        pinger = Pinger(store, ControllerClient(http, [nobody], retry=NO_RETRY), nobody, 2)
        assert await pinger.run_once() == {"sent": 0, "failed": 1}
        assert await pinger.run_once() == {"sent": 0, "failed": 1}
        assert (pinger.sent, pinger.failed) == (0, 2)
