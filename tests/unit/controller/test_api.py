"""The controller's domain calls, over a stand-in store that records what it was asked."""

from __future__ import annotations

from typing import Any

from filefleet.controller import api, chunks, ui
from filefleet.controller.params import ChunkQuery
from filefleet.store.base import MetadataStore


class Recorder:
    """Answers every store call with ``answer`` and remembers the calls."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def __getattr__(self, name: str) -> Any:
        async def call(*args: Any, **_: Any) -> Any:
            self.calls.append((name, args))
            return self.answer

        return call


def as_store(recorder: Recorder) -> MetadataStore:
    return recorder  # type: ignore[return-value]


async def test_a_replica_counts_for_node_ttl_plus_repair_after() -> None:
    store = Recorder([])
    await chunks.under_replicated(as_store(store), ChunkQuery(2, repair_after=60, limit=5), 10)
    assert store.calls == [("chunks_below", (2, 70, 5))]


def test_every_seed_route_is_served_and_none_is_public() -> None:
    table = api.api.including(ui.api)  # as app.py registers them
    routes = {(d.method, d.path) for d in table.docs}
    seed = {
        ("POST", "/file"),
        ("POST", "/file/{id}"),
        ("GET", "/file/{id}"),
        ("POST", "/ping"),
        ("GET", "/active-nodes"),
    }
    assert seed | {("GET", "/status"), ("GET", "/ui")} <= routes
    assert table.public_paths() == frozenset()
