"""Password hashing and the rule on wrong tries (pure)."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from filefleet.core import passwords
from filefleet.core.errors import InvalidInput
from filefleet.core.passwords import TryCount

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def test_the_hash_is_self_describing_salted_scrypt() -> None:
    stored = passwords.hash_password("correct horse")
    scheme, n, r, p, salt, key = stored.split("$")
    assert (scheme, n, r, p) == ("scrypt", "16384", "8", "1")
    salt_bytes = base64.b64decode(salt + "==")
    assert len(salt_bytes) == 16
    # The documented parameters, recomputed with hashlib directly.
    expected = hashlib.scrypt(b"correct horse", salt=salt_bytes, n=2**14, r=8, p=1, dklen=32)
    assert base64.b64decode(key + "=") == expected
    assert "correct horse" not in stored
    # A fresh salt each time: the same password never hashes the same twice.
    assert passwords.hash_password("correct horse") != stored


def test_verify_accepts_the_password_and_nothing_else() -> None:
    stored = passwords.hash_password("pässwörd ✓")
    assert passwords.verify_password(stored, "pässwörd ✓")
    for wrong in ("pässwörd", "PÄSSWÖRD ✓", "", "x" * 2000):
        assert not passwords.verify_password(stored, wrong)


@pytest.mark.parametrize(
    "stored",
    ["", "hunter2", "bcrypt$1$2$3$AAAA$BBBB", "scrypt$16383$8$1$" + "A" * 22 + "$" + "B" * 43,
     "scrypt$16384$8$1$!!!$BBBB", "scrypt$1048576$64$1$" + "A" * 22 + "$" + "B" * 43],
)  # fmt: skip
def test_a_malformed_hash_never_matches_and_is_refused_as_stored_form(stored: str) -> None:
    assert not passwords.verify_password(stored, "hunter2")
    assert not passwords.is_password_hash(stored)
    with pytest.raises(ValueError):
        passwords.stored_form(stored)


def test_a_password_must_be_sane() -> None:
    with pytest.raises(InvalidInput, match="password: must not be empty"):
        passwords.check_password("")
    with pytest.raises(InvalidInput, match="longer than 1024"):
        passwords.check_password("x" * 1025)
    with pytest.raises(InvalidInput, match="NUL"):
        passwords.hash_password("a\x00b")


def test_ten_wrong_tries_a_minute_then_refused_until_the_window_ends() -> None:
    count = TryCount(0, None)
    for n in range(1, 11):
        taken = passwords.take_try(count, T0 + timedelta(seconds=n))
        assert taken.allowed and taken.count == TryCount(n, T0 + timedelta(seconds=1))
        count = taken.count
    refused = passwords.take_try(count, T0 + timedelta(seconds=20.5))
    assert not refused.allowed and refused.count == count  # a refused try counts nothing
    assert refused.retry_after == 41  # the window opened at T0+1s ends at T0+61s
    assert passwords.take_try(count, T0 + timedelta(seconds=60.9)).retry_after == 1
    fresh = passwords.take_try(count, T0 + timedelta(seconds=61))
    assert fresh.allowed and fresh.count == TryCount(1, T0 + timedelta(seconds=61))


def test_a_right_try_is_given_back_only_in_its_own_window() -> None:
    count = TryCount(3, T0)
    assert passwords.give_back(count, T0) == TryCount(2, T0)
    assert passwords.give_back(count, T0 - timedelta(seconds=60)) == count
    assert passwords.give_back(TryCount(0, T0), T0) == TryCount(0, T0)
