"""Format v1 of end-to-end encryption: round trips, sizes, and every way to break it."""

from __future__ import annotations

import hashlib
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from filefleet.core import encryption as e2e
from filefleet.core.encryption import (
    LEAD_BYTES,
    RECORD_BYTES,
    SEALED_RECORD_BYTES,
    DecryptionFailed,
    FileHeader,
    Opener,
    Sealer,
    decrypt,
    encrypt,
    encrypted_range,
    encrypted_size,
)
from filefleet.core.errors import InvalidInput

KEY = bytes(range(32))
BOUNDARY_SIZES = [0, 1, RECORD_BYTES - 1, RECORD_BYTES, RECORD_BYTES + 1, 3 * RECORD_BYTES]


def header(size: int) -> FileHeader:
    return FileHeader("notes été.txt", size, "text/plain")


@pytest.mark.parametrize("size", BOUNDARY_SIZES)
def test_round_trip_and_size_at_record_boundaries(size: int) -> None:
    data = os.urandom(size)
    sealed = encrypt(KEY, header(size), data)
    assert len(sealed) == encrypted_size(size)
    assert sealed.startswith(b"FLEETE2E\x01")
    got_header, plain = decrypt(KEY, sealed)
    assert plain == data
    assert got_header == header(size)


def test_size_formula() -> None:
    assert encrypted_size(0) == 4133 + 16  # one empty record marks the end
    assert encrypted_size(1) == 4133 + 1 + 16
    assert encrypted_size(RECORD_BYTES) == 4133 + RECORD_BYTES + 16
    assert encrypted_size(RECORD_BYTES + 1) == 4133 + RECORD_BYTES + 1 + 32
    assert encrypted_size(10 * 2**30) == 4133 + 10 * 2**30 + 16 * 163840


def test_the_name_and_the_content_are_not_in_the_ciphertext() -> None:
    data = b"PLAINTEXT-MARKER " * 5000
    sealed = encrypt(KEY, FileHeader("secret-name.txt", len(data)), data)
    assert b"PLAINTEXT-MARKER" not in sealed and b"secret-name" not in sealed


def test_fed_in_any_pieces_the_plaintext_comes_out_whole() -> None:
    data = os.urandom(5 * RECORD_BYTES + 77)
    sealed = encrypt(KEY, header(len(data)), data)
    opener = Opener(KEY)
    out = b"".join(opener.feed(sealed[i : i + 1000]) for i in range(0, len(sealed), 1000))
    assert opener.finish() == header(len(data)) and out == data


@settings(max_examples=40, deadline=None)
@given(
    size=st.integers(0, 3 * RECORD_BYTES + 10),
    cut=st.tuples(st.integers(0, 300_000), st.integers(0, 300_000)),
)
def test_any_range_is_made_again_identically(size: int, cut: tuple[int, int]) -> None:
    """What resumes an upload: chunk i's bytes are made again from the plaintext alone."""
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    sealer = Sealer(KEY, header(size), salt=b"s" * 16, nonce_base=b"n" * 12)
    whole = encrypted_range(sealer, lambda at, n: data[at : at + n], 0, sealer.size)
    start, end = sorted(cut)
    again = Sealer(KEY, header(size), salt=b"s" * 16, nonce_base=b"n" * 12)
    assert encrypted_range(again, lambda at, n: data[at : at + n], start, end) == whole[start:end]


def test_each_file_gets_its_own_salt_so_the_same_key_gives_other_bytes() -> None:
    data = b"same bytes" * 100
    assert encrypt(KEY, header(len(data)), data) != encrypt(KEY, header(len(data)), data)


def test_wrong_key_fails_at_the_header() -> None:
    sealed = encrypt(KEY, header(10), b"0123456789")
    with pytest.raises(DecryptionFailed, match="wrong key"):
        decrypt(bytes(32), sealed)


@pytest.mark.parametrize("where", [0, 12, 40, LEAD_BYTES - 1, LEAD_BYTES, LEAD_BYTES + 70000])
def test_a_flipped_byte_anywhere_fails(where: int) -> None:
    data = os.urandom(2 * RECORD_BYTES + 5)
    sealed = bytearray(encrypt(KEY, header(len(data)), data))
    sealed[where] ^= 0x01
    with pytest.raises(DecryptionFailed):
        decrypt(KEY, bytes(sealed))


