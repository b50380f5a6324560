"""What the subcommands share and that costs nothing to import: failing without a
traceback, hashing a local file. (The service commands' flags come from
``settings_command.py``; client commands never load it, so they start quickly.)"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import NoReturn

import typer


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``filefleet: error: message`` to stderr and exit (no traceback)."""
    typer.echo(f"filefleet: error: {message}", err=True)
    raise typer.Exit(code)


def file_sha256(path: Path) -> hashlib._Hash:
    """The SHA-256 of a whole file, read in small blocks (they stay in the CPU cache)."""
    with path.open("rb", buffering=0) as f:
        return hashlib.file_digest(f, "sha256")
