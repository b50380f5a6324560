"""The node's disk: chunks stored by id, written atomically, listed, deleted, quarantined.

Layout under the data directory (DESIGN §4; operators and tests rely on it)::

    <data>/node-id                      this node's id, written once, kept across restarts
    <data>/chunks/<id[:2]>/<chunk id>   one file per chunk, named by the sha256 of its bytes
    <data>/tmp/                         chunks being written; anything here at start is stale
    <data>/quarantine/<chunk id>[.n]    chunks the scrubber found corrupt, kept for inspection

Every chunk id is validated (``core.ids.chunk_id``: 64 lowercase hex characters) before a
path is built from it, so no request can name a file outside the data directory.

The blocking work (hashing, writing, fsync, listing) runs in threads (``asyncio.to_thread``)
so the event loop keeps serving other requests and hashing uses the second core.

Operations on one chunk id that must not interleave (the existence check and rename of a
put, the age check and unlink of a delete, the inode check and move of a quarantine) hold
one of a fixed set of thread locks chosen by the id: a delete can never slip in between
"the node already has it" and the touch that protects it from that delete (DESIGN §8).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import itertools
import logging
import mmap
import os
import secrets
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from filefleet.core import ids
from filefleet.core.errors import (
    Conflict,
    HashMismatch,
    InsufficientStorage,
    InvalidInput,
    NotFound,
)
from filefleet.fastpath.durable import write_durably
from filefleet.fastpath.hashing import sha256_hex_async
from filefleet.fastpath.reading import hash_file, read_into
from filefleet.node import quarantine

log = logging.getLogger(__name__)

_LOCK_STRIPES = 64


IdPage = tuple[list[str], str | None]  # chunk ids, and the ``after`` of the next page


@dataclass(frozen=True)
class PutResult:
    id: str
    size: int
    created: bool  # False: the node already had the chunk and touched it


@dataclass(frozen=True)
class Usage:
    chunks: int
    bytes: int
    quarantined: int


@dataclass(frozen=True)
class Space:
    capacity: int  # bytes this node offers: --capacity, else the size of its disk
    free: int  # bytes a caller can still store: what is left above --reserve and capacity


@dataclass(frozen=True)
class ScrubResult:
    id: str
    size: int
    ok: bool
    inode: int


class ChunkStore:
    """Chunks on one directory. Create once per process; all methods are thread-safe."""

    def __init__(self, data_dir: Path, *, capacity: int | None = None, reserve: int = 0) -> None:
        self.root = Path(data_dir)
        self.chunks_dir = self.root / "chunks"
        self.tmp_dir = self.root / "tmp"
        self.quarantine_dir = self.root / "quarantine"
        self.capacity = capacity
        self.reserve = reserve
        for directory in (self.root, self.chunks_dir, self.tmp_dir, self.quarantine_dir):
            directory.mkdir(parents=True, exist_ok=True)
        self.node_id = self._load_node_id()
        self.stale_cleaned = self._clean_tmp()
        self._locks = [threading.Lock() for _ in range(_LOCK_STRIPES)]
        self._usage_lock = threading.Lock()
        self._chunks, self._bytes = self._scan_usage()
        self._quarantined = len(quarantine.quarantined(self.quarantine_dir))

    # -- start-up -------------------------------------------------------------------------

    def _load_node_id(self) -> str:
        """The id in ``<data>/node-id``; generated and written (atomically) the first time."""
        path = self.root / "node-id"
        try:
            return ids.node_id(path.read_text().strip())
        except FileNotFoundError:
            pass
        except InvalidInput as exc:
            # Never silently become another node: the controller knows us by this id.
            raise InvalidInput(f"{path} is damaged ({exc.message}); fix or remove it") from exc
        node = ids.new_node_id()
        tmp = self.tmp_dir / f"node-id.{secrets.token_hex(4)}"
        self._write_durably(tmp, node.encode() + b"\n")
        os.replace(tmp, path)
        _fsync_dir(self.root)
        return node

    def _clean_tmp(self) -> int:
        """Remove writes a crash or kill left half done; none of them was ever acknowledged."""
        removed = 0
        for entry in self.tmp_dir.iterdir():
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()
                removed += 1
        if removed:
            log.info("removed %d stale temporary file(s) from %s", removed, self.tmp_dir)
        return removed

    def _scan_usage(self) -> tuple[int, int]:
        count = total = 0
        for entry in self._walk_entries():
            with contextlib.suppress(FileNotFoundError):
                total += entry.stat().st_size
                count += 1
        return count, total

    def _walk_entries(self, after: str = "") -> Iterator[os.DirEntry[str]]:
        """Chunk files in id order, starting after ``after``; foreign files are skipped."""
        prefixes = sorted(
            e.name for e in os.scandir(self.chunks_dir) if len(e.name) == 2 and e.is_dir()
        )
        for prefix in prefixes:
            if prefix < after[:2]:
                continue
            entries = sorted(os.scandir(self.chunks_dir / prefix), key=lambda e: e.name)
            for entry in entries:
                if entry.name > after and ids.CHUNK_ID_RE.fullmatch(entry.name):
                    yield entry

    # -- paths and locks -------------------------------------------------------------------

    def path(self, chunk_id: str) -> Path:
        """Where the chunk lives (whether or not it exists); InvalidInput for a bad id."""
        cid = ids.chunk_id(chunk_id)
        return self.chunks_dir / cid[:2] / cid

    def _lock(self, chunk_id: str) -> threading.Lock:
        return self._locks[int(chunk_id[:4], 16) % _LOCK_STRIPES]

    # -- put ------------------------------------------------------------------------------

    async def put(
        self, chunk_id: str, data: bytes | bytearray | memoryview, *, actual: str | None = None
    ) -> PutResult:
        """Verify ``data`` against ``chunk_id``, then store it; HashMismatch on a mismatch
        (nothing is written), InsufficientStorage when it would eat into the reserve.
        ``actual`` is the SHA-256 of ``data`` when the caller has it already (the node's
        chunk POST hashes a body as it arrives); otherwise it is computed here."""
        cid = ids.chunk_id(chunk_id)
        if actual is None:
            actual = await sha256_hex_async(data)
        if actual != cid:
            raise HashMismatch(f"chunk body hashes to {actual}, not to the given hash {cid}")
        staged = await asyncio.to_thread(self._stage, cid, data)
        return await asyncio.to_thread(self._commit, cid, staged, data)

    def _stage(self, cid: str, data: bytes | bytearray | memoryview) -> Path | None:
        """Write order, and what a crash at each step leaves behind:

        1. (here) write the bytes to ``<data>/tmp/<id>.<random>`` and fsync the file.
           Crash: a partial temp file, never under a chunk's name; removed at next start.
        2. (``_commit``, once the hash matched) rename it to ``chunks/<id[:2]>/<id>``:
           atomic, the name shows nothing or the complete fsynced bytes. Crash: the chunk
           exists, or only the temp file does; the client got no answer and stores again.
        3. (``_commit``) fsync the directory so the name survives a power loss before we
           answer. Crash before it: the rename may be lost, but nobody was told 201.

        Returns None without writing when the chunk is already here (it is touched in
        ``_commit``, only after its hash is verified).
        """
        if (self.chunks_dir / cid[:2] / cid).exists():
            return None
        self._check_space(len(data))
        tmp = self.tmp_dir / f"{cid}.{secrets.token_hex(4)}"
        try:
            self._write_durably(tmp, data)
        except BaseException as exc:
            _unlink_quietly(tmp)
            if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
                # The check above passed, but the disk filled meanwhile (writes at once,
                # or another process on the same disk): a full disk, not a failure.
                raise InsufficientStorage(
                    f"the node's disk filled up while storing {len(data)} bytes"
                ) from exc
            raise
        return tmp

    def _commit(
        self, cid: str, tmp: Path | None, data: bytes | bytearray | memoryview
    ) -> PutResult:
        size = len(data)
        final = self.chunks_dir / cid[:2] / cid
        if tmp is None:
            if self._touch(cid, final):
                return PutResult(cid, size, created=False)
            tmp = self._stage(cid, data)  # deleted since _stage looked: write it after all
            if tmp is None:  # ...and stored again by a concurrent put meanwhile
                return self._commit(cid, None, data)
        try:
            # A concurrent put of the same chunk is serialised by the lock; the second one
            # replaces identical verified bytes and reports "existed".
            with self._lock(cid):
                existed = final.exists()
                try:
                    os.rename(tmp, final)
                except FileNotFoundError:  # first chunk under this prefix
                    final.parent.mkdir(exist_ok=True)
                    _fsync_dir(self.chunks_dir)
                    os.rename(tmp, final)
        finally:
            _unlink_quietly(tmp)
        _fsync_dir(final.parent)
        if not existed:
            with self._usage_lock:
                self._chunks += 1
                self._bytes += size
        return PutResult(cid, size, created=not existed)

    async def touch(self, chunk_id: str) -> int | None:
        """Refresh the chunk's mtime, as a store of it would: its size, or None if it is
        not here."""
        cid = ids.chunk_id(chunk_id)
        final = self.chunks_dir / cid[:2] / cid
        return await asyncio.to_thread(self._touch_size, cid, final)

    def _touch_size(self, cid: str, final: Path) -> int | None:
        with self._lock(cid):
            try:
                os.utime(final)
                return os.stat(final).st_size
            except FileNotFoundError:
                return None

    def _touch(self, cid: str, final: Path) -> bool:
        """Refresh the chunk's mtime if it exists (so a delete within the grace refuses)."""
        with self._lock(cid):
            try:
                os.utime(final)
            except FileNotFoundError:
                return False
        return True

    def _check_space(self, size: int) -> None:
        disk = shutil.disk_usage(self.root)
        if disk.free - size < self.reserve:
            raise InsufficientStorage(
                f"storing {size} bytes would leave {disk.free - size} bytes free on the node's "
                f"disk, below its reserve of {self.reserve}"
            )
        if self.capacity is not None and self._bytes + size > self.capacity:
            raise InsufficientStorage(
                f"storing {size} bytes would exceed the node's capacity of {self.capacity}"
            )

    @staticmethod
    def _write_durably(path: Path, data: bytes | bytearray | memoryview) -> None:
        write_durably(path, data)  # O_DIRECT where the file system allows it; fsynced

    # -- read -----------------------------------------------------------------------------

    async def stat(self, chunk_id: str) -> os.stat_result:
        """The chunk file's stat; NotFound if this node does not hold it."""
        path = self.path(chunk_id)
        try:
            return await asyncio.to_thread(os.stat, path)
        except FileNotFoundError:
            raise NotFound(f"chunk {chunk_id} is not on this node") from None

    async def read_into(self, chunk_id: str, buffer: mmap.mmap) -> int | None:
        """Read the chunk into ``buffer`` (page-aligned; ``O_DIRECT`` where allowed): its
        size, or None when it is larger than the buffer. NotFound if it is not here."""
        path = self.path(chunk_id)
        try:
            return await asyncio.to_thread(read_into, path, buffer)
        except FileNotFoundError:
            raise NotFound(f"chunk {chunk_id} is not on this node") from None

    async def read(self, chunk_id: str) -> bytes:
        """The chunk's bytes, read in one call (chunks are at most a few MiB)."""
        path = self.path(chunk_id)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            raise NotFound(f"chunk {chunk_id} is not on this node") from None

    async def list(self, after: str | None = None, limit: int = 1000) -> IdPage:
        """Up to ``limit`` chunk ids in order after ``after``, and the ``after`` of the next
        page (None when this page reaches the end)."""
        start = ids.chunk_id(after) if after else ""
        if limit < 1:
            raise InvalidInput(f"limit must be at least 1, not {limit}")
        return await asyncio.to_thread(self._list, start, limit)

    def _list(self, after: str, limit: int) -> IdPage:
        names = [e.name for e in itertools.islice(self._walk_entries(after), limit + 1)]
        if len(names) > limit:
            return names[:limit], names[limit - 1]
        return names, None

    # -- delete ---------------------------------------------------------------------------

    async def delete(self, chunk_id: str, grace: float = 0.0) -> bool:
        """Delete the chunk unless it was written or touched within ``grace`` seconds (by
        this node's clock: Conflict). True if deleted, False if it was not here."""
        cid = ids.chunk_id(chunk_id)
        return await asyncio.to_thread(self._delete, cid, grace)

    def _delete(self, cid: str, grace: float) -> bool:
        final = self.chunks_dir / cid[:2] / cid
        with self._lock(cid):
            try:
                st = os.stat(final)
            except FileNotFoundError:
                return False
            age = time.time() - st.st_mtime
            if age < grace:
                raise Conflict(
                    f"chunk {cid} was written or touched {age:.1f}s ago, within the "
                    f"{grace:g}s grace; kept"
                )
            # Not fsynced: a crash may bring the chunk back, and then it is an orphan the
            # GC's sweep deletes again.
            os.unlink(final)
        with self._usage_lock:
            self._chunks -= 1
            self._bytes -= st.st_size
        return True

    # -- scrub and quarantine -------------------------------------------------------------

    async def verify(self, chunk_id: str) -> ScrubResult:
        """Re-hash the chunk from disk (streaming, in a thread); NotFound if it is gone."""
        path = self.path(chunk_id)
        try:
            return await asyncio.to_thread(_hash_file, chunk_id, path)
        except FileNotFoundError:
            raise NotFound(f"chunk {chunk_id} is not on this node") from None

    async def quarantine(self, chunk_id: str, inode: int | None = None) -> Path | None:
        """Move the chunk to ``<data>/quarantine/`` (``quarantine.py``): where it went, or
        None if it is gone, or was replaced (its inode differs from ``inode``) since it was
        found corrupt."""
        cid = ids.chunk_id(chunk_id)
        return await asyncio.to_thread(self._quarantine, cid, inode)

    def _quarantine(self, cid: str, inode: int | None) -> Path | None:
        final = self.chunks_dir / cid[:2] / cid
        with self._lock(cid):
            moved = quarantine.move_aside(final, self.quarantine_dir, cid, inode)
        if moved is None:
            return None
        target, size = moved
        with self._usage_lock:
            self._chunks -= 1
            self._bytes -= size
            self._quarantined += 1
        return target

    # -- accounting -----------------------------------------------------------------------

    def usage(self) -> Usage:
        with self._usage_lock:
            return Usage(self._chunks, self._bytes, self._quarantined)

    def space(self) -> Space:
        """Capacity and free bytes as the controller should see them (a statvfs call)."""
        disk = shutil.disk_usage(self.root)
        free = max(0, disk.free - self.reserve)
        if self.capacity is None:
            return Space(capacity=disk.total, free=free)
        return Space(capacity=self.capacity, free=max(0, min(free, self.capacity - self._bytes)))


def _hash_file(chunk_id: str, path: Path) -> ScrubResult:
    actual, size, inode = hash_file(path)  # O_DIRECT, past the page cache
    return ScrubResult(chunk_id, size, actual == chunk_id, inode)


def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def lock_data_dir(data_dir: Path) -> IO[bytes]:
    """Hold an exclusive lock on ``<data>/lock`` for the life of the process, so two nodes
    never share one data directory (the second would delete the first's temp files)."""
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    handle = open(Path(data_dir) / "lock", "wb")  # noqa: SIM115 - held until exit
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        handle.close()
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            raise InvalidInput(f"{data_dir} is in use by another running node") from exc
        raise
    return handle
