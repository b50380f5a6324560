"""HTTP Range (RFC 9110 §14) for a single byte range, and Content-Disposition (RFC 6266)."""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass

from filefleet.core.errors import RangeNotSatisfiable

_RANGE_RE = re.compile(r"bytes=(\d*)-(\d*)")


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # inclusive

    @property
    def length(self) -> int:
        return self.end - self.start + 1


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The range asked for, None for the whole file; RangeNotSatisfiable (416) if it cannot be.

    Several ranges (``bytes=0-1,5-6``) or a malformed header are ignored, as RFC 9110 allows:
    the whole file is served.
    """
    if not header:
        return None
    match = _RANGE_RE.fullmatch(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if first == "" and last == "":
        return None
    if first == "":  # suffix: the last N bytes
        n = int(last)
        if n == 0 or size == 0:
            raise RangeNotSatisfiable(f"range {header!r} not satisfiable for {size} bytes")
        return ByteRange(max(0, size - n), size - 1)
    start = int(first)
    end = int(last) if last else size - 1
    if start >= size or end < start:
        raise RangeNotSatisfiable(f"range {header!r} not satisfiable for {size} bytes")
    return ByteRange(start, min(end, size - 1))


def content_disposition(name: str) -> str:
    """``attachment`` with an ASCII fallback and the exact name as RFC 5987 ``filename*``."""
    fallback = "".join(c if 0x20 <= ord(c) < 0x7F and c not in '"\\%;' else "_" for c in name)
    encoded = urllib.parse.quote(name, safe="")
    return f"attachment; filename=\"{fallback or 'file'}\"; filename*=UTF-8''{encoded}"
