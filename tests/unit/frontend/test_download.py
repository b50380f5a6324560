"""The downloader's reused chunk buffers: a buffer whose bytes may still be queued for
sending is never filled again, every chunk comes out as its own bytes, and a download
holds at most ``read_ahead`` chunks, beyond its first two only what the frontend's shared
read-ahead pool lends it."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, cast

from filefleet.core.models import ChunkRef, FileInfo, NodeInfo
from filefleet.core.placement import read_order
from filefleet.core.suspects import SuspectNodes
from filefleet.fastpath.buffers import byte_buffers
from filefleet.frontend.download import OWN_CHUNKS, Downloader, ReadAheadPool
from filefleet.frontend.nodes import NodeDirectory
from filefleet.http.controller_api import ControllerClient
from filefleet.http.node_api import NodeClient
from filefleet.http.replicas import ReplicaReader

NODE = "a" * 32
SIZE = 64 * 1024


class FakeNodes:
    """Serves chunks from memory the way NodeClient does: into ``into`` when it fits."""

    def __init__(self, chunks: dict[str, bytes]) -> None:
        self.chunks = chunks
        self.filled: list[int] = []  # id() of each buffer read into
        self.reads = 0  # get_chunk calls so far
        self.served: list[str] = []  # the node URL of each read

    async def get_chunk(
        self, url: str, chunk_id: str, *, verify: bool = True, into: bytearray | None = None
    ) -> bytearray | memoryview:
        self.reads += 1
        self.served.append(url)
        data = self.chunks[chunk_id]
        if into is None or len(into) < len(data):
            return bytearray(data)
        self.filled.append(id(into))
        into[: len(data)] = data
        return memoryview(into)[: len(data)]


class FakeDirectory:
    def __init__(self, node_ids: tuple[str, ...] = (NODE,)) -> None:
        self.node_ids = node_ids

    async def active(self, *, fresh: bool = False) -> dict[str, NodeInfo]:
        now = datetime.now(UTC)
        return {
            node_id: NodeInfo(
                id=node_id, url=f"http://{node_id[0]}", last_ping=now, capacity=1, free=1, chunks=0
            )
            for node_id in self.node_ids
        }


def file_of(
    blobs: list[bytes], holders: list[list[str]] | None = None
) -> tuple[FileInfo, dict[str, bytes]]:
    """A file of these chunks, each on ``NODE`` or on the nodes ``holders`` gives in turn."""
    holders = holders or [[NODE]]
    refs = [
        ChunkRef(
            id=hashlib.sha256(b).hexdigest(),
            order=i,
            size=len(b),
            locations=holders[i % len(holders)],
        )
        for i, b in enumerate(blobs)
    ]
    now = datetime.now(UTC)
    info = FileInfo(
        id="F" * 24, name="f", size=sum(map(len, blobs)), sha256="c" * 64,
        content_type="application/octet-stream", uploaded_at=now, expires_at=now,
        state="active", max_downloads=None, downloads=0, chunks=refs,
    )  # fmt: skip
    return info, {r.id: b for r, b in zip(refs, blobs, strict=True)}


def downloader(
    nodes: FakeNodes,
    read_ahead: int = 2,
    pool: ReadAheadPool | None = None,
    directory: FakeDirectory | None = None,
) -> Downloader:
    controller = cast(ControllerClient, None)
    reader = ReplicaReader(cast(NodeClient, nodes), controller, SuspectNodes())
    return Downloader(
        controller, reader, cast(NodeDirectory, directory or FakeDirectory()),
        read_ahead=read_ahead, pool=pool or ReadAheadPool(16),
        buffers=byte_buffers(SIZE, keep=read_ahead + 1),
    )  # fmt: skip


async def test_buffers_are_reused_once_released_and_chunks_stay_their_own() -> None:
    blobs = [os.urandom(SIZE), os.urandom(SIZE // 2), os.urandom(SIZE), os.urandom(1)] * 3
    info, chunks = file_of(blobs)
    nodes = FakeNodes(chunks)
    got = [bytes(data) async for data in downloader(nodes).stream(info, None)]
    assert got == blobs
    assert len(set(nodes.filled)) <= 3  # read_ahead + 1 buffers for 12 chunks


async def test_each_chunk_is_read_first_from_its_own_replica_and_reads_spread() -> None:
    """The controller lists locations by node id; read in that order, node "a" would serve
    two thirds of the chunks and node "c" none."""
    a, b, c = "a" * 32, "b" * 32, "c" * 32
    blobs = [i.to_bytes(4, "big") * 16 for i in range(90)]
    pairs = [[a, b], [a, c], [b, c]]
    info, chunks = file_of(blobs, holders=pairs)
    nodes = FakeNodes(chunks)
    directory = FakeDirectory((a, b, c))
    got = [bytes(d) async for d in downloader(nodes, directory=directory).stream(info, None)]
    assert got == blobs
    expected = [f"http://{read_order(r.id, r.locations, str)[0][0]}" for r in info.chunks]
    assert nodes.served == expected
    served = {url: nodes.served.count(url) for url in ("http://a", "http://b", "http://c")}
    assert all(20 <= count <= 40 for count in served.values()), served


async def test_a_buffer_still_queued_for_sending_is_never_filled_again() -> None:
    blobs = [os.urandom(SIZE) for _ in range(8)]
    info, chunks = file_of(blobs)
    nodes = FakeNodes(chunks)
    held: list[tuple[memoryview | bytes | bytearray, bytes]] = []
    async for data in downloader(nodes).stream(info, None, released=lambda: False):
        held.append((data, bytes(data)))  # as a transport would: keeps the view
    assert all(bytes(view) == copy for view, copy in held)  # none was overwritten
    assert len(set(nodes.filled)) == len(blobs)  # each chunk went into a buffer of its own


async def test_a_chunk_larger_than_the_buffers_is_read_into_its_own() -> None:
    blobs = [os.urandom(SIZE + 1), os.urandom(10)]
    info, chunks = file_of(blobs)
    nodes = FakeNodes(chunks)
    assert [bytes(d) async for d in downloader(nodes).stream(info, None)] == blobs
    assert len(nodes.filled) == 1


async def test_a_download_reads_ahead_but_never_holds_more_than_read_ahead_chunks() -> None:
    blobs = [os.urandom(SIZE) for _ in range(10)]
    info, chunks = file_of(blobs)
    nodes = FakeNodes(chunks)
    held: list[int] = []  # at each chunk sent: chunks read so far and not yet sent, plus it
    got: list[bytes] = []
    async for data in downloader(nodes, read_ahead=3).stream(info, None):
        for _ in range(3):  # a slow receiver: every fetch started meanwhile gets to run
            await asyncio.sleep(0)
        held.append(nodes.reads - len(got))
        got.append(bytes(data))
    assert got == blobs
    assert max(held) == 3, held  # the one being sent and two fetched ahead
    assert held[:8] == [3] * 8, held  # ...all the way, until the file's end is in sight


async def slowly(
    nodes: FakeNodes, stream: AsyncIterator[memoryview | bytes | bytearray], held: list[int]
) -> list[bytes]:
    """Read a download as a slow receiver would, noting at each chunk how many chunks
    were read from the nodes and not yet sent (the one being sent included)."""
    got: list[bytes] = []
    async for data in stream:
        for _ in range(3):
            await asyncio.sleep(0)
        held.append(nodes.reads - len(got))
        got.append(bytes(data))
    return got


async def test_downloads_at_once_share_the_pool_fairly_and_give_it_all_back() -> None:
    blobs = [os.urandom(SIZE) for _ in range(12)]
    info, chunks = file_of(blobs)
    pool = ReadAheadPool(4)
    lent: list[int] = []

    class Watched(FakeNodes):
        async def get_chunk(self, *args: Any, **kwargs: Any) -> bytearray | memoryview:
            lent.append(pool.lent)
            return await super().get_chunk(*args, **kwargs)

    one, two = Watched(chunks), Watched(chunks)
    held_one: list[int] = []
    held_two: list[int] = []
    got = await asyncio.gather(
        slowly(one, downloader(one, read_ahead=6, pool=pool).stream(info, None), held_one),
        slowly(two, downloader(two, read_ahead=6, pool=pool).stream(info, None), held_two),
    )
    assert list(got) == [blobs, blobs]
    # The first began alone and borrowed all four; once both ran, each held its own two
    # and half the pool (the first shrinking to it as its chunks were sent), never the
    # six --read-ahead allows one download alone.
    assert held_one[0] == OWN_CHUNKS + 4, held_one
    assert max(held_one[2:] + held_two) == OWN_CHUNKS + 2, (held_one, held_two)
    assert max(lent) == 4, lent  # the pool was used, and never overdrawn
    assert (pool.lent, pool.downloads) == (0, 0)


async def test_one_download_alone_borrows_up_to_read_ahead_an_empty_pool_lends_nothing() -> None:
    blobs = [os.urandom(SIZE) for _ in range(10)]
    info, chunks = file_of(blobs)
    for size, most in ((16, 6), (0, OWN_CHUNKS)):
        nodes = FakeNodes(chunks)
        held: list[int] = []
        pool = ReadAheadPool(size)
        stream = downloader(nodes, read_ahead=6, pool=pool).stream(info, None)
        got = await slowly(nodes, stream, held)
        assert got == blobs
        assert max(held) == most, (size, held)
        assert (pool.lent, pool.downloads) == (0, 0)


async def test_a_download_given_up_halfway_gives_back_what_it_borrowed() -> None:
    blobs = [os.urandom(SIZE) for _ in range(10)]
    info, chunks = file_of(blobs)
    pool = ReadAheadPool(8)
    stream = downloader(FakeNodes(chunks), read_ahead=6, pool=pool).stream(info, None)
    async for _ in stream:
        break  # the receiver went away
    assert pool.lent == 4
    await stream.aclose()
    assert (pool.lent, pool.downloads) == (0, 0)


def test_a_download_that_began_alone_shrinks_to_its_share_as_others_begin() -> None:
    pool = ReadAheadPool(6)
    first = pool.lease(8)
    assert all(first.may_hold(held) for held in range(8))  # own 2 + all 6 of the pool
    assert (first.borrowed, pool.lent) == (6, 6)
    second, third = pool.lease(8), pool.lease(8)  # share now 2 each
    assert second.may_hold(2) is False  # the pool is lent out: own chunks only
    first.settle(6)  # two sent: 6 held, 4 borrowed
    assert first.may_hold(6) is False  # above its share: does not borrow again
    assert second.may_hold(2) and second.may_hold(3) and not second.may_hold(4)
    first.settle(2)
    assert third.may_hold(2) and third.may_hold(3) and not third.may_hold(4)
    for lease in (first, second, third):
        lease.close()
    assert (pool.lent, pool.downloads) == (0, 0)
