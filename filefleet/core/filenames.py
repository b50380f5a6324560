"""File names from outside (upload forms, headers, Content-Disposition) made safe to store,
to put back in a header and to write on a user's disk: no path, no control characters."""

from __future__ import annotations

import re
import unicodedata

MAX_NAME = 255
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\]")


def clean_name(raw: str | None) -> str:
    """A file name safe to store and to put back in a header: no path, no control bytes."""
    if not raw:
        return "file"
    name = unicodedata.normalize("NFC", raw)
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE.sub("_", name).strip().strip(".") or "file"
    return name[:MAX_NAME]
