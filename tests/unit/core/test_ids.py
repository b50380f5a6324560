import hashlib

import pytest

from filefleet.core import ids
from filefleet.core.errors import InvalidInput

GOOD_CHUNK = hashlib.sha256(b"x").hexdigest()


def test_chunk_id_accepts_lowercase_sha256() -> None:
    assert ids.chunk_id(GOOD_CHUNK) == GOOD_CHUNK


@pytest.mark.parametrize(
    "bad",
    [
        "",
        GOOD_CHUNK[:-1],
        GOOD_CHUNK + "0",
        GOOD_CHUNK.upper(),
        "../" + GOOD_CHUNK[3:],
        GOOD_CHUNK[:62] + "/x",
        GOOD_CHUNK[:63] + "\n",
        None,
        123,
    ],
)
def test_chunk_id_rejects_anything_else(bad: object) -> None:
    with pytest.raises(InvalidInput, match="invalid chunk id"):
        ids.chunk_id(bad)


@pytest.mark.parametrize("bad", ["../../etc/passwd", "a" * 15, "a" * 65, "abc def ghijklmnopq", ""])
def test_file_id_rejects_paths_and_bad_lengths(bad: str) -> None:
    with pytest.raises(InvalidInput):
        ids.file_id(bad)


def test_new_ids_are_valid_and_distinct() -> None:
    files = {ids.new_file_id() for _ in range(200)}
    assert len(files) == 200
    for f in files:
        assert ids.file_id(f) == f and len(f) == 24
    node = ids.new_node_id()
    assert ids.node_id(node) == node
    assert len(ids.new_secret()) == 64


def test_node_id_format() -> None:
    with pytest.raises(InvalidInput):
        ids.node_id("G" * 32)
