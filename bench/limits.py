"""What this machine can do at most, per byte of an upload: the ceilings the throughput
figures should be read against.

    python -m bench.limits

- SHA-256 per core (hashlib, 4 MiB buffers): an upload hashes every byte three times
  (chunk id and whole file on the frontend, verification on the node).
- memcpy (4 MiB, into a reused buffer): each copy of a chunk in user space.
- durable 4 MiB writes (O_DIRECT when allowed, fsync, as a node stores a chunk) with 1 and
  3 writers in the data directory's file system (``--dir``, default: a temporary
  directory): the one replica an upload writes before it answers.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import threading
import time
from pathlib import Path

from filefleet.fastpath.durable import write_durably

MiB = 1024 * 1024
CHUNK = 4 * MiB


def sha256_gib_s(total: int = 1024 * MiB) -> float:
    data = os.urandom(CHUNK)
    start = time.perf_counter()
    for _ in range(total // CHUNK):
        hashlib.sha256(data).digest()
    return total / (1024 * MiB) / (time.perf_counter() - start)


def memcpy_gib_s(total: int = 2048 * MiB) -> float:
    data, target = os.urandom(CHUNK), bytearray(CHUNK)
    start = time.perf_counter()
    for _ in range(total // CHUNK):
        target[:] = data
    return total / (1024 * MiB) / (time.perf_counter() - start)


def durable_mib_s(directory: Path, writers: int, total: int = 512 * MiB) -> float:
    data = os.urandom(CHUNK)
    each = total // CHUNK // writers

    def write(k: int) -> None:
        for i in range(each):
            path = directory / f"w{k}-{i}"
            write_durably(path, data)
            path.unlink()

    threads = [threading.Thread(target=write, args=(k,)) for k in range(writers)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return each * writers * CHUNK / MiB / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dir", type=Path, default=None, help="where to write (a data dir)")
    args = parser.parse_args()
    print(f"SHA-256, one core: {sha256_gib_s():.2f} GiB/s")
    print(f"memcpy 4 MiB: {memcpy_gib_s():.1f} GiB/s")
    with tempfile.TemporaryDirectory(prefix="filefleet-limits-", dir=args.dir) as tmp:
        for writers in (1, 3):
            rate = durable_mib_s(Path(tmp), writers)
            print(f"durable 4 MiB writes (O_DIRECT + fsync), {writers} writer(s): {rate:.0f} MiB/s")


if __name__ == "__main__":
    main()
