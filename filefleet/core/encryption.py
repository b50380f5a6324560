"""End-to-end encryption, format v1 (pure: bytes in, bytes out; docs/encryption.md).

A file is encrypted on the client with a random 256-bit key that travels only in the
link's ``#fragment``; the fleet stores, hashes, replicates and serves the ciphertext like
any file, under the placeholder name ``encrypted.bin``. The same format is written and
read by ``static/e2e.js`` in the browser.

    prefix   37 bytes, in the clear: b"FLEETE2E", version 1, salt (16), nonce base (12)
    header   4,096 bytes: the sealed header record (JSON name, size, content type)
    records  the content in 65,536-byte plaintext records, each sealed with AES-256-GCM
             (+16-byte tag); the last one may be shorter, an empty file has one empty record

Keys: HKDF-SHA256 over the link key with the per-file salt gives a header key and a
content key (``info`` tells them apart). Record ``i``'s nonce is the nonce base XOR ``i``
(big-endian, in the last 8 bytes); its associated data is the prefix, ``i`` and a flag set
on the last record only, so a reordered, dropped, repeated or truncated record fails to
open, as does any flipped bit. The ciphertext's size is a function of the plaintext's
(``encrypted_size``), so the upload declares it before reading the file, and any range of
the ciphertext can be made again from the plaintext (``encrypted_range``): what lets an
interrupted encrypted upload resume with identical bytes.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from filefleet.core.errors import InvalidInput

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"FLEETE2E"
VERSION = 1
KEY_BYTES = 32
SALT_BYTES = 16
NONCE_BYTES = 12
TAG_BYTES = 16
PREFIX_BYTES = len(MAGIC) + 1 + SALT_BYTES + NONCE_BYTES  # 37
HEADER_BYTES = 4096  # the sealed header record, tag included
HEADER_TEXT_BYTES = HEADER_BYTES - TAG_BYTES - 2  # its JSON, after a 2-byte length
LEAD_BYTES = PREFIX_BYTES + HEADER_BYTES  # 4,133: everything before the first record
RECORD_BYTES = 65536  # plaintext per record
SEALED_RECORD_BYTES = RECORD_BYTES + TAG_BYTES
PLACEHOLDER_NAME = "encrypted.bin"  # the only name the servers see
PLACEHOLDER_TYPE = "application/octet-stream"
_HEADER_INFO = b"filefleet e2e v1 header"
_CONTENT_INFO = b"filefleet e2e v1 content"


class DecryptionFailed(InvalidInput):
    """The bytes do not open with this key: a wrong key, or bytes changed, reordered or
    cut short. Nothing that failed to open is ever handed on."""


@dataclass(frozen=True)
class FileHeader:
    """What the sealed header carries: the servers see none of it."""

    name: str
    size: int
    content_type: str = PLACEHOLDER_TYPE


def new_key() -> bytes:
    return os.urandom(KEY_BYTES)


def key_to_text(key: bytes) -> str:
    """The key as it goes in the link's fragment: base64url without padding (43 chars)."""
    return base64.urlsafe_b64encode(key).rstrip(b"=").decode("ascii")


def key_from_text(text: str) -> bytes:
    """The key of a link's fragment; ``DecryptionFailed`` names what is wrong with it."""
    try:
        key = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        key = b""
    if len(text) != 43 or len(key) != KEY_BYTES:
        raise DecryptionFailed(
            "the link's key (after '#') is not a 256-bit base64url key: "
            "check that the whole link was copied"
        )
    return key


