"""``ReplicaReader``: the first verified copy of a chunk from its replicas, against real
sockets: a node that accepts connections and never answers (a hung process), one that
serves corrupt bytes, one that lacks the chunk, and a healthy one."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import socket
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import cast

import pytest
from aiohttp import web

from filefleet.core.errors import Unavailable
from filefleet.core.models import NodeInfo
from filefleet.core.suspects import SuspectNodes
from filefleet.http.client import HttpClient
from filefleet.http.controller_api import ControllerClient
from filefleet.http.deadlines import Deadlines
from filefleet.http.node_api import NodeClient
from filefleet.http.replicas import ReplicaReader
from tests.unit.http.serving import served

CHUNK = os.urandom(1024 * 1024)
CHUNK_ID = hashlib.sha256(CHUNK).hexdigest()


class Reports:
    """Stands in for the controller: the replicas reported as bad."""

    def __init__(self) -> None:
        self.removed: list[tuple[str, str]] = []

    async def remove_location(self, chunk_id: str, node_id: str) -> None:
        self.removed.append((chunk_id, node_id))


def node(name: str, url: str) -> NodeInfo:
    return NodeInfo(id=name * 32, url=url, last_ping=datetime.now(UTC), capacity=1, free=1,
                    chunks=0)  # fmt: skip


@contextlib.asynccontextmanager
async def serving(body: bytes | None) -> AsyncIterator[str]:
    """A node serving ``body`` for the chunk (None: 404)."""

    async def chunk(_: web.Request) -> web.Response:
        if body is None:
            return web.json_response({"error": "no such chunk here"}, status=404)
        return web.Response(body=body)

    app = web.Application()
    app.router.add_get("/chunk/{id}", chunk)
    async with served(app) as url:
        yield url


@contextlib.asynccontextmanager
async def hung() -> AsyncIterator[str]:
    """A listening socket nobody accepts from: connections succeed, nothing answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


@contextlib.asynccontextmanager
async def reader(hedge_after: float = 0.2) -> AsyncIterator[tuple[ReplicaReader, Reports]]:
    reports = Reports()
    deadlines = Deadlines(connect=1.0, answer=3.0)
    async with HttpClient(deadlines=deadlines) as http:
        controller = cast(ControllerClient, reports)
        yield ReplicaReader(NodeClient(http), controller, SuspectNodes(),
                            hedge_after=hedge_after), reports  # fmt: skip


async def test_a_hung_replica_is_hedged_and_costs_only_the_hedge_delay() -> None:
    async with hung() as stuck, serving(CHUNK) as good, reader() as (replicas, _):
        start = time.monotonic()
        data = await replicas.read(CHUNK_ID, [node("a", stuck), node("b", good)])
        took = time.monotonic() - start
        assert bytes(data) == CHUNK
        assert took < 1.5, took  # the hedge after 0.2 s, not the 3 s answer deadline
        assert replicas.counters.hedged == 1
        assert replicas.suspects.suspected("a" * 32)  # lost the race: a suspect now
        start = time.monotonic()  # next time the suspect is read last: no wait at all
        assert bytes(await replicas.read(CHUNK_ID, [node("a", stuck), node("b", good)])) == CHUNK
        assert time.monotonic() - start < 0.15
        assert replicas.counters.hedged == 1


async def test_into_is_free_when_the_read_returns() -> None:
    """The hung read that was cancelled must not write into the caller's buffer later."""
    buffer = bytearray(len(CHUNK))
    async with hung() as stuck, serving(CHUNK) as good, reader() as (replicas, _):
        data = await replicas.read(CHUNK_ID, [node("a", stuck), node("b", good)], buffer)
        assert bytes(data) == CHUNK
        buffer[:] = bytes(len(buffer))
        await asyncio.sleep(0.3)
        assert buffer == bytes(len(buffer))


async def test_corrupt_and_missing_replicas_are_reported_and_skipped() -> None:
    rotten = bytearray(CHUNK)
    rotten[100] ^= 1
    async with (
        serving(bytes(rotten)) as bad,
        serving(None) as empty,
        serving(CHUNK) as good,
        reader() as (replicas, reports),
    ):
        nodes = [node("a", bad), node("b", empty), node("c", good)]
        assert bytes(await replicas.read(CHUNK_ID, nodes)) == CHUNK
    assert reports.removed == [(CHUNK_ID, "a" * 32), (CHUNK_ID, "b" * 32)]
    assert replicas.counters.corrupt_replicas == 1 and replicas.counters.missing_replicas == 1


async def test_no_replica_left_is_unavailable_within_the_deadline() -> None:
    async with hung() as stuck, serving(None) as empty, reader() as (replicas, _):
        start = time.monotonic()
        with pytest.raises(Unavailable):
            await replicas.read(CHUNK_ID, [node("a", stuck), node("b", empty)])
        assert time.monotonic() - start < 5  # the hung one's 3 s answer deadline, no more
