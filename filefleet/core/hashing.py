"""The SHA-256 that names a chunk (its id) and checks a file (its ETag).

Hashing off the event loop, and while a body still arrives, is in
``filefleet/fastpath/hashing.py``."""

from __future__ import annotations

import hashlib


def sha256_hex(data: bytes | bytearray | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()
