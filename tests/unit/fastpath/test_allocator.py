"""The allocator settings: socket-read-sized blocks are reused, not faulted in anew."""

from __future__ import annotations

import subprocess
import sys

import pytest

from filefleet.fastpath.allocator import tune_allocator

# Like a server reading a body: 256 KiB pieces made and freed, small objects kept.
PROGRAM = """
import resource, sys
if sys.argv[1] == "tuned":
    from filefleet.fastpath.allocator import tune_allocator
    assert tune_allocator()
kept = []
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(300):
    pieces = [bytes(256 * 1024) for _ in range(4)]
    kept.append(bytes(100))
    del pieces
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", PROGRAM, mode], capture_output=True, text=True, check=True
    )
    return int(out.stdout)


@pytest.mark.skipif(not tune_allocator(), reason="the C library is not glibc")
def test_read_sized_blocks_are_reused_once_tuned() -> None:
    # 300 x 4 x 64 pages would be ~77,000 faults if each piece were mapped afresh.
    tuned, plain = _faults("tuned"), _faults("plain")
    assert tuned < 3000, f"{tuned} page faults with the allocator tuned ({plain} without)"
