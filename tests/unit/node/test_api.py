"""The node's routes in process (aiohttp's TestClient): status codes and JSON shapes."""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from filefleet.core.errors import HashMismatch, error_for_status
from filefleet.core.suspects import SuspectNodes
from filefleet.http.client import HttpClient
from filefleet.http.controller_api import ControllerClient
from filefleet.http.node_api import NodeClient
from filefleet.http.replicas import ReplicaReader
from filefleet.node.api import make_node_app
from filefleet.node.chunkstore import ChunkStore
from filefleet.node.scrub import Scrubber

AUTH = {"Authorization": "Bearer s"}
MAX = 64 * 1024
Client = TestClient[web.Request, web.Application]


def cid(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Reports:
    """Stands in for the controller a node reports bad replicas to."""

    def __init__(self) -> None:
        self.removed: list[tuple[str, str]] = []

    async def remove_location(self, chunk_id: str, node_id: str) -> None:
        self.removed.append((chunk_id, node_id))


@contextlib.asynccontextmanager
async def node(data: Path, reports: Reports | None = None) -> AsyncIterator[Client]:
    """A node app over ``data`` served on a free port, with a real client for its copies."""
    store = ChunkStore(data)
    async with HttpClient(secret="s") as http:
        controller = cast(ControllerClient, reports or Reports())
        reader = ReplicaReader(NodeClient(http), controller, SuspectNodes())
        app = make_node_app(store, Scrubber(store, None, 0), reader, secret="s", max_chunk=MAX)
        async with TestClient(TestServer(app)) as test_client:
            yield test_client


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    async with node(tmp_path / "data") as test_client:
        yield test_client


async def test_store_fetch_delete(client: Client) -> None:
    data = os.urandom(MAX)
    resp = await client.post("/chunk", params={"hash": cid(data)}, data=data, headers=AUTH)
    assert resp.status == 201
    assert await resp.json() == {"id": cid(data), "size": MAX, "created": True}
    resp = await client.post("/chunk", params={"hash": cid(data)}, data=data, headers=AUTH)
    assert resp.status == 200 and (await resp.json())["created"] is False
    resp = await client.get(f"/chunk/{cid(data)}", headers=AUTH)
    assert resp.status == 200 and await resp.read() == data
    assert resp.headers["Content-Type"] == "application/octet-stream"
    resp = await client.head(f"/chunk/{cid(data)}", headers=AUTH)
    assert resp.status == 200 and resp.headers["Content-Length"] == str(MAX)
    resp = await client.delete(f"/chunk/{cid(data)}", params={"grace": "1h"}, headers=AUTH)
    assert resp.status == 409
    resp = await client.delete(f"/chunk/{cid(data)}", params={"grace": "0"}, headers=AUTH)
    assert resp.status == 200 and await resp.json() == {"id": cid(data), "deleted": True}
    resp = await client.delete(f"/chunk/{cid(data)}", headers=AUTH)
    assert resp.status == 200 and (await resp.json())["deleted"] is False
    resp = await client.get(f"/chunk/{cid(data)}", headers=AUTH)
    assert resp.status == 404 and "error" in await resp.json()


async def test_oversized_bodies_are_refused(client: Client) -> None:
    data = os.urandom(MAX + 1)
    resp = await client.post("/chunk", params={"hash": cid(data)}, data=data, headers=AUTH)
    assert resp.status == 413

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: enforced while reading
        for start in range(0, len(data), 10_000):
            yield data[start : start + 10_000]

    resp = await client.post("/chunk", params={"hash": cid(data)}, data=chunked(), headers=AUTH)
    assert resp.status == 413
    resp = await client.get("/chunks", headers=AUTH)
    assert (await resp.json())["chunks"] == []


async def test_chunked_body_within_limit_is_stored(client: Client) -> None:
    data = os.urandom(MAX)

    async def chunked() -> AsyncIterator[bytes]:
        for start in range(0, len(data), 10_000):
            yield data[start : start + 10_000]

    resp = await client.post("/chunk", params={"hash": cid(data)}, data=chunked(), headers=AUTH)
    assert resp.status == 201


@pytest.mark.parametrize(
    ("method", "path", "params"),
    [
        ("POST", "/chunk", {"hash": "0" * 63}),
        ("POST", "/chunk", {}),
        ("GET", "/chunk/" + "A" * 64, {}),
        ("GET", "/chunk/..%2F..%2Fnode-id", {}),
        ("DELETE", "/chunk/" + "0" * 64, {"grace": "-1"}),
        ("DELETE", "/chunk/" + "0" * 64, {"grace": "soon"}),
        ("GET", "/chunks", {"after": "../x"}),
        ("GET", "/chunks", {"limit": "0"}),
        ("GET", "/chunks", {"limit": "many"}),
        ("POST", "/chunk/" + "A" * 64 + "/verify", {}),
    ],
)
async def test_bad_input_is_400(
    client: Client, method: str, path: str, params: dict[str, str]
) -> None:
    resp = await client.request(method, path, params=params, data=b"x", headers=AUTH)
    assert resp.status == 400, await resp.text()
    assert "error" in await resp.json()


async def test_mismatch_is_400_and_keeps_nothing(client: Client) -> None:
    resp = await client.post("/chunk", params={"hash": cid(b"a")}, data=b"b", headers=AUTH)
    assert resp.status == 400
    # The code lets the frontend's chunk API tell its client which chunk was wrong.
    assert (await resp.json())["code"] == "hash_mismatch"
    assert isinstance(error_for_status(400, "x", "hash_mismatch"), HashMismatch)
    resp = await client.get("/chunks", headers=AUTH)
    assert (await resp.json()) == {"chunks": [], "next": None}


async def test_every_route_needs_the_secret(client: Client) -> None:
    chunk = "0" * 64
    for method, path in [
        ("POST", f"/chunk?hash={chunk}"),
        ("GET", f"/chunk/{chunk}"),
        ("DELETE", f"/chunk/{chunk}"),
        ("POST", f"/chunk/{chunk}/verify"),
        ("GET", "/chunks"),
        ("GET", "/stats"),
    ]:
        resp = await client.request(method, path, headers={"Authorization": "Bearer wrong"})
        assert resp.status == 401, (method, path)
    assert (await client.get("/healthz")).status == 200


async def test_listing_and_stats(client: Client) -> None:
    blobs = [os.urandom(100) for _ in range(5)]
    for blob in blobs:
        await client.post("/chunk", params={"hash": cid(blob)}, data=blob, headers=AUTH)
    resp = await client.get("/chunks", params={"limit": "3"}, headers=AUTH)
    first = await resp.json()
    assert first["chunks"] == sorted(map(cid, blobs))[:3] and first["next"] == first["chunks"][-1]
    resp = await client.get("/chunks", params={"after": first["next"]}, headers=AUTH)
    assert (await resp.json()) == {"chunks": sorted(map(cid, blobs))[3:], "next": None}
    stats = await (await client.get("/stats", headers=AUTH)).json()
    assert (stats["chunks"], stats["bytes"], stats["quarantined"]) == (5, 500, 0)
    assert stats["free"] > 0 and stats["scrub"]["scanned"] == 0


async def test_verify_rehashes_on_the_node_and_quarantines_a_rotten_chunk(
    client: Client, tmp_path: Path
) -> None:
    good, rotten = os.urandom(1000), os.urandom(2000)
    for blob in (good, rotten):
        await client.post("/chunk", params={"hash": cid(blob)}, data=blob, headers=AUTH)
    path = tmp_path / "data" / "chunks" / cid(rotten)[:2] / cid(rotten)
    path.write_bytes(b"x" + rotten[1:])

    resp = await client.post(f"/chunk/{cid(good)}/verify", headers=AUTH)
    assert resp.status == 200
    assert await resp.json() == {"id": cid(good), "size": 1000, "ok": True, "quarantined": False}
    resp = await client.post(f"/chunk/{cid(rotten)}/verify", headers=AUTH)
    assert await resp.json() == {"id": cid(rotten), "size": 2000, "ok": False, "quarantined": True}
    # moved aside, as the scrubber does: no longer listed nor served, counted in /stats
    assert not path.exists() and (tmp_path / "data" / "quarantine" / cid(rotten)).exists()
    resp = await client.get("/chunks", headers=AUTH)
    assert (await resp.json())["chunks"] == [cid(good)]
    stats = await (await client.get("/stats", headers=AUTH)).json()
    assert stats["quarantined"] == 1 and stats["scrub"]["corrupt"] == 1
    resp = await client.post(f"/chunk/{cid(rotten)}/verify", headers=AUTH)
    assert resp.status == 404 and "error" in await resp.json()


async def test_reads_through_reused_buffers_never_mix_chunks(client: Client) -> None:
    """Chunks are read into reused buffers: alternating reads of chunks of other sizes each
    get exactly their own bytes (a buffer is reused only once its bytes were sent)."""
    chunks = [os.urandom(MAX), os.urandom(MAX // 2 + 1), os.urandom(1)]
    for data in chunks:
        resp = await client.post("/chunk", params={"hash": cid(data)}, data=data, headers=AUTH)
        assert resp.status == 201
    for _ in range(4):
        for data in chunks:
            resp = await client.get(f"/chunk/{cid(data)}", headers=AUTH)
            assert resp.status == 200
            assert resp.headers["Content-Length"] == str(len(data))
            assert await resp.read() == data


async def test_a_copy_goes_node_to_node_verified_and_reports_a_bad_source(
    tmp_path: Path,
) -> None:
    data = os.urandom(MAX)
    reports = Reports()
    async with (
        node(tmp_path / "rotten") as rotten,
        node(tmp_path / "good") as good,
        node(tmp_path / "target", reports) as target,
    ):
        for holder in (rotten, good):
            await holder.post("/chunk", params={"hash": cid(data)}, data=data, headers=AUTH)
        on_disk = tmp_path / "rotten" / "chunks" / cid(data)[:2] / cid(data)
        on_disk.write_bytes(b"x" + data[1:])  # one holder's copy rotted
        sources = [
            {"id": "a" * 32, "url": str(rotten.make_url("")).rstrip("/")},
            {"id": "b" * 32, "url": str(good.make_url("")).rstrip("/")},
        ]
        resp = await target.post(f"/chunk/{cid(data)}/copy", json={"sources": sources},
                                 headers=AUTH)  # fmt: skip
        assert resp.status == 201, await resp.text()
        answer = await resp.json()
        assert (answer["stored"], answer["created"], answer["size"]) == (True, True, MAX)
        assert answer["source"] == sources[1]["url"] and answer["reported"] == ["a" * 32]
        assert reports.removed == [(cid(data), "a" * 32)]
        got = await target.get(f"/chunk/{cid(data)}", headers=AUTH)
        assert await got.read() == data
        again = await target.post(f"/chunk/{cid(data)}/copy", json={"sources": sources},
                                  headers=AUTH)  # fmt: skip
        assert again.status == 200 and (await again.json())["created"] is False

        other = os.urandom(100)  # no source holds it: nothing stored, said so
        resp = await target.post(f"/chunk/{cid(other)}/copy", json={"sources": sources[1:]},
                                 headers=AUTH)  # fmt: skip
        assert resp.status == 200
        assert (await resp.json())["stored"] is False
        listing = await (await target.get("/chunks", headers=AUTH)).json()
        assert listing["chunks"] == [cid(data)]
        bad = await target.post(f"/chunk/{cid(other)}/copy", json={"sources": []}, headers=AUTH)
        assert bad.status == 400 and "sources" in (await bad.json())["error"]
