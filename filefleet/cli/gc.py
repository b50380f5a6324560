"""`filefleet gc`: Run the garbage collector: expired, deleted and abandoned files, orphans."""

from __future__ import annotations

import typer

from filefleet.cli.settings_command import settings_command
from filefleet.runtime.settings import GCSettings


def run(settings: GCSettings) -> None:
    from filefleet.gc.main import main

    main(settings)


def register(app: typer.Typer) -> None:
    settings_command(
        app,
        "gc",
        GCSettings,
        run,
        help="Run the garbage collector: frees expired, deleted and abandoned files' chunks "
        "on every node, and orphan chunks.",
    )
