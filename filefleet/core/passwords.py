"""Passwords of protected links: a slow salted hash, and the rule on wrong tries (pure).

A password is never stored: only ``scrypt$16384$8$1$<salt>$<key>`` (base64 without
padding), one self-describing string, so the parameters can grow later and an old hash
still verifies with its own. scrypt (RFC 7914) with n=2**14, r=8, p=1 costs 16 MiB of
memory and ~40 ms of one core per try: cheap for a person who types the password once,
expensive for anyone who stole the database and guesses offline. The salt is 16 random
bytes per file, the key 32 bytes; a candidate is compared with ``hmac.compare_digest``.

Both functions here are slow on purpose: a service calls them off its event loop
(``asyncio.to_thread``).

Wrong tries are counted per file in a window of ``TRY_WINDOW`` seconds: the first wrong
try opens a window; within it at most ``MAX_WRONG_TRIES`` are let through, the next is
refused (429) until the window ends. ``take_try`` is the rule the store applies to the
counters it holds locked.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from filefleet.core.errors import InvalidInput

SCHEME = "scrypt"
N, R, P = 2**14, 8, 1
SALT_BYTES = 16
KEY_BYTES = 32
# scrypt needs 128 * n * r bytes of memory (16 MiB for the parameters above); this bound
# leaves room for a hash made with larger ones.
MAX_MEMORY = 256 * 1024 * 1024

MAX_PASSWORD_CHARS = 1024
MAX_WRONG_TRIES = 10
TRY_WINDOW = 60.0  # seconds


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def check_password(password: str, field: str = "password") -> str:
    """``password`` if it can protect a link: 1 to 1,024 characters, else a 400 naming
    ``field``. (An empty value means "no password" to the callers, not this.)"""
    if not password:
        raise InvalidInput(f"{field}: must not be empty")
    if len(password) > MAX_PASSWORD_CHARS:
        raise InvalidInput(f"{field}: longer than {MAX_PASSWORD_CHARS} characters")
    if "\x00" in password:
        raise InvalidInput(f"{field}: must not contain a NUL character")
    return password


def _derive(password: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=length, maxmem=MAX_MEMORY
    )


def hash_password(password: str) -> str:
    """The stored form of ``password`` (slow: ~40 ms), with a fresh random salt."""
    salt = secrets.token_bytes(SALT_BYTES)
    key = _derive(check_password(password), salt, N, R, P, KEY_BYTES)
    return f"{SCHEME}${N}${R}${P}${_b64(salt)}${_b64(key)}"


def is_password_hash(stored: str) -> bool:
    """Whether ``stored`` has the shape ``hash_password`` makes (what the controller
    accepts in a file's record: never a plain password)."""
    try:
        _parse(stored)
    except ValueError:
        return False
    return True


def stored_form(value: str) -> str:
    """``value`` if it is a hash ``hash_password`` made, else ValueError (a model's check:
    a plain password must never be stored)."""
    if not is_password_hash(value):
        raise ValueError("not a password hash (scrypt$n$r$p$salt$key)")
    return value


def _parse(stored: str) -> tuple[int, int, int, bytes, bytes]:
    scheme, n, r, p, salt, key = stored.split("$")
    if scheme != SCHEME:
        raise ValueError(f"unknown password hash scheme {scheme!r}")
    values = int(n), int(r), int(p)
    if values[0] < 2 or values[0] & (values[0] - 1) or min(values) < 1:
        raise ValueError("bad scrypt parameters")
    if 128 * values[0] * values[1] > MAX_MEMORY:
        raise ValueError("scrypt parameters need too much memory")
    salt_bytes, key_bytes = _unb64(salt), _unb64(key)
    if len(salt_bytes) < SALT_BYTES or len(key_bytes) < 16:
        raise ValueError("salt or key too short")
    return *values, salt_bytes, key_bytes


def verify_password(stored: str, candidate: str) -> bool:
    """Whether ``candidate`` is the password ``stored`` was made from (slow, constant time
    in the comparison). A malformed ``stored`` never matches."""
    try:
        n, r, p, salt, key = _parse(stored)
    except ValueError:
        return False
    if not candidate or len(candidate) > MAX_PASSWORD_CHARS:
        return False
    return hmac.compare_digest(_derive(candidate, salt, n, r, p, len(key)), key)


@dataclass(frozen=True)
class TryCount:
    """A file's wrong tries: how many since when (``since`` None: none counted)."""

    tries: int
    since: datetime | None


@dataclass(frozen=True)
class TryTaken:
    """The outcome of ``take_try``: whether the try may be checked, the counters to store,
    and (when refused) how many seconds until the window ends."""

    allowed: bool
    count: TryCount
    retry_after: int = 0


def take_try(
    count: TryCount,
    now: datetime,
    *,
    limit: int = MAX_WRONG_TRIES,
    window: float = TRY_WINDOW,
) -> TryTaken:
    """Reserve one try: counted as wrong until the check proves it right (``give_back``).

    A window older than ``window`` seconds is over: counting starts again. Within it, a
    try beyond ``limit`` is refused and counts nothing."""
    open_window = count.since is not None and now - count.since < timedelta(seconds=window)
    if not open_window:
        return TryTaken(True, TryCount(1, now))
    assert count.since is not None
    if count.tries >= limit:
        left = (count.since + timedelta(seconds=window) - now).total_seconds()
        return TryTaken(False, count, max(1, math.ceil(left)))
    return TryTaken(True, TryCount(count.tries + 1, count.since))


def give_back(count: TryCount, since: datetime) -> TryCount:
    """A reserved try that proved right no longer counts as wrong (if its window is still
    the one counting: a new window has nothing of it)."""
    if count.since != since or count.tries <= 0:
        return count
    return TryCount(count.tries - 1, count.since)
