"""The JSON shapes of the node's API (DESIGN §4); the OpenAPI document is generated from them."""

from __future__ import annotations

from pydantic import BaseModel, Field

from filefleet.core.models import ChunkId, ChunkPage


class ChunkStored(BaseModel):
    """``POST /chunk``: 201 with ``created: true``, or 200 when the node already had it."""

    id: ChunkId
    size: int = Field(ge=0)
    created: bool


class ChunkDeleted(BaseModel):
    """``DELETE /chunk/{id}``: ``deleted: false`` when the chunk was not here (idempotent)."""

    id: ChunkId
    deleted: bool


class ScrubStats(BaseModel):
    rate: float  # MiB/s; 0 when the scrubber is off
    scanned: int  # chunks re-hashed since start
    scanned_bytes: int
    corrupt: int  # chunks found corrupt and quarantined
    reported: int  # corrupt chunks whose location the controller has dropped
    unreported: int  # corrupt chunks still to report (retried every pass)
    passes: int  # complete walks over the whole store


class NodeStats(BaseModel):
    """``GET /stats``."""

    id: str
    chunks: int
    bytes: int
    capacity: int
    free: int
    quarantined: int
    scrub: ScrubStats


__all__ = ["ChunkDeleted", "ChunkPage", "ChunkStored", "NodeStats"]
