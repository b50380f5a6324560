"""`filefleet get LINK#KEY`: download an end-to-end encrypted file, decrypt and verify it.

The key is the link's ``#fragment``; it is never sent (the request goes to the link
without it). The ciphertext is decrypted as it arrives (``core/encryption.Opener``), each
64 KiB record verified before a byte of it is written, into ``<name>.part`` beside the
final name (the name comes from the encrypted header, or ``-o``); only once the last
record verified and the stream ended exactly there is it renamed. A wrong key fails on the
header, before any file is made; a changed, reordered or missing record fails where it
is met, and the ``.part`` is removed: no output is ever left holding wrong bytes. An
interrupted encrypted download starts again from the beginning.

A link to an encrypted file without its key is refused as soon as the first bytes show
the format (``refuse_without_key``), rather than saving ciphertext under the placeholder
name.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import IO, Any

from filefleet.cli import password
from filefleet.cli.transfer import progress_bar
from filefleet.core.encryption import (
    MAGIC,
    PLACEHOLDER_NAME,
    DecryptionFailed,
    Opener,
    key_from_text,
)
from filefleet.core.errors import InvalidInput
from filefleet.core.filenames import clean_name
from filefleet.http.client import HttpClient

PIECE = 1024 * 1024


def refuse_without_key(name: str, first: bytes, part: Path) -> None:
    """A plain ``get`` of a file that is end-to-end encrypted: say what is missing (and
    remove the ``part`` begun for it)."""
    if name == PLACEHOLDER_NAME and first.startswith(MAGIC):
        part.unlink(missing_ok=True)
        raise DecryptionFailed(
            "this file is end-to-end encrypted and the link has no key: give the whole "
            "link, with the part after '#' (quote it in the shell); nothing was saved"
        )


async def fetch_encrypted(
    http: HttpClient, link: str, key_text: str, output: Path | None, *, force: bool,
    progress: bool, secret: str | None = None,
) -> dict[str, object]:  # fmt: skip
    opener = Opener(key_from_text(key_text))
    digest = hashlib.sha256()
    saving: _Saving | None = None
    try:
        with progress_bar(progress) as bar:
            auth = password.basic_auth(secret) if secret is not None else {}
            async with http.stream("GET", link, headers=auth) as resp:
                async for block in resp.content.iter_chunked(PIECE):
                    plain = opener.feed(block)
                    if saving is None and opener.header is not None:
                        saving = _Saving(output or Path(clean_name(opener.header.name)), force)
                        task = bar.add_task(
                            saving.target.name[:30], total=opener.header.size, note="decrypted"
                        )
                    if plain and saving is not None:
                        saving.out.write(plain)
                        digest.update(plain)
                        bar.advance(task, len(plain))
            header = opener.finish()
    except BaseException:
        if saving is not None:
            saving.discard()
        raise
    assert saving is not None  # finish() passed: the header was read
    saving.keep()
    return {
        "path": str(saving.target), "name": header.name, "size": header.size,
        "sha256": digest.hexdigest(), "content_type": header.content_type, "encrypted": True,
    }  # fmt: skip


class _Saving:
    """``<target>.part`` being written; renamed to ``target`` only when kept."""

    def __init__(self, target: Path, force: bool) -> None:
        if target.exists() and not force:
            raise InvalidInput(f"{target} exists (use --force to overwrite)")
        self.target = target
        self.part = target.with_name(target.name + ".part")
        self.out: IO[Any] = self.part.open("wb")

    def discard(self) -> None:
        self.out.close()
        self.part.unlink(missing_ok=True)

    def keep(self) -> None:
        self.out.close()
        self.part.replace(self.target)
