import fcntl
import hashlib
import mmap
import os
from pathlib import Path

import pytest

from filefleet.fastpath import durable, reading

MiB = 1024 * 1024


@pytest.mark.parametrize("size", [0, 1, 4095, 4096, 4097, 4 * MiB - 1, 4 * MiB])
def test_reads_any_size_into_an_aligned_buffer(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    durable.write_durably(tmp_path / "chunk", data)
    buffer = mmap.mmap(-1, 4 * MiB)
    buffer[:] = b"\xff" * len(buffer)  # leftovers of an earlier chunk must not leak in
    assert reading.read_into(tmp_path / "chunk", buffer) == size
    assert buffer[:size] == data


def test_a_chunk_larger_than_the_buffer_is_left_to_the_caller(tmp_path: Path) -> None:
    (tmp_path / "big").write_bytes(os.urandom(8192 + 1))
    assert reading.read_into(tmp_path / "big", mmap.mmap(-1, 8192)) is None


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        reading.read_into(tmp_path / "absent", mmap.mmap(-1, 4096))


@pytest.mark.parametrize("refused_at", ["open", "read"])
def test_file_systems_refusing_o_direct_get_plain_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, refused_at: str
) -> None:
    """Some file systems refuse O_DIRECT when the file is opened, some only at the read."""
    data = os.urandom(10_000)
    (tmp_path / "chunk").write_bytes(data)
    real_open, real_readv = os.open, os.readv

    def open_(path: str, flags: int, *args: int) -> int:
        if refused_at == "open" and flags & os.O_DIRECT:
            raise OSError(22, "Invalid argument")
        return real_open(path, flags, *args)

    def readv(fd: int, buffers: list[memoryview]) -> int:
        if refused_at == "read" and fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT:
            raise OSError(22, "Invalid argument")
        return real_readv(fd, buffers)

    monkeypatch.setattr(reading, "_direct_supported", True)
    monkeypatch.setattr(os, "open", open_)
    monkeypatch.setattr(os, "readv", readv)
    buffer = mmap.mmap(-1, 16384)
    assert reading.read_into(tmp_path / "chunk", buffer) == len(data)
    assert buffer[: len(data)] == data
    assert reading._direct_supported is False


@pytest.mark.parametrize("size", [0, 1, 4097, reading.HASH_BLOCK, 3 * reading.HASH_BLOCK + 513])
def test_hash_file_gives_the_sha256_size_and_inode(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    durable.write_durably(tmp_path / "chunk", data)
    digest, got_size, inode = reading.hash_file(tmp_path / "chunk")
    assert (digest, got_size) == (hashlib.sha256(data).hexdigest(), size)
    assert inode == os.stat(tmp_path / "chunk").st_ino


def test_hash_file_reads_plainly_where_o_direct_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = os.urandom(reading.HASH_BLOCK + 10)
    (tmp_path / "chunk").write_bytes(data)
    real_open = os.open

    def open_(path: str, flags: int, *args: int) -> int:
        if flags & os.O_DIRECT:
            raise OSError(22, "Invalid argument")
        return real_open(path, flags, *args)

    monkeypatch.setattr(reading, "_direct_supported", True)
    monkeypatch.setattr(os, "open", open_)
    assert reading.hash_file(tmp_path / "chunk")[0] == hashlib.sha256(data).hexdigest()
    assert reading._direct_supported is False
    with pytest.raises(FileNotFoundError):
        reading.hash_file(tmp_path / "absent")
