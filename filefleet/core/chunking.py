"""Cutting a byte stream into fixed-size chunks.

The frontend receives a body in pieces of whatever size the network delivers; a
ChunkAssembler gathers them into chunks of exactly ``chunk_size`` bytes (the last one may
be shorter; an empty stream has no chunks). Each chunk is joined once, so a byte is copied
once between the socket buffer and the chunk that is hashed and sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator

DEFAULT_CHUNK_SIZE = 4 * 1024 * 1024


class ChunkAssembler:
    def __init__(self, chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        self.chunk_size = chunk_size
        self._pieces: list[memoryview] = []
        self._buffered = 0

    def feed(self, piece: bytes) -> Iterator[bytes]:
        """Add ``piece``; yield every chunk it completes."""
        view = memoryview(piece)
        while view:
            room = self.chunk_size - self._buffered
            take = view[:room]  # a view: no copy until the chunk is joined
            self._pieces.append(take)
            self._buffered += len(take)
            view = view[room:]
            if self._buffered == self.chunk_size:
                yield self._take()

    def finish(self) -> Iterator[bytes]:
        """Yield the last, shorter chunk if any bytes are left."""
        if self._buffered:
            yield self._take()

    def _take(self) -> bytes:
        pieces, self._pieces, self._buffered = self._pieces, [], 0
        return b"".join(pieces)


def split_bytes(data: bytes, chunk_size: int = DEFAULT_CHUNK_SIZE) -> list[bytes]:
    """The chunks of an in-memory byte string (used by tests and the CLI's hashing)."""
    return [data[i : i + chunk_size] for i in range(0, len(data), chunk_size)]


def chunk_count(size: int, chunk_size: int = DEFAULT_CHUNK_SIZE) -> int:
    return (size + chunk_size - 1) // chunk_size


async def assemble(
    pieces: AsyncIterable[bytes], chunk_size: int = DEFAULT_CHUNK_SIZE
) -> AsyncIterator[bytes]:
    """Chunks of ``chunk_size`` bytes from an asynchronous stream of pieces."""
    assembler = ChunkAssembler(chunk_size)
    async for piece in pieces:
        for chunk in assembler.feed(piece):
            yield chunk
    for chunk in assembler.finish():
        yield chunk


def assemble_sync(pieces: Iterable[bytes], chunk_size: int = DEFAULT_CHUNK_SIZE) -> list[bytes]:
    assembler = ChunkAssembler(chunk_size)
    out: list[bytes] = []
    for piece in pieces:
        out.extend(assembler.feed(piece))
    out.extend(assembler.finish())
    return out