def record_count(size: int) -> int:
    """Records of a ``size``-byte plaintext (at least one: the last is always there)."""
    return max(1, -(-size // RECORD_BYTES))


def encrypted_size(size: int) -> int:
    """Ciphertext bytes of a ``size``-byte file: 4,133 + size + 16 x records."""
    return LEAD_BYTES + size + TAG_BYTES * record_count(size)


def _derive(key: bytes, salt: bytes, info: bytes) -> AESGCM:
    # Imported here: ``filefleet get`` checks a download's first bytes against ``MAGIC``
    # without paying for loading the cipher library (~30 ms of a command's start-up).
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=salt, info=info)
    return AESGCM(hkdf.derive(key))


def _nonce(base: bytes, index: int) -> bytes:
    tail = struct.unpack(">Q", base[4:])[0] ^ index
    return base[:4] + struct.pack(">Q", tail)


def _record_aad(prefix: bytes, index: int, last: bool) -> bytes:
    return prefix + struct.pack(">QB", index, 1 if last else 0)


class Sealer:
    """Encrypts one file: ``lead()`` then ``seal(i, record i's plaintext)`` for each
    record. Given the same key, salt and nonce base, it makes the same bytes again."""

    def __init__(
        self, key: bytes, header: FileHeader, *, salt: bytes | None = None,
        nonce_base: bytes | None = None,
    ) -> None:  # fmt: skip
        self.key = key
        self.header = header
        self.salt = salt if salt is not None else os.urandom(SALT_BYTES)
        self.nonce_base = nonce_base if nonce_base is not None else os.urandom(NONCE_BYTES)
        if len(key) != KEY_BYTES or len(self.salt) != SALT_BYTES:
            raise ValueError("a 32-byte key and a 16-byte salt are needed")
        if len(self.nonce_base) != NONCE_BYTES:
            raise ValueError("a 12-byte nonce base is needed")
        self.prefix = MAGIC + bytes([VERSION]) + self.salt + self.nonce_base
        self._header_key = _derive(key, self.salt, _HEADER_INFO)
        self._content_key = _derive(key, self.salt, _CONTENT_INFO)
        self.records = record_count(header.size)
        self.size = encrypted_size(header.size)

    def lead(self) -> bytes:
        """The prefix and the sealed header: the first ``LEAD_BYTES`` of the ciphertext."""
        text = json.dumps(
            {"name": self.header.name, "size": self.header.size,
             "content_type": self.header.content_type},
            ensure_ascii=False, separators=(",", ":"),
        ).encode()  # fmt: skip
        if len(text) > HEADER_TEXT_BYTES:
            raise InvalidInput(f"name: too long for the encrypted header ({len(text)} bytes)")
        plain = struct.pack(">H", len(text)) + text
        plain += bytes(HEADER_BYTES - TAG_BYTES - len(plain))
        sealed = self._header_key.encrypt(self.nonce_base, plain, self.prefix)
        return self.prefix + sealed

    def seal(self, index: int, plain: bytes) -> bytes:
        """Record ``index`` sealed; its plaintext must be whole (``RECORD_BYTES``, or the
        rest of the file for the last)."""
        last = index == self.records - 1
        expected = self.header.size - index * RECORD_BYTES if last else RECORD_BYTES
        if not 0 <= index < self.records or len(plain) != expected:
            raise ValueError(f"record {index} needs {expected} bytes, got {len(plain)}")
        aad = _record_aad(self.prefix, index, last)
        return self._content_key.encrypt(_nonce(self.nonce_base, index), plain, aad)


def encrypted_range(
    sealer: Sealer, read: Callable[[int, int], bytes], start: int, end: int
) -> bytes:
    """Ciphertext bytes ``[start, end)``, made from the plaintext that ``read(offset,
    length)`` returns: the records that overlap the range are sealed (again) and cut."""
    end = min(end, sealer.size)
    if start >= end:
        return b""
    pieces: list[bytes] = []
    if start < LEAD_BYTES:
        pieces.append(sealer.lead()[start:end])
    first = max(0, (start - LEAD_BYTES) // SEALED_RECORD_BYTES)
    last = min(sealer.records - 1, max(0, (end - 1 - LEAD_BYTES) // SEALED_RECORD_BYTES))
    if end > LEAD_BYTES:
        for index in range(first, last + 1):
            offset = index * RECORD_BYTES
            length = min(RECORD_BYTES, sealer.header.size - offset)
            plain = read(offset, length)
            if len(plain) != length:
                raise ValueError(f"record {index}: the file ended early")
            at = LEAD_BYTES + index * SEALED_RECORD_BYTES
            sealed = sealer.seal(index, plain)
            pieces.append(sealed[max(0, start - at) : end - at])
    return b"".join(pieces)


class Opener:
    """Decrypts a stream of ciphertext as it arrives: ``feed`` returns the plaintext of
    every record completed so far (each verified before it is returned), ``finish`` checks
    that the stream ended exactly after the last record. ``header`` is known once the
    first ``LEAD_BYTES`` have been fed."""

    def __init__(self, key: bytes) -> None:
        self.key = key
        self.header: FileHeader | None = None
        self._pending = bytearray()
        self._index = 0
        self._prefix = b""
        self._records = 0
        self._content_key: AESGCM | None = None
        self._nonce_base = b""
        self.plain_bytes = 0

    def feed(self, data: bytes) -> bytes:
        self._pending += data
        out: list[bytes] = []
        if self.header is None:
            if len(self._pending) < LEAD_BYTES:
                return b""
            self._open_lead(bytes(self._pending[:LEAD_BYTES]))
            del self._pending[:LEAD_BYTES]
        while self._index < self._records and len(self._pending) >= self._sealed_length():
            length = self._sealed_length()
            out.append(self._open_record(bytes(self._pending[:length])))
            del self._pending[:length]
        if self._index >= self._records and self._pending:
            raise DecryptionFailed("bytes follow the last record: the file was changed")
        return b"".join(out)

    def finish(self) -> FileHeader:
        if self.header is None or self._index < self._records or self._pending:
            raise DecryptionFailed("the encrypted file is cut short: it is incomplete")
        return self.header

    def _sealed_length(self) -> int:
        assert self.header is not None
        if self._index == self._records - 1:
            return self.header.size - self._index * RECORD_BYTES + TAG_BYTES
        return SEALED_RECORD_BYTES

    def _open_lead(self, lead: bytes) -> None:
        from cryptography.exceptions import InvalidTag

        prefix = lead[:PREFIX_BYTES]
        if prefix[: len(MAGIC)] != MAGIC:
            raise DecryptionFailed("not an end-to-end encrypted filefleet file")
        if prefix[len(MAGIC)] != VERSION:
            raise DecryptionFailed(f"encryption format {prefix[len(MAGIC)]} is not known here")
        salt = prefix[len(MAGIC) + 1 : len(MAGIC) + 1 + SALT_BYTES]
        self._nonce_base = prefix[len(MAGIC) + 1 + SALT_BYTES :]
        try:
            plain = _derive(self.key, salt, _HEADER_INFO).decrypt(
                self._nonce_base, lead[PREFIX_BYTES:], prefix
            )
        except InvalidTag:
            raise DecryptionFailed(
                "the key does not open this file: wrong key (check the part of the link "
                "after '#'), or its first bytes were changed"
            ) from None
        self.header = _parse_header(plain)
        self._prefix = prefix
        self._records = record_count(self.header.size)
        self._content_key = _derive(self.key, salt, _CONTENT_INFO)

    def _open_record(self, sealed: bytes) -> bytes:
        from cryptography.exceptions import InvalidTag

        assert self._content_key is not None
        index = self._index
        last = index == self._records - 1
        try:
            plain = self._content_key.decrypt(
                _nonce(self._nonce_base, index), sealed, _record_aad(self._prefix, index, last)
            )
        except InvalidTag:
            raise DecryptionFailed(
                f"record {index} of the encrypted file does not verify: its bytes were "
                "changed, reordered or cut; nothing of it was written"
            ) from None
        self._index += 1
        self.plain_bytes += len(plain)
        return plain


def _parse_header(plain: bytes) -> FileHeader:
    (length,) = struct.unpack(">H", plain[:2])
    try:
        fields = json.loads(plain[2 : 2 + length])
        header = FileHeader(str(fields["name"]), int(fields["size"]), str(fields["content_type"]))
    except (ValueError, KeyError, TypeError):
        raise DecryptionFailed("the encrypted header is not readable") from None
    if header.size < 0:
        raise DecryptionFailed("the encrypted header gives a negative size")
    return header


def encrypt(key: bytes, header: FileHeader, data: bytes) -> bytes:
    """A whole file encrypted at once (tests, small files)."""
    sealer = Sealer(key, header)
    return encrypted_range(sealer, lambda at, n: data[at : at + n], 0, sealer.size)


def decrypt(key: bytes, data: bytes) -> tuple[FileHeader, bytes]:
    """A whole file decrypted and verified at once (tests, small files)."""
    opener = Opener(key)
    plain = opener.feed(data)
    return opener.finish(), plain
