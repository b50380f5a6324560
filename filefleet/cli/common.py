"""What every subcommand shares and that costs nothing to import: failing without a
traceback. (The service commands' flags come from
``settings_command.py``; client commands never load it, so they start quickly.)"""

from __future__ import annotations

from typing import NoReturn

import typer


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``filefleet: error: message`` to stderr and exit (no traceback)."""
    typer.echo(f"filefleet: error: {message}", err=True)
    raise typer.Exit(code)
