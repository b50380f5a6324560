"""Upload options from query parameters, form fields or headers, validated (pure).

Every refusal is a 400 whose message starts with the option's name (``expires: ...``,
``max_downloads: ...``), so a person or a script sees at once which one was wrong."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from filefleet.core.errors import InvalidInput
from filefleet.core.filenames import clean_name
from filefleet.core.units import format_duration, parse_duration


@dataclass(frozen=True)
class UploadOptions:
    name: str
    content_type: str
    expires: float  # seconds after the upload completes
    max_downloads: int | None
    password_hash: str | None = None  # a protected link (frontend/passwords.py: protect)


def parse_expires(raw: str | None, default: float, maximum: float) -> float:
    if raw is None or raw == "":
        return default
    try:
        seconds = parse_duration(raw)
    except InvalidInput:
        raise InvalidInput(
            f"expires: {raw[:40]!r} is not a duration: use a positive number with s, m, h or "
            "d (e.g. 90s, 30m, 12h, 7d)"
        ) from None
    if seconds <= 0:
        raise InvalidInput(f"expires: must be positive, got {raw!r}")
    if seconds > maximum:
        raise InvalidInput(
            f"expires: {raw!r} is longer than the maximum of {format_duration(maximum)}"
        )
    return seconds


def parse_max_downloads(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(f"max_downloads: must be a whole number, got {raw[:40]!r}") from None
    if value < 1:
        raise InvalidInput(f"max_downloads: must be at least 1, got {value}")
    return value


_YES = {"1", "true", "yes", "on"}
_NO = {"", "0", "false", "no", "off"}


def parse_flag(field: str, raw: str | None) -> bool:
    """A yes/no option (``bundle=1``, ``dl=1``); anything else is a 400 naming ``field``."""
    value = (raw or "").strip().lower()
    if value in _YES:
        return True
    if value in _NO:
        return False
    raise InvalidInput(f"{field}: must be 1 or 0, got {(raw or '')[:40]!r}")


def parse_options(
    fields: Mapping[str, str],
    *,
    name: str | None,
    content_type: str | None,
    default_expiry: float,
    max_expiry: float,
) -> UploadOptions:
    return UploadOptions(
        name=clean_name(name),
        content_type=clean_content_type(content_type),
        expires=parse_expires(fields.get("expires"), default_expiry, max_expiry),
        max_downloads=parse_max_downloads(fields.get("max_downloads")),
    )


def clean_content_type(raw: str | None) -> str:
    if not raw:
        return "application/octet-stream"
    value = raw.split(";", 1)[0].strip().lower()
    if not re.fullmatch(r"[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+", value):
        return "application/octet-stream"
    if value.startswith("multipart/") or value == "application/x-www-form-urlencoded":
        return "application/octet-stream"
    return value