def test_a_changed_byte_gives_no_plaintext_of_its_record() -> None:
    data = os.urandom(3 * RECORD_BYTES)
    sealed = bytearray(encrypt(KEY, header(len(data)), data))
    sealed[LEAD_BYTES + SEALED_RECORD_BYTES + 5] ^= 0x80
    opener = Opener(KEY)
    out = opener.feed(bytes(sealed[: LEAD_BYTES + SEALED_RECORD_BYTES]))
    assert out == data[:RECORD_BYTES]  # the first record is intact
    with pytest.raises(DecryptionFailed, match="record 1"):
        opener.feed(bytes(sealed[LEAD_BYTES + SEALED_RECORD_BYTES :]))


@pytest.mark.parametrize("keep", [LEAD_BYTES - 1, LEAD_BYTES, LEAD_BYTES + SEALED_RECORD_BYTES])
def test_truncation_is_detected(keep: int) -> None:
    data = os.urandom(2 * RECORD_BYTES + 5)
    sealed = encrypt(KEY, header(len(data)), data)
    with pytest.raises(DecryptionFailed, match="cut short"):
        decrypt(KEY, sealed[:keep])


def test_a_file_cut_at_a_record_boundary_with_a_lying_header_still_fails() -> None:
    """Records carry their own 'last' flag: cutting after record 0 of a two-record file
    and presenting it as a one-record file fails on the flag, not just on the size."""
    data = os.urandom(2 * RECORD_BYTES)
    sealer = Sealer(KEY, header(len(data)), salt=b"s" * 16, nonce_base=b"n" * 12)
    first = sealer.seal(0, data[:RECORD_BYTES])
    liar = Sealer(KEY, header(RECORD_BYTES), salt=b"s" * 16, nonce_base=b"n" * 12)
    with pytest.raises(DecryptionFailed, match="record 0"):
        decrypt(KEY, liar.lead() + first)


def test_reordered_records_fail() -> None:
    data = os.urandom(3 * RECORD_BYTES)
    sealed = encrypt(KEY, header(len(data)), data)
    records = [
        sealed[LEAD_BYTES + i * SEALED_RECORD_BYTES : LEAD_BYTES + (i + 1) * SEALED_RECORD_BYTES]
        for i in range(3)
    ]
    swapped = sealed[:LEAD_BYTES] + records[1] + records[0] + records[2]
    with pytest.raises(DecryptionFailed, match="record 0"):
        decrypt(KEY, swapped)


def test_bytes_after_the_last_record_fail() -> None:
    sealed = encrypt(KEY, header(3), b"abc")
    with pytest.raises(DecryptionFailed, match="follow the last record"):
        decrypt(KEY, sealed + b"x")


def test_not_the_format() -> None:
    with pytest.raises(DecryptionFailed, match="not an end-to-end encrypted"):
        decrypt(KEY, b"plain text file " * 300)


def test_key_text_is_base64url_without_padding() -> None:
    key = e2e.new_key()
    text = e2e.key_to_text(key)
    assert len(text) == 43 and "=" not in text and "+" not in text and "/" not in text
    assert e2e.key_from_text(text) == key
    for bad in ["", "abc", text[:-1], text + "A", "!" * 43]:
        with pytest.raises(DecryptionFailed, match="256-bit"):
            e2e.key_from_text(bad)


def test_a_name_too_long_for_the_header_is_refused() -> None:
    with pytest.raises(InvalidInput, match="name: too long"):
        Sealer(KEY, FileHeader("x" * 5000, 0)).lead()


def test_known_vector_pins_the_format() -> None:
    """Golden: fixed key, salt and nonce base give these bytes (what e2e.js must match)."""
    sealer = Sealer(KEY, FileHeader("a.txt", 3, "text/plain"), salt=bytes(16), nonce_base=bytes(12))
    sealed = encrypted_range(sealer, lambda at, n: b"abc"[at : at + n], 0, sealer.size)
    assert len(sealed) == 4133 + 3 + 16
    assert sealed[:37] == b"FLEETE2E\x01" + bytes(28)
    assert hashlib.sha256(sealed).hexdigest() == GOLDEN_SHA256


GOLDEN_SHA256 = "211b24d3e8a92d11ed6b9ce0ea93f1ff21538c8bd61d73159af3bf466f9ac545"
