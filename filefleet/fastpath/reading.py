"""Reading a stored chunk into a reused page-aligned buffer.

A chunk is read whole, in one call, with ``O_DIRECT`` where the file system allows it: the
disk writes straight into the buffer, without passing through the page cache. Measured on
the 2-core reference machine (history of docs/benchmarks.md): 800 MiB of cold chunks read
into a reused buffer cost 0.1 s of kernel CPU with ``O_DIRECT`` and 0.35–0.4 s through the page
cache, and a fresh 4 MiB object per chunk adds ~1000 page faults each. Chunks are written
with ``O_DIRECT`` too (``durable.py``), so the page cache rarely holds them anyway.
"""

from __future__ import annotations

import errno
import mmap
import os
from pathlib import Path

_direct_supported = hasattr(os, "O_DIRECT")


def read_into(path: Path, buffer: mmap.mmap) -> int | None:
    """Read the file at ``path`` into ``buffer`` (page-aligned and a whole number of pages
    long, as ``aligned_buffers`` makes them); its size, or None when it does not fit (the
    caller reads it another way).
    FileNotFoundError when it is not there."""
    global _direct_supported
    if _direct_supported:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
            try:
                return _read_all(fd, buffer)
            finally:
                os.close(fd)
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
            # This file system refuses O_DIRECT (at open, or at the first read): stop trying.
            _direct_supported = False
    fd = os.open(path, os.O_RDONLY)
    try:
        return _read_all(fd, buffer)
    finally:
        os.close(fd)


def _read_all(fd: int, buffer: mmap.mmap) -> int | None:
    size = os.fstat(fd).st_size
    if size > len(buffer):
        return None
    view = memoryview(buffer)
    filled = 0
    while filled < size:
        got = os.readv(fd, [view[filled:]])
        if got == 0:  # shorter than fstat said (it cannot shrink: chunks are never rewritten)
            break
        filled += got
    return filled
