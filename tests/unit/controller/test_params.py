"""Query strings of the controller's listing routes."""

from __future__ import annotations

import pytest

from filefleet.controller.params import ChunkQuery, chunk_query, file_query, repair_after
from filefleet.core.errors import InvalidInput
from filefleet.core.file_query import FileQuery


def test_file_query_defaults() -> None:
    assert file_query({}) == FileQuery()


def test_file_query_reads_every_parameter() -> None:
    query = file_query(
        {
            "state": "deleting",
            "expired": "true",
            "exhausted": "true",
            "idle": "1h",
            "after": "abcdefghijklmnop",
            "limit": "5",
            "chunks": "false",
        }
    )
    assert query == FileQuery(
        state="deleting",
        expired=True,
        exhausted=True,
        idle=3600.0,
        after="abcdefghijklmnop",
        limit=5,
        with_chunks=False,
    )


@pytest.mark.parametrize(
    "given",
    [
        {"state": "gone"},
        {"expired": "maybe"},
        {"idle": "soon"},
        {"after": "../etc"},
        {"limit": "0"},
        {"limit": "1001"},
        {"limit": "ten"},
        {"colour": "red"},
    ],
)
def test_file_query_rejects_bad_values(given: dict[str, str]) -> None:
    with pytest.raises(InvalidInput):
        file_query(given)


def test_chunk_query_defaults_to_the_controllers_replicas() -> None:
    assert chunk_query({}, 3) == ChunkQuery(replicas=3)
    assert chunk_query({"replicas": "2", "repair_after": "60s", "limit": "7"}, 3) == ChunkQuery(
        2, 60.0, 7
    )
    with pytest.raises(InvalidInput):
        chunk_query({"replicas": "0"}, 3)
    with pytest.raises(InvalidInput):
        chunk_query({"ttl": "1"}, 3)


def test_repair_after() -> None:
    assert repair_after({}) == 0.0
    assert repair_after({"repair_after": "1.5s"}) == 1.5
    with pytest.raises(InvalidInput):
        repair_after({"grace": "1"})
