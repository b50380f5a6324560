"""The C allocator's settings for a process that streams large bodies.

Every socket read hands Python a new bytes object of up to 256 KiB. glibc's malloc serves
an allocation above its mmap threshold (128 KiB at start) with a fresh ``mmap``, and gives
it back with ``munmap`` when freed: the kernel zeroes and faults in every page of every
read again. glibc raises the threshold by itself once a large block is freed, but a node
never frees one (its chunk buffers are ``mmap`` objects, not malloc'd), so it stayed at
128 KiB: ~50,000 page faults per node per GiB received, a third of its system time.

Fixed thresholds instead: allocations under 1 MiB come from the heap and are reused, and
up to 8 MiB of free heap is kept rather than handed back and faulted in again; chunk-sized
blocks (4 MiB) still get their own maps, so memory they held goes back to the system as
soon as they are freed and a process's resident size does not creep up with heap
fragmentation.
"""

from __future__ import annotations

import ctypes

# mallopt(3) parameters
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3

MMAP_THRESHOLD = 1024 * 1024
TRIM_THRESHOLD = 8 * 1024 * 1024


def tune_allocator() -> bool:
    """Set the thresholds above; False where the C library is not glibc (nothing done)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    if not hasattr(libc, "gnu_get_libc_version"):  # another libc.so.6 (musl has none)
        return False
    mallopt = libc.mallopt
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
