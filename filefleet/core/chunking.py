"""Chunk arithmetic: a file is cut into chunks of ``chunk_size`` bytes (4 MiB by default),
the last one shorter; an empty file has no chunks. Chunk *i* holds bytes
``[i * chunk_size, (i + 1) * chunk_size)`` and its id is the SHA-256 of those bytes.

The frontend cuts a streamed body with ``fastpath/pooled_chunks.py``; the CLI reads a file on
disk chunk by chunk. Both must agree with ``split_bytes``, which tests use as the reference.
"""

from __future__ import annotations

DEFAULT_CHUNK_SIZE = 4 * 1024 * 1024

# Chunks `filefleet share` sends at once through the chunk API; the frontend keeps as many
# chunk buffers between requests. A chunk request is answered only once its chunk is
# stored, recorded and folded into the whole-file hash (~100 ms on a busy 2-core machine),
# so the chunks in flight are what keeps every process busy meanwhile: with 8, the cores
# sat idle a sixth of the time; 16 uploads ~10 % faster (history of docs/benchmarks.md)
# and holds at most 64 MiB of buffers on the frontend per sharing client.
CHUNK_API_INFLIGHT = 16


def split_bytes(data: bytes, chunk_size: int = DEFAULT_CHUNK_SIZE) -> list[bytes]:
    """The chunks of an in-memory byte string: the reference cut."""
    return [data[i : i + chunk_size] for i in range(0, len(data), chunk_size)]


def chunk_count(size: int, chunk_size: int = DEFAULT_CHUNK_SIZE) -> int:
    return (size + chunk_size - 1) // chunk_size


def chunk_span(order: int, size: int, chunk_size: int = DEFAULT_CHUNK_SIZE) -> tuple[int, int]:
    """(offset, length) of chunk ``order`` in a file of ``size`` bytes."""
    offset = order * chunk_size
    if order < 0 or offset >= size:
        raise ValueError(f"chunk {order} is outside a file of {size} bytes")
    return offset, min(chunk_size, size - offset)
