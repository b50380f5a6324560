import hashlib
import itertools

from hypothesis import given
from hypothesis import strategies as st

from filefleet.core.chunking import ChunkAssembler, assemble_sync, chunk_count, split_bytes


@given(
    data=st.binary(max_size=5000),
    chunk_size=st.integers(min_value=1, max_value=700),
    cuts=st.lists(st.integers(min_value=0, max_value=5000), max_size=20),
)
def test_any_piece_boundaries_give_the_same_chunks(
    data: bytes, chunk_size: int, cuts: list[int]
) -> None:
    points = sorted({0, len(data), *(c for c in cuts if c <= len(data))})
    pieces = [data[a:b] for a, b in itertools.pairwise(points)]
    chunks = assemble_sync(pieces, chunk_size)
    assert chunks == split_bytes(data, chunk_size)
    assert b"".join(chunks) == data
    assert all(len(c) == chunk_size for c in chunks[:-1])
    assert len(chunks) == chunk_count(len(data), chunk_size)


def test_empty_stream_has_no_chunks() -> None:
    assembler = ChunkAssembler(4)
    assert list(assembler.feed(b"")) == []
    assert list(assembler.finish()) == []


def test_golden_chunk_ids_of_4mib_slices() -> None:
    """Chunk ids are the SHA-256 of each 4 MiB slice: pinned, never to change silently."""
    size = 4 * 1024 * 1024
    data = bytes(range(256)) * (size // 256) + b"tail"
    chunks = assemble_sync([data[:1000], data[1000:]])
    assert [len(c) for c in chunks] == [size, 4]
    assert [hashlib.sha256(c).hexdigest() for c in chunks] == [
        "2b07811057df887086f06a67edc6ebf911de8b6741156e7a2eb1416a4b8b1b2e",
        "0c62f876ef1dea830de9f32c2f4b46dd6d74d50d15896e09ef5a2fcd4ac7e1d7",
    ]
