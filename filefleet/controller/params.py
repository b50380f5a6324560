"""Query strings of the controller's listing routes, parsed and bounded (400 otherwise)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import get_args

from filefleet.core import ids
from filefleet.core.errors import InvalidInput
from filefleet.core.file_query import FileQuery
from filefleet.core.models import FileState
from filefleet.core.units import parse_duration

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
_STATES: tuple[str, ...] = get_args(FileState)


@dataclass(frozen=True)
class ChunkQuery:
    """``GET /chunks/under-replicated?replicas=&repair_after=&limit=``."""

    replicas: int
    repair_after: float = 0.0
    limit: int = DEFAULT_LIMIT


def _only(query: Mapping[str, str], allowed: set[str]) -> None:
    unknown = sorted(set(query) - allowed)
    if unknown:
        raise InvalidInput(f"unknown query parameter(s) {unknown}; known: {sorted(allowed)}")


def flag(name: str, value: str) -> bool:
    lowered = value.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise InvalidInput(f"{name} must be true or false, not {value[:20]!r}")


def bounded_int(name: str, value: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise InvalidInput(f"{name} must be an integer, not {value[:20]!r}") from None
    if not low <= number <= high:
        raise InvalidInput(f"{name} must be between {low} and {high}")
    return number


def file_query(query: Mapping[str, str]) -> FileQuery:
    """``GET /files?state=&expired=true&exhausted=true&idle=&sha256=&after=&limit=&chunks=``
    back into the ``FileQuery`` a client sent (``FileQuery.as_params``)."""
    _only(query, {"state", "expired", "exhausted", "idle", "sha256", "after", "limit", "chunks"})
    state = query.get("state")
    if state is not None and state not in _STATES:
        raise InvalidInput(f"state must be one of {list(_STATES)}")
    return FileQuery(
        state=state,  # type: ignore[arg-type]  # checked against FileState just above
        expired=flag("expired", query["expired"]) if "expired" in query else False,
        exhausted=flag("exhausted", query["exhausted"]) if "exhausted" in query else False,
        idle=parse_duration(query["idle"]) if "idle" in query else None,
        sha256=ids.chunk_id(query["sha256"]) if "sha256" in query else None,  # same format
        after=ids.file_id(query["after"]) if "after" in query else None,
        limit=bounded_int("limit", query["limit"], 1, MAX_LIMIT) if "limit" in query else 100,
        with_chunks=flag("chunks", query["chunks"]) if "chunks" in query else True,
    )


def chunk_query(query: Mapping[str, str], default_replicas: int) -> ChunkQuery:
    _only(query, {"replicas", "repair_after", "limit"})
    return ChunkQuery(
        replicas=(
            bounded_int("replicas", query["replicas"], 1, 100)
            if "replicas" in query
            else default_replicas
        ),
        repair_after=parse_duration(query["repair_after"]) if "repair_after" in query else 0.0,
        limit=(
            bounded_int("limit", query["limit"], 1, MAX_LIMIT)
            if "limit" in query
            else DEFAULT_LIMIT
        ),
    )


@dataclass(frozen=True)
class NodeChunkQuery:
    """``GET /nodes/{id}/chunks?after=&until=&limit=``: a page of the chunks listed on a
    node, ids in ``(after, until]``."""

    after: str | None = None
    until: str | None = None
    limit: int = MAX_LIMIT


def node_chunk_query(query: Mapping[str, str]) -> NodeChunkQuery:
    _only(query, {"after", "until", "limit"})
    return NodeChunkQuery(
        after=ids.chunk_id(query["after"]) if "after" in query else None,
        until=ids.chunk_id(query["until"]) if "until" in query else None,
        limit=bounded_int("limit", query["limit"], 1, MAX_LIMIT) if "limit" in query else 1000,
    )


def repair_after(query: Mapping[str, str]) -> float:
    """``GET /chunk/{id}?repair_after=``: extra seconds a silent node's replicas count."""
    _only(query, {"repair_after"})
    return parse_duration(query["repair_after"]) if "repair_after" in query else 0.0


def force(query: Mapping[str, str]) -> bool:
    """``DELETE /nodes/{id}?force=true``."""
    _only(query, {"force"})
    return flag("force", query["force"]) if "force" in query else False
