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
import hashlib
import mmap
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

_direct_supported = hasattr(os, "O_DIRECT")
HASH_BLOCK = 1024 * 1024  # a re-hash reads this much at a time: hashed while in the cache
_local = threading.local()  # each worker thread's own HASH_BLOCK buffer, kept
T = TypeVar("T")


def read_into(path: Path, buffer: mmap.mmap) -> int | None:
    """Read the file at ``path`` into ``buffer`` (page-aligned and a whole number of pages
    long, as ``aligned_buffers`` makes them); its size, or None when it does not fit (the
    caller reads it another way).
    FileNotFoundError when it is not there."""
    return _with_file(path, lambda fd: _read_all(fd, buffer))


def _with_file(path: Path, work: Callable[[int], T]) -> T:
    """``work`` on the file opened with ``O_DIRECT``, or plainly where the file system
    refuses it (at open, or at the first read: then it is never tried again)."""
    global _direct_supported
    if _direct_supported:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
            try:
                return work(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
            _direct_supported = False
    fd = os.open(path, os.O_RDONLY)
    try:
        return work(fd)
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


def hash_file(path: Path) -> tuple[str, int, int]:
    """The SHA-256 (hex), size and inode of the file at ``path``, read in ``HASH_BLOCK``
    pieces into this thread's own page-aligned buffer (``O_DIRECT`` where allowed) and
    hashed piece by piece. FileNotFoundError when it is not there.

    What it buys the scrubber (``bench.fastpath disk``, calm 2-core AMD EPYC): 0.79 instead
    of 1.24 core-s per GiB re-hashed, against 1 MiB ``read`` calls through the page cache
    (the cache's copy, its readahead and 262,000 page faults per GiB, and a cache filled
    with chunks nobody reads next); an idle node at the default 8 MiB/s used 0.015 of a
    core, now 0.007."""
    return _with_file(path, _hash_all)


def _hash_all(fd: int) -> tuple[str, int, int]:
    buffer: mmap.mmap | None = getattr(_local, "buffer", None)
    if buffer is None:
        buffer = _local.buffer = mmap.mmap(-1, HASH_BLOCK)
    view = memoryview(buffer)
    digest = hashlib.sha256()
    inode = os.fstat(fd).st_ino
    size = 0
    while got := os.readv(fd, [view]):
        digest.update(view[:got])
        size += got
    return digest.hexdigest(), size, inode
