"""The append merge: what a file's chunk list takes from an append, and when it is whole.

A file's chunks are a map order -> (chunk id, size). An append merges by order; finishing
the upload needs the orders to be exactly 0..n-1 and the sizes to add up to the file size.
No I/O here: ``file_states.py`` applies these rules to the record the store locked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from filefleet.core.errors import Conflict, InvalidInput
from filefleet.core.models import ChunkRef

ChunkList = Mapping[int, tuple[str, int]]  # order -> (chunk id, size)


def merge_chunks(existing: ChunkList, incoming: Sequence[ChunkRef]) -> list[ChunkRef]:
    """The chunks of ``incoming`` not yet in ``existing`` (those to insert).

    The same chunk again at its order is a no-op; another chunk at a taken order is a
    Conflict; one request naming an order twice with different chunks is InvalidInput.
    """
    seen: dict[int, ChunkRef] = {}
    for chunk in incoming:
        earlier = seen.get(chunk.order)
        if earlier is not None and (earlier.id, earlier.size) != (chunk.id, chunk.size):
            raise InvalidInput(f"chunk order {chunk.order} given twice with different chunks")
        seen[chunk.order] = chunk
    new: list[ChunkRef] = []
    for order, chunk in sorted(seen.items()):
        stored = existing.get(order)
        if stored is None:
            new.append(chunk)
        elif stored != (chunk.id, chunk.size):
            raise Conflict(
                f"chunk order {order} already holds chunk {stored[0]} ({stored[1]} bytes)"
            )
    return new


def check_complete(chunks: ChunkList, size: int) -> None:
    """InvalidInput unless the orders are 0..n-1 and the chunk sizes sum to ``size``."""
    orders = sorted(chunks)
    if orders != list(range(len(orders))):
        missing = sorted(set(range(max(orders, default=-1) + 1)) - set(orders))
        raise InvalidInput(f"chunks are not contiguous from 0: missing order(s) {missing[:10]}")
    total = sum(size for _, size in chunks.values())
    if total != size:
        raise InvalidInput(f"chunk sizes sum to {total} bytes, not the file size {size}")
