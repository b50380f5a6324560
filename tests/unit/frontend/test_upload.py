"""The streaming upload's calls to the controller: a file of one short chunk is appended
and made active in one call; a longer file appends, then finishes; a one-chunk file whose
chunk the GC marked meanwhile is stored again, appended alone, then finished."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest

from filefleet.core.errors import ChunkCollecting
from filefleet.core.models import FileCreate, FileUpdate
from filefleet.fastpath.buffers import byte_buffers
from filefleet.frontend.nodes import NodeDirectory
from filefleet.frontend.options import UploadOptions
from filefleet.frontend.upload import Uploader, UploadSteps
from filefleet.frontend.writer import ChunkWriter
from filefleet.http.controller_api import ControllerClient
from filefleet.http.node_api import NodeClient
from filefleet.http.replicas import ReplicaReader
from tests.unit.frontend.test_writer import FakeDirectory

CHUNK = 64 * 1024


class Controller:
    """Stands in for the controller: keeps the record's chunks and state; refuses the
    first ``refuse`` updates that name a chunk as being collected (and changes nothing)."""

    def __init__(self, refuse: int = 0) -> None:
        self.refuse = refuse
        self.calls: list[str] = []  # "create", "append", "append+finish", "finish"
        self.chunks: dict[int, str] = {}
        self.state = ""

    async def create_file(self, record: FileCreate) -> Any:
        self.calls.append("create")
        self.state = "uploading"

    async def update_file(self, file_id: str, update: FileUpdate) -> Any:
        kind = "+".join(
            k for k, given in (("append", update.chunks), ("finish", update.state)) if given
        )
        self.calls.append(kind)
        if update.chunks and self.refuse:
            self.refuse -= 1
            raise ChunkCollecting(f"chunk {update.chunks[0].id} is being collected")
        self.chunks.update({c.order: c.id for c in update.chunks})
        if update.state is not None:
            assert update.size is not None and update.sha256 is not None
            self.state = update.state

    async def append_chunks(self, file_id: str, chunks: list[Any]) -> Any:
        return await self.update_file(file_id, FileUpdate(chunks=chunks))


class Nodes:
    """Stands in for the nodes: keeps what is stored, serves it back."""

    def __init__(self) -> None:
        self.stored: dict[str, bytes] = {}
        self.puts = 0

    async def put_chunk(self, url: str, chunk_id: str, data: Any) -> None:
        assert hashlib.sha256(data).hexdigest() == chunk_id
        self.puts += 1
        self.stored[chunk_id] = bytes(data)

    async def get_chunk(self, url: str, chunk_id: str, **_: Any) -> bytes:
        return self.stored[chunk_id]


async def upload(controller: Controller, nodes: Nodes, data: bytes) -> None:
    writer = ChunkWriter(cast(NodeClient, nodes), cast(NodeDirectory, FakeDirectory()))
    replicas = ReplicaReader(cast(NodeClient, nodes), cast(ControllerClient, controller),
                             cast(Any, FakeDirectory()).suspects)  # fmt: skip
    steps = UploadSteps(cast(ControllerClient, controller), writer, replicas, queue=None)
    uploader = Uploader(steps, chunk_size=CHUNK, inflight=2, max_upload=10**9,
                        buffers=byte_buffers(CHUNK, keep=4))  # fmt: skip

    async def body() -> AsyncIterator[bytes]:
        for start in range(0, len(data), 10_000):
            yield data[start : start + 10_000]

    options = UploadOptions(name="f", content_type="application/octet-stream", expires=60,
                            max_downloads=None)  # fmt: skip
    result = await uploader.upload(body(), options, "http://frontend")
    assert result.size == len(data) and result.sha256 == hashlib.sha256(data).hexdigest()
    assert controller.state == "active"
    assert b"".join(nodes.stored[controller.chunks[i]] for i in sorted(controller.chunks)) == data


@pytest.mark.parametrize("size", [1, 1000, CHUNK - 1])
async def test_a_file_of_one_short_chunk_is_appended_and_finished_in_one_call(size: int) -> None:
    controller = Controller()
    await upload(controller, Nodes(), b"x" * size)
    assert controller.calls == ["create", "append+finish"]


@pytest.mark.parametrize("size", [CHUNK, CHUNK + 1, 3 * CHUNK])
async def test_a_longer_file_appends_then_finishes(size: int) -> None:
    """A full first chunk may have more after it: nothing says it is the whole file."""
    controller = Controller()
    await upload(controller, Nodes(), bytes(range(256)) * (size // 256) + b"y" * (size % 256))
    assert controller.calls[0] == "create" and controller.calls[-1] == "finish"
    assert set(controller.calls[1:-1]) == {"append"}


async def test_a_one_chunk_file_whose_chunk_is_being_collected_is_stored_again() -> None:
    controller, nodes = Controller(refuse=1), Nodes()
    await upload(controller, nodes, b"z" * 1000)
    # Refused (nothing appended, nothing finished), stored again, appended alone, finished.
    assert controller.calls == ["create", "append+finish", "append", "finish"]
    assert nodes.puts == 2
