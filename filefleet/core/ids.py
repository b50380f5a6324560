"""The one id validator: every id that arrives from outside passes through here before use.

- chunk id: lowercase hex SHA-256 of the chunk's bytes (64 characters), content addressed.
- file id: URL-safe random token (24 characters = 144 bits), the capability to read a file.
- node id: 32 lowercase hex characters, generated once by a node and kept on its disk.

Because a validated id contains only ``[0-9a-f]`` or ``[A-Za-z0-9_-]``, it can never name a
path outside a data directory (no ``/``, no ``..``).
"""

from __future__ import annotations

import re
import secrets
import uuid

from filefleet.core.errors import InvalidInput

CHUNK_ID_RE = re.compile(r"[0-9a-f]{64}")
NODE_ID_RE = re.compile(r"[0-9a-f]{32}")
FILE_ID_RE = re.compile(r"[A-Za-z0-9_-]{16,64}")
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{16,128}")

FILE_ID_BYTES = 18  # 144 bits of randomness -> 24 URL-safe characters


def _check(kind: str, value: object, pattern: re.Pattern[str]) -> str:
    if not isinstance(value, str) or pattern.fullmatch(value) is None:
        shown = repr(value)[:80]
        raise InvalidInput(f"invalid {kind}: {shown}")
    return value


def chunk_id(value: object) -> str:
    """Return ``value`` if it is a well-formed chunk id, else raise InvalidInput."""
    return _check("chunk id (64 lowercase hex characters expected)", value, CHUNK_ID_RE)


def node_id(value: object) -> str:
    return _check("node id (32 lowercase hex characters expected)", value, NODE_ID_RE)


def file_id(value: object) -> str:
    return _check("file id", value, FILE_ID_RE)


def token(value: object) -> str:
    return _check("token", value, TOKEN_RE)


def new_file_id() -> str:
    return secrets.token_urlsafe(FILE_ID_BYTES)


def new_node_id() -> str:
    return uuid.uuid4().hex


def new_token() -> str:
    return secrets.token_urlsafe(24)


def new_secret() -> str:
    return secrets.token_hex(32)
