"""`filefleet frontend`: Run the public frontend: upload page, uploads and downloads."""

from __future__ import annotations

import typer

from filefleet.cli.settings_command import settings_command
from filefleet.runtime.settings import FrontendSettings


def run(settings: FrontendSettings) -> None:
    from filefleet.frontend.main import main

    main(settings)


def register(app: typer.Typer) -> None:
    settings_command(
        app,
        "frontend",
        FrontendSettings,
        run,
        help="Run the public frontend: upload page, uploads and downloads.",
    )
