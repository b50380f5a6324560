"""The zip archive of a bundle, laid out before a byte is sent (pure).

A bundle (several files behind one link) is served as a zip: stored entries (no
compression: the members are sent as the fleet holds them), each member's CRC-32 and size
in its local header (known from the bundle's metadata, so no data descriptors), zip64
records exactly where a size or an offset needs them (a member of 4 GiB or more, anything
past 4 GiB, 65,535 members or more), UTF-8 names (flag bit 11), and one timestamp, the
bundle's creation time, on every entry.

So the archive is a pure function of the bundle's metadata and its members' bytes: its
length is known before the first byte (an exact ``Content-Length``), every request gets
the same bytes (a strong ETag), and any byte range maps to header bytes made here plus
slices of members (``ZipLayout.pieces``): a resumed download fetches only the chunks it
still needs. The streaming-zip libraries we measured do not allow that (docs/api.md,
"Bundles"): zipstream-ng stamps streamed entries with the time of the request and
computes CRCs while streaming, so a range in the middle would need every byte before it;
stream-zip knows no length and no offset.

Layout (APPNOTE 6.3.10)::

    [local header 0][member 0 bytes] ... [local header n-1][member n-1 bytes]
    [central directory entry 0 ... n-1]
    [zip64 end of central directory][zip64 locator]     (only when needed)
    [end of central directory]
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

LIMIT_32 = 0xFFFFFFFF  # a 4-byte size or offset field holding this means "see zip64 extra"
LIMIT_COUNT = 0xFFFF
VERSION_ZIP64 = 45
VERSION_DEFAULT = 20
MADE_BY_UNIX = 3 << 8
FLAG_UTF8 = 1 << 11
REGULAR_FILE_644 = (0o100644 << 16) & 0xFFFFFFFF

_LOCAL = struct.Struct("<4s2B4HL2L2H")  # zipfile.structFileHeader
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")  # zipfile.structCentralDir
_END = struct.Struct("<4s4H2LH")
_END64 = struct.Struct("<4sQ2H2L4Q")
_LOCATOR64 = struct.Struct("<4sLQL")


@dataclass(frozen=True)
class ZipMember:
    name: str
    size: int
    crc32: int


@dataclass(frozen=True)
class MemberSlice:
    """Bytes ``[start, start + length)`` of member ``index``."""

    index: int
    start: int
    length: int


Piece = bytes | MemberSlice


@dataclass(frozen=True)
class _Span:
    offset: int  # where it starts in the archive
    length: int
    data: bytes | None  # header bytes, or None for member data
    member: int = -1


def dos_time(moment: datetime) -> tuple[int, int]:
    """(date, time) fields of the zip format; clamped to 1980..2107, two-second steps."""
    year = min(max(moment.year, 1980), 2107)
    date = ((year - 1980) << 9) | (moment.month << 5) | moment.day
    time = (moment.hour << 11) | (moment.minute << 5) | (moment.second // 2)
    return date, time


def _name_bytes(name: str) -> tuple[bytes, int]:
    try:
        return name.encode("ascii"), 0
    except UnicodeEncodeError:
        return name.encode("utf-8"), FLAG_UTF8


def _zip64_extra(*values: int) -> bytes:
    return struct.pack(f"<HH{len(values)}Q", 0x0001, 8 * len(values), *values)


class ZipLayout:
    """Where every byte of the archive comes from."""

    def __init__(self, members: Sequence[ZipMember], modified: datetime) -> None:
        self.members = list(members)
        date, time = dos_time(modified)
        spans: list[_Span] = []
        central: list[bytes] = []
        offset = 0
        for index, member in enumerate(self.members):
            local, entry = _headers(member, offset, date, time)
            spans.append(_Span(offset, len(local), local))
            spans.append(_Span(offset + len(local), member.size, None, index))
            central.append(entry)
            offset += len(local) + member.size
        directory = b"".join(central) + _end_records(len(central), offset, sum(map(len, central)))
        spans.append(_Span(offset, len(directory), directory))
        self._spans = [s for s in spans if s.length > 0]
        self.size = offset + len(directory)

    def pieces(self, start: int = 0, end: int | None = None) -> list[Piece]:
        """The archive's bytes ``[start, end]`` (inclusive; to the end by default) as header
        bytes and member slices, in order."""
        last = self.size - 1 if end is None else min(end, self.size - 1)
        out: list[Piece] = []
        for span in self._spans:
            lo = max(start, span.offset)
            hi = min(last + 1, span.offset + span.length)
            if lo >= hi:
                continue
            if span.data is not None:
                out.append(span.data[lo - span.offset : hi - span.offset])
            else:
                out.append(MemberSlice(span.member, lo - span.offset, hi - lo))
        return out


def _headers(member: ZipMember, offset: int, date: int, time: int) -> tuple[bytes, bytes]:
    """The member's local header and central directory entry."""
    name, flags = _name_bytes(member.name)
    big = member.size >= LIMIT_32
    far = offset >= LIMIT_32
    size_field = LIMIT_32 if big else member.size
    local_extra = _zip64_extra(member.size, member.size) if big else b""
    version = VERSION_ZIP64 if big or far else VERSION_DEFAULT
    local = _LOCAL.pack(
        b"PK\x03\x04", version, 0, flags, 0, time, date,
        member.crc32, size_field, size_field, len(name), len(local_extra),
    ) + name + local_extra  # fmt: skip
    # The central entry's zip64 extra holds, in this order, only the fields that overflow.
    central_values = ([member.size, member.size] if big else []) + ([offset] if far else [])
    central_extra = _zip64_extra(*central_values) if central_values else b""
    entry = _CENTRAL.pack(
        b"PK\x01\x02", version, MADE_BY_UNIX >> 8, version, 0, flags, 0, time, date,
        member.crc32, size_field, size_field, len(name), len(central_extra), 0, 0, 0,
        REGULAR_FILE_644, LIMIT_32 if far else offset,
    ) + name + central_extra  # fmt: skip
    return local, entry


def _end_records(count: int, directory_offset: int, directory_size: int) -> bytes:
    """The end of central directory, preceded by its zip64 form and locator when a count,
    size or offset does not fit the classic record."""
    records = b""
    if count >= LIMIT_COUNT or directory_offset >= LIMIT_32 or directory_size >= LIMIT_32:
        end64_offset = directory_offset + directory_size
        records += _END64.pack(
            b"PK\x06\x06", _END64.size - 12, MADE_BY_UNIX | VERSION_ZIP64, VERSION_ZIP64,
            0, 0, count, count, directory_size, directory_offset,
        )  # fmt: skip
        records += _LOCATOR64.pack(b"PK\x06\x07", 0, end64_offset, 1)
    records += _END.pack(
        b"PK\x05\x06", 0, 0, min(count, LIMIT_COUNT), min(count, LIMIT_COUNT),
        min(directory_size, LIMIT_32), min(directory_offset, LIMIT_32), 0,
    )  # fmt: skip
    return records
