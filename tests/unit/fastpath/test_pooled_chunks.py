"""``pooled_chunks``: a byte stream cut into pooled chunk buffers, each hashed as it lands."""

import asyncio
import hashlib
import itertools
from collections.abc import AsyncIterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from filefleet.core.chunking import chunk_count, split_bytes
from filefleet.fastpath.buffers import BufferPool, byte_buffers
from filefleet.fastpath.hashing import InOrderDigest
from filefleet.fastpath.pooled_chunks import pooled_chunks


async def _pieces(pieces: list[bytes]) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


async def _cut(pieces: list[bytes], chunk_size: int) -> list[bytes]:
    pool = BufferPool(chunk_size, 2)
    whole = InOrderDigest()
    out = []
    async for chunk in pooled_chunks(_pieces(pieces), pool, whole):
        out.append(bytes(chunk.view))
        assert chunk.sha256 == hashlib.sha256(chunk.view).hexdigest()  # hashed as it landed
        chunk.release()
    assert await whole.hexdigest() == hashlib.sha256(b"".join(pieces)).hexdigest()
    return out


@given(
    data=st.binary(max_size=5000),
    chunk_size=st.integers(min_value=1, max_value=700),
    cuts=st.lists(st.integers(min_value=0, max_value=5000), max_size=20),
)
def test_any_piece_boundaries_give_the_reference_chunks(
    data: bytes, chunk_size: int, cuts: list[int]
) -> None:
    points = sorted({0, len(data), *(c for c in cuts if c <= len(data))})
    pieces = [data[a:b] for a, b in itertools.pairwise(points)]
    chunks = asyncio.run(_cut(pieces, chunk_size))
    assert chunks == split_bytes(data, chunk_size)
    assert all(len(c) == chunk_size for c in chunks[:-1])
    assert len(chunks) == chunk_count(len(data), chunk_size)


async def test_pool_bounds_chunks_in_flight() -> None:
    """With every buffer held, the cutter waits: memory cannot grow with the body."""
    pool = BufferPool(4, 2)
    held = []
    gen = pooled_chunks(_pieces([b"x" * 40]), pool, InOrderDigest())
    held.append(await anext(gen))
    held.append(await asyncio.wait_for(anext(gen), 1))
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(anext(gen), 0.05)


async def test_empty_stream_has_no_chunks() -> None:
    assert await _cut([], 4) == []
    assert await _cut([b""], 4) == []


def test_golden_chunk_ids_of_4mib_slices() -> None:
    """Chunk ids are the SHA-256 of each 4 MiB slice: pinned, never to change silently."""
    size = 4 * 1024 * 1024
    data = bytes(range(256)) * (size // 256) + b"tail"
    chunks = asyncio.run(_cut([data[:1000], data[1000:]], size))
    assert [len(c) for c in chunks] == [size, 4]
    assert [hashlib.sha256(c).hexdigest() for c in chunks] == [
        "2b07811057df887086f06a67edc6ebf911de8b6741156e7a2eb1416a4b8b1b2e",
        "0c62f876ef1dea830de9f32c2f4b46dd6d74d50d15896e09ef5a2fcd4ac7e1d7",
    ]


async def test_pool_takes_from_the_stock_and_gives_back_what_was_released() -> None:
    """An upload's buffers come from the frontend's stock and go back to it: a download
    (or the next upload) reuses the very same memory."""
    stock = byte_buffers(8, keep=4)
    first = BufferPool(8, 2, stock=stock)
    a, b = await first.acquire(), await first.acquire()
    first.release(a)
    first.close()  # b was never released: it is not given back
    second = BufferPool(8, 2, stock=stock)
    assert await second.acquire() is a
    assert await second.acquire() is not b


async def test_a_buffer_goes_back_once_sent_and_hashed_into_the_whole_file() -> None:
    """The sender's release alone does not free the buffer while the whole-file hash may
    still read it; both together do."""
    pool = BufferPool(4, 1)
    whole = InOrderDigest()
    gen = pooled_chunks(_pieces([b"abcdefgh"]), pool, whole)
    first = await anext(gen)
    await whole.settle()  # hashed: one holder left, the sender
    assert first.holders == 1
    with pytest.raises(TimeoutError):  # the only buffer is still the sender's
        await asyncio.wait_for(anext(gen), 0.05)
    first.release()
    gen = pooled_chunks(_pieces([b"ijkl"]), pool, whole)  # the pool has its buffer back
    second = await asyncio.wait_for(anext(gen), 1)
    assert second.buffer is first.buffer
    second.release()
    assert await whole.hexdigest() == hashlib.sha256(b"abcdijkl").hexdigest()
