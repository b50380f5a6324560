"""The profile's steps find the lines they name: a hash or a copy moved in the code must
not fall silently into another step."""

import pytest

from bench.profile import lines_with, step_of


@pytest.mark.parametrize(
    ("module", "text"),
    [
        ("fastpath/pooled_chunks.py", "own.update("),
        ("fastpath/pooled_chunks.py", "piece_in_buffer[:] ="),
        ("http/bodies.py", "digest.update(view"),
        ("http/bodies.py", "view[filled:end] = piece"),
        ("fastpath/reading.py", "digest.update("),
    ],
)
def test_each_named_line_is_found_once(module: str, text: str) -> None:
    assert len(lines_with(module, text)) == 1, f"{text!r} in {module}"


def test_samples_are_sorted_by_the_innermost_known_line() -> None:
    (hash_line,) = lines_with("fastpath/reading.py", "digest.update(")
    worker = "Thread.run (threading.py:982);_hash_file (filefleet/node/chunkstore.py:405)"
    assert step_of(f"{worker};_hash_all (filefleet/{hash_line}") == "SHA-256"
    assert step_of(f"{worker};_hash_all (filefleet/fastpath/reading.py:1)") == "disk reads"
    assert step_of("_worker (concurrent/futures/thread.py:81)") is None
