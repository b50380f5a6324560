"""The bundle's zip layout: what Python's zipfile reads back, byte ranges, zip64."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import zipfile
import zlib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from filefleet.core.ziplayout import LIMIT_32, MemberSlice, ZipLayout, ZipMember

MOMENT = datetime(2026, 11, 25, 10, 30, 42, tzinfo=UTC)


def layout_of(files: dict[str, bytes]) -> ZipLayout:
    members = [ZipMember(name, len(data), zlib.crc32(data)) for name, data in files.items()]
    return ZipLayout(members, MOMENT)


def materialise(
    layout: ZipLayout, blobs: list[bytes], start: int = 0, end: int | None = None
) -> bytes:
    out = bytearray()
    for piece in layout.pieces(start, end):
        if isinstance(piece, MemberSlice):
            out += blobs[piece.index][piece.start : piece.start + piece.length]
        else:
            out += piece
    return bytes(out)


FILES = {"empty.txt": b"", "Grüße – 日本.txt": "ünïcödé\n".encode(), "data.bin": os.urandom(70_001)}


def test_zipfile_reads_every_member_back() -> None:
    layout = layout_of(FILES)
    archive = materialise(layout, list(FILES.values()))
    assert len(archive) == layout.size
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        assert zf.testzip() is None
        assert zf.namelist() == list(FILES)
        for name, data in FILES.items():
            assert zf.read(name) == data
            info = zf.getinfo(name)
            assert info.compress_type == zipfile.ZIP_STORED
            assert info.date_time == (2026, 11, 25, 10, 30, 42)


@pytest.mark.skipif(shutil.which("unzip") is None, reason="unzip is not installed")
def test_info_zip_tests_it_clean(tmp_path: Path) -> None:
    path = tmp_path / "bundle.zip"
    path.write_bytes(materialise(layout_of(FILES), list(FILES.values())))
    done = subprocess.run(["unzip", "-t", str(path)], capture_output=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert b"No errors detected" in done.stdout


def test_the_same_metadata_gives_the_same_bytes() -> None:
    blobs = list(FILES.values())
    assert materialise(layout_of(FILES), blobs) == materialise(layout_of(FILES), blobs)


@pytest.mark.parametrize("start", [0, 1, 29, 30, 31, 100, 5_000, 70_100, -1])
def test_any_range_is_the_slice_of_the_whole(start: int) -> None:
    layout = layout_of(FILES)
    blobs = list(FILES.values())
    whole = materialise(layout, blobs)
    first = start % layout.size
    for end in (first, first + 1, first + 65_536, layout.size - 1, layout.size + 10):
        assert materialise(layout, blobs, first, end) == whole[first : end + 1]


def test_a_single_member_archive_and_an_empty_member_only() -> None:
    for files in ({"only": b"x"}, {"nothing": b""}):
        layout = layout_of(files)
        with zipfile.ZipFile(io.BytesIO(materialise(layout, list(files.values())))) as zf:
            assert zf.testzip() is None
            assert [zf.read(n) for n in files] == list(files.values())


def test_more_members_than_the_classic_count_uses_zip64_end_records() -> None:
    files = {f"f{i}": b"" for i in range(0x10005)}
    layout = layout_of(files)
    archive = materialise(layout, [b""] * len(files))
    assert b"PK\x06\x06" in archive[-200:]
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        assert len(zf.infolist()) == len(files)


def test_a_member_past_4_gib_and_one_beyond_it(tmp_path: Path) -> None:
    """A member of 4 GiB + 1 zero bytes (sparse on disk), then a small one whose offset
    needs zip64: the central directory and both members read back."""
    big = LIMIT_32 + 2
    zeros = bytes(64 * 1024 * 1024)
    crc = 0
    left = big
    while left:
        crc = zlib.crc32(zeros[: min(left, len(zeros))], crc)
        left -= min(left, len(zeros))
    tail = b"after the big one"
    layout = ZipLayout(
        [ZipMember("big.bin", big, crc), ZipMember("tail.txt", len(tail), zlib.crc32(tail))],
        MOMENT,
    )
    path = tmp_path / "big.zip"
    with path.open("wb") as out:
        for piece in layout.pieces():
            if isinstance(piece, MemberSlice):
                if piece.index == 0:
                    out.seek(piece.length, os.SEEK_CUR)  # a hole reads as zeros
                else:
                    out.write(tail)
            else:
                out.write(piece)
    assert path.stat().st_size == layout.size
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        assert [i.file_size for i in infos] == [big, len(tail)]
        assert infos[1].header_offset > LIMIT_32
        assert crc == infos[0].CRC
        assert zf.read("tail.txt") == tail
