"""ChunkStore: the node's disk, tested without a server."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from filefleet.core import ids
from filefleet.core.errors import Conflict, InsufficientStorage, InvalidInput
from filefleet.node.chunkstore import ChunkStore, lock_data_dir
from tests.unit.node.chunks import cid, flip_byte


async def test_layout_is_pinned(tmp_path: Path) -> None:
    """Golden: operators and tests rely on this layout (DESIGN §4)."""
    data = tmp_path / "data"
    store = ChunkStore(data)
    await store.put(cid(b"hello"), b"hello")
    chunk = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    assert (data / "chunks" / "2c" / chunk).read_bytes() == b"hello"
    assert store.path(chunk) == data / "chunks" / "2c" / chunk
    assert ids.node_id((data / "node-id").read_text().strip()) == store.node_id
    assert (data / "tmp").is_dir() and list((data / "tmp").iterdir()) == []
    assert (data / "quarantine").is_dir()


async def test_put_new_then_existing_touches(store: ChunkStore) -> None:
    data = os.urandom(5000)
    first = await store.put(cid(data), data)
    assert (first.created, first.size, first.id) == (True, 5000, cid(data))
    path = store.path(cid(data))
    old = time.time() - 3600
    os.utime(path, (old, old))
    again = await store.put(cid(data), data)
    assert again.created is False
    assert path.stat().st_mtime > old + 3000  # touched
    assert store.usage().chunks == 1 and store.usage().bytes == 5000


async def test_hash_mismatch_keeps_nothing(store: ChunkStore) -> None:
    with pytest.raises(InvalidInput, match="hashes to"):
        await store.put(cid(b"other"), b"data")
    assert list(store.chunks_dir.rglob("*")) == []
    assert list(store.tmp_dir.iterdir()) == []
    assert store.usage().chunks == 0


async def test_concurrent_puts_of_one_chunk_count_once(store: ChunkStore) -> None:
    data = os.urandom(300_000)
    results = await asyncio.gather(*(store.put(cid(data), data) for _ in range(8)))
    assert sum(r.created for r in results) == 1
    assert store.usage().chunks == 1
    assert await store.read(cid(data)) == data
    assert list(store.tmp_dir.iterdir()) == []


@pytest.mark.parametrize(
    "bad",
    [
        "../etc/passwd",
        "..",
        "/etc/passwd",
        "A" * 64,
        "2CF24DBA5FB0A30E26E83B2AC5B9E29E1B161E5C1FA7425E73043362938B9824",
        "a" * 63,
        "a" * 65,
        "g" * 64,
        "a" * 62 + "/.",
        "",
    ],
)
async def test_bad_ids_never_become_paths(store: ChunkStore, bad: str) -> None:
    with pytest.raises(InvalidInput):
        store.path(bad)
    with pytest.raises(InvalidInput):
        await store.put(bad, b"x")
    with pytest.raises(InvalidInput):
        await store.delete(bad)
    with pytest.raises(InvalidInput):
        await store.stat(bad)
    with pytest.raises(InvalidInput):
        await store.quarantine(bad)


async def test_delete_respects_grace_and_is_idempotent(store: ChunkStore) -> None:
    data = b"chunk"
    await store.put(cid(data), data)
    with pytest.raises(Conflict):
        await store.delete(cid(data), grace=60)
    assert store.path(cid(data)).exists()
    old = time.time() - 120
    os.utime(store.path(cid(data)), (old, old))
    assert await store.delete(cid(data), grace=60) is True
    assert not store.path(cid(data)).exists()
    assert await store.delete(cid(data), grace=60) is False
    assert store.usage().chunks == 0 and store.usage().bytes == 0


async def test_re_store_protects_from_delete(store: ChunkStore) -> None:
    """DESIGN §8 step 3: a store of a chunk the node holds renews its grace."""
    data = b"shared"
    await store.put(cid(data), data)
    old = time.time() - 7200
    os.utime(store.path(cid(data)), (old, old))
    await store.put(cid(data), data)
    with pytest.raises(Conflict):
        await store.delete(cid(data), grace=3600)


async def test_listing_pages_in_id_order(store: ChunkStore) -> None:
    blobs = [f"chunk {i}".encode() for i in range(25)]
    for blob in blobs:
        await store.put(cid(blob), blob)
    expected = sorted(cid(b) for b in blobs)
    seen: list[str] = []
    after: str | None = None
    while True:
        page, after = await store.list(after, limit=7)
        seen += page
        if after is None:
            break
        assert page[-1] == after
    assert seen == expected
    page, following = await store.list(limit=25)
    assert page == expected and following is None
    page, following = await store.list(expected[-1], limit=5)
    assert page == [] and following is None


async def test_listing_skips_foreign_files(store: ChunkStore) -> None:
    await store.put(cid(b"x"), b"x")
    (store.chunks_dir / "zz").mkdir()
    (store.chunks_dir / cid(b"x")[:2] / "notes.txt").write_text("hi")
    page, _ = await store.list()
    assert page == [cid(b"x")]


async def test_listing_rejects_bad_cursor(store: ChunkStore) -> None:
    with pytest.raises(InvalidInput):
        await store.list("../x")
    with pytest.raises(InvalidInput):
        await store.list(limit=0)


async def test_node_id_survives_restart_and_stale_tmp_is_cleaned(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = ChunkStore(data)
    await first.put(cid(b"kept"), b"kept")
    (data / "tmp" / "half-written").write_bytes(b"partial")
    second = ChunkStore(data)
    assert second.node_id == first.node_id
    assert second.stale_cleaned == 1 and list((data / "tmp").iterdir()) == []
    assert second.usage().chunks == 1 and second.usage().bytes == 4


def test_damaged_node_id_is_refused(tmp_path: Path) -> None:
    (tmp_path / "node-id").write_text("not an id\n")
    with pytest.raises(InvalidInput, match="damaged"):
        ChunkStore(tmp_path)


async def test_reserve_and_capacity_refuse_with_507(tmp_path: Path) -> None:
    full = ChunkStore(tmp_path / "a", reserve=2**62)
    with pytest.raises(InsufficientStorage):
        await full.put(cid(b"x"), b"x")
    assert full.usage().chunks == 0 and full.space().free == 0
    small = ChunkStore(tmp_path / "b", capacity=10)
    await small.put(cid(b"12345678"), b"12345678")
    assert small.space().capacity == 10 and small.space().free == 2
    with pytest.raises(InsufficientStorage):
        await small.put(cid(b"abc"), b"abc")
    assert (await small.put(cid(b"12345678"), b"12345678")).created is False  # touch only


def test_data_dir_lock_is_exclusive(tmp_path: Path) -> None:
    held = lock_data_dir(tmp_path)
    try:
        with pytest.raises(InvalidInput, match="in use"):
            lock_data_dir(tmp_path)
    finally:
        held.close()
    lock_data_dir(tmp_path).close()


async def test_verify_detects_rot_on_disk(store: ChunkStore) -> None:
    data = os.urandom(3 * 1024 * 1024 + 5)
    await store.put(cid(data), data)
    assert (await store.verify(cid(data))).ok
    flip_byte(store.path(cid(data)), 1234)
    result = await store.verify(cid(data))
    assert not result.ok and result.size == len(data)


async def test_mismatch_does_not_touch_an_existing_chunk(store: ChunkStore) -> None:
    await store.put(cid(b"old"), b"old")
    old = time.time() - 3600
    os.utime(store.path(cid(b"old")), (old, old))
    with pytest.raises(InvalidInput):
        await store.put(cid(b"old"), b"not old")
    assert store.path(cid(b"old")).stat().st_mtime == pytest.approx(old)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 2 MiB file system (tmpfs), unmounted afterwards; needs root."""
    if os.geteuid() != 0:
        if os.environ.get("FILEFLEET_REQUIRE_SERVICES") == "1":
            pytest.fail("mounting a small file system needs root")
        pytest.skip("mounting a small file system needs root")
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


async def test_a_disk_that_fills_while_writing_is_a_507_and_leaves_no_partial_file(
    small_disk: Path,
) -> None:
    # A reserve far below zero lets the space check pass, as when several writes or another
    # process fill the disk between the check and the write: the write itself meets ENOSPC.
    store = ChunkStore(small_disk / "data", reserve=-(2**40))
    data = os.urandom(3 * 1024 * 1024)
    with pytest.raises(InsufficientStorage, match="filled up"):
        await store.put(cid(data), data)
    assert list((small_disk / "data" / "tmp").iterdir()) == []
    assert not store.path(cid(data)).exists()
    small = os.urandom(64 * 1024)  # what fits still goes in
    assert (await store.put(cid(small), small)).created


async def test_below_the_reserve_a_chunk_is_refused_before_anything_is_written(
    small_disk: Path,
) -> None:
    store = ChunkStore(small_disk / "data", reserve=1024 * 1024)
    data = os.urandom(1536 * 1024)  # fits on the disk, not above the reserve
    with pytest.raises(InsufficientStorage, match="reserve"):
        await store.put(cid(data), data)
    assert list((small_disk / "data" / "tmp").iterdir()) == []
    assert store.space().free < len(data)
