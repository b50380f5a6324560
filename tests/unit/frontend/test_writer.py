"""``ChunkWriter``: where one-chunk uploads land, each with a placement of its own."""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import cast

from filefleet.core.placement import NodeCandidate
from filefleet.core.suspects import SuspectNodes
from filefleet.frontend.nodes import NodeDirectory
from filefleet.frontend.writer import ChunkWriter
from filefleet.http.node_api import NodeClient

NODES = [NodeCandidate(letter * 32, f"http://{letter}", 10**9) for letter in "abc"]


class FakeNodes:
    def __init__(self) -> None:
        self.stored: Counter[str] = Counter()  # chunks stored per node URL

    async def put_chunk(self, url: str, chunk_id: str, data: bytes) -> None:
        self.stored[url] += 1


class FakeDirectory:
    def __init__(self) -> None:
        self.suspects = SuspectNodes()

    async def candidates(self, *, fresh: bool = True) -> list[NodeCandidate]:
        return list(NODES)

    def forget(self) -> None:
        pass


async def test_one_chunk_uploads_spread_over_every_node_with_equal_free_space() -> None:
    nodes = FakeNodes()
    writer = ChunkWriter(cast(NodeClient, nodes), cast(NodeDirectory, FakeDirectory()))
    for i in range(90):
        data = i.to_bytes(4, "big")
        placement = await writer.placement()  # each upload its own, as upload.py makes it
        await writer.place(hashlib.sha256(data).hexdigest(), data, placement)
    assert sorted(nodes.stored) == ["http://a", "http://b", "http://c"]
    assert all(20 <= n <= 40 for n in nodes.stored.values()), nodes.stored
