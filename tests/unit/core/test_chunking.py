import pytest

from filefleet.core.chunking import chunk_span


def test_chunk_span() -> None:
    assert chunk_span(0, 10, 4) == (0, 4)
    assert chunk_span(2, 10, 4) == (8, 2)
    with pytest.raises(ValueError):
        chunk_span(3, 10, 4)
