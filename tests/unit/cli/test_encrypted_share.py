"""The sealing step of `share --encrypt`: chunk by chunk from the file, the very bytes the
format gives for the whole, and a file that shrank is refused."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from filefleet.cli.encrypted_share import _sealed_chunk
from filefleet.cli.transfer import ShareState
from filefleet.core.chunking import chunk_span
from filefleet.core.encryption import FileHeader, Sealer, decrypt
from filefleet.core.errors import FileChanged

CHUNK = 100_000  # not a multiple of anything in the format: records straddle chunks


def test_chunks_sealed_from_the_file_make_the_whole_ciphertext(tmp_path: Path) -> None:
    data = os.urandom(300_001)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    key = os.urandom(32)
    sealer = Sealer(key, FileHeader("f.bin", len(data)))
    whole = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY)
    try:
        count = -(-sealer.size // CHUNK)
        pieces = [
            _sealed_chunk(fd, sealer, whole, *chunk_span(i, sealer.size, CHUNK))
            for i in range(count)
        ]
    finally:
        os.close(fd)
    ciphertext = b"".join(pieces)
    assert len(ciphertext) == sealer.size
    assert whole.hexdigest() == hashlib.sha256(ciphertext).hexdigest()
    assert decrypt(key, ciphertext) == (FileHeader("f.bin", len(data)), data)


def test_a_file_that_shrank_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(os.urandom(200_000))
    sealer = Sealer(os.urandom(32), FileHeader("f.bin", 200_000))
    path.write_bytes(b"short")
    fd = os.open(path, os.O_RDONLY)
    try:
        with pytest.raises(FileChanged, match="shorter"):
            _sealed_chunk(fd, sealer, hashlib.sha256(), 0, CHUNK)
    finally:
        os.close(fd)


def test_encrypted_and_plain_shares_of_one_file_keep_apart_states(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FILEFLEET_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "f.bin"
    path.write_bytes(b"x")
    plain = ShareState("http://h", path)
    encrypted = ShareState("http://h", path, variant="e2e")
    assert plain.path != encrypted.path
    encrypted.save({"id": "a", "e2e": {"key": "k"}})
    assert encrypted.path.stat().st_mode & 0o777 == 0o600 and plain.load() is None
