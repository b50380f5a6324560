import errno
import mmap
import os
from pathlib import Path

import pytest

from filefleet.fastpath import durable


@pytest.mark.parametrize(
    "size", [1, 4095, 4096, 4097, 3 * 4096 + 5, 4 * 1024 * 1024, 4 * 1024 * 1024 + 1]
)
def test_any_size_round_trips(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    path = tmp_path / "chunk"
    durable.write_durably(path, data)
    assert path.read_bytes() == data


@pytest.mark.parametrize("size", [4096, 4 * 1024 * 1024, 4 * 1024 * 1024 + 7])
def test_writable_buffers_aligned_or_not_round_trip(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    page = mmap.mmap(-1, size + 4096)  # page-aligned: written as it is
    page[:size] = data
    shifted = bytearray(size + 1)  # one byte past a boundary: copied first
    shifted[1:] = data
    aligned_view, shifted_view = memoryview(page)[:size], memoryview(shifted)[1:]
    assert durable._page_aligned(aligned_view)
    assert not durable._page_aligned(shifted_view)
    for name, view in (("aligned", aligned_view), ("shifted", shifted_view)):
        durable.write_durably(tmp_path / name, view)
        assert (tmp_path / name).read_bytes() == data


def test_empty(tmp_path: Path) -> None:
    durable.write_durably(tmp_path / "empty", b"")
    assert (tmp_path / "empty").read_bytes() == b""


def test_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "chunk"
    path.write_bytes(b"old")
    with pytest.raises(FileExistsError):
        durable.write_durably(path, os.urandom(8192))
    assert path.read_bytes() == b"old"


def test_a_file_system_refusing_o_direct_gets_buffered_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Some file systems (older tmpfs, some network file systems) refuse O_DIRECT with
    EINVAL; none here does, so the refusal is simulated at os.open. The write falls back
    and still lands whole, and later writes skip O_DIRECT."""
    real_open = os.open

    def refusing_open(path: str, flags: int, mode: int = 0o777) -> int:
        if flags & os.O_DIRECT:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_open(path, flags, mode)

    monkeypatch.setattr(durable, "_direct_supported", True)
    monkeypatch.setattr(os, "open", refusing_open)
    data = os.urandom(2 * 4096 + 7)
    durable.write_durably(tmp_path / "chunk", data)
    assert (tmp_path / "chunk").read_bytes() == data
    assert durable._direct_supported is False
