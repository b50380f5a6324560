"""Durations (``500ms``, ``2s``, ``10m``, ``1h``, ``7d``, plain seconds) and sizes (``4MiB``)."""

from __future__ import annotations

import re
from datetime import datetime

from filefleet.core.errors import InvalidInput

_DURATION_RE = re.compile(r"\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*(ms|s|m|h|d|w)?\s*")
_DURATION_UNITS = {
    None: 1.0,
    "ms": 0.001,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 7 * 86400.0,
}

_SIZE_RE = re.compile(r"\s*([0-9]+(?:\.[0-9]*)?)\s*([kKmMgGtT]i?[bB]?|[bB])?\s*")
_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "ki": 1024,
    "kib": 1024,
    "m": 1000**2,
    "mb": 1000**2,
    "mi": 1024**2,
    "mib": 1024**2,
    "g": 1000**3,
    "gb": 1000**3,
    "gi": 1024**3,
    "gib": 1024**3,
    "t": 1000**4,
    "tb": 1000**4,
    "ti": 1024**4,
    "tib": 1024**4,
}


def parse_duration(value: str | float | int) -> float:
    """Seconds in a duration such as ``90s``, ``30m``, ``1.5h``, ``7d`` or ``3600``."""
    if isinstance(value, bool):
        raise InvalidInput(f"invalid duration: {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION_RE.fullmatch(value)
        if match is None:
            raise InvalidInput(
                f"invalid duration {value[:40]!r}: use a number with ms, s, m, h, d or w "
                "(e.g. 90s, 30m, 12h, 7d)"
            )
        seconds = float(match.group(1)) * _DURATION_UNITS[match.group(2)]
    if seconds != seconds or seconds < 0 or seconds == float("inf"):
        raise InvalidInput(f"invalid duration: {value!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest exact spelling of ``seconds`` (inverse of parse_duration for whole units)."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    if seconds == int(seconds):
        return f"{int(seconds)}s"
    return f"{round(seconds * 1000)}ms"


def parse_size(value: str | int) -> int:
    """Bytes in a size such as ``4MiB``, ``10GiB``, ``500k`` or ``1048576``."""
    if isinstance(value, bool):
        raise InvalidInput(f"invalid size: {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise InvalidInput(f"invalid size: {value!r}")
        return value
    match = _SIZE_RE.fullmatch(value)
    if match is None:
        raise InvalidInput(f"invalid size {value[:40]!r}: use bytes or e.g. 4MiB, 10GiB")
    unit = (match.group(2) or "").lower()
    return int(float(match.group(1)) * _SIZE_UNITS[unit])


def format_size(size: int) -> str:
    """Human-readable binary size: ``4.0 MiB``."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def format_age(moment: datetime, now: datetime) -> str:
    """How long ago ``moment`` was: ``1.5s ago``, ``3m ago``, ``2h ago``."""
    seconds = max(0.0, (now - moment).total_seconds())
    if seconds < 120:
        return f"{seconds:.1f}s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m ago"
    return f"{seconds / 3600:.0f}h ago"
