"""The chunk-list rules and the database URL translation, without a database."""

from __future__ import annotations

import pytest

from filefleet.controller.appending import check_complete, merge_chunks
from filefleet.core.errors import Conflict, InvalidInput
from filefleet.core.models import ChunkRef
from filefleet.store.engine import async_url

A, B, C = "a" * 64, "b" * 64, "c" * 64


def ref(chunk: str, order: int, size: int = 4) -> ChunkRef:
    return ChunkRef(id=chunk, order=order, size=size)


def test_merge_returns_only_new_orders_sorted() -> None:
    new = merge_chunks({0: (A, 4)}, [ref(C, 2), ref(A, 0), ref(B, 1)])
    assert [(c.order, c.id) for c in new] == [(1, B), (2, C)]


def test_merge_same_chunk_again_is_a_noop() -> None:
    assert merge_chunks({0: (A, 4)}, [ref(A, 0), ref(A, 0)]) == []


def test_merge_other_chunk_at_taken_order_conflicts() -> None:
    with pytest.raises(Conflict, match="order 0"):
        merge_chunks({0: (A, 4)}, [ref(B, 0)])
    with pytest.raises(Conflict):
        merge_chunks({0: (A, 4)}, [ref(A, 0, size=5)])


def test_merge_one_order_twice_in_a_request_is_invalid() -> None:
    with pytest.raises(InvalidInput, match="twice"):
        merge_chunks({}, [ref(A, 3), ref(B, 3)])


def test_complete_needs_orders_from_zero_without_gaps() -> None:
    check_complete({0: (A, 4), 1: (B, 2)}, 6)
    check_complete({}, 0)
    with pytest.raises(InvalidInput, match=r"missing order\(s\) \[1\]"):
        check_complete({0: (A, 4), 2: (B, 2)}, 6)
    with pytest.raises(InvalidInput, match=r"\[0\]"):
        check_complete({1: (A, 4)}, 4)


def test_complete_needs_sizes_adding_up() -> None:
    with pytest.raises(InvalidInput, match="sum to 6"):
        check_complete({0: (A, 4), 1: (B, 2)}, 7)
    with pytest.raises(InvalidInput):
        check_complete({}, 1)


@pytest.mark.parametrize(
    ("given", "driver", "database"),
    [
        ("sqlite:///meta.db", "sqlite+aiosqlite", "meta.db"),
        ("sqlite:////var/lib/ff/meta.db", "sqlite+aiosqlite", "/var/lib/ff/meta.db"),
        ("postgresql://u:p@db:5433/ff", "postgresql+asyncpg", "ff"),
        ("postgres://u@db/ff", "postgresql+asyncpg", "ff"),
        ("postgresql+asyncpg://u@db/ff", "postgresql+asyncpg", "ff"),
    ],
)
def test_urls_become_async_driver_urls(given: str, driver: str, database: str) -> None:
    url = async_url(given)
    assert (url.drivername, url.database) == (driver, database)


@pytest.mark.parametrize("given", ["mysql://db/ff", "sqlite://", "sqlite:///:memory:", "nonsense"])
def test_unsupported_urls_are_invalid(given: str) -> None:
    with pytest.raises(InvalidInput):
        async_url(given)
