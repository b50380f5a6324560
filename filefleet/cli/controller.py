"""`filefleet controller`: Run the controller: file, chunk and node metadata."""

from __future__ import annotations

import typer

from filefleet.cli.settings_command import settings_command
from filefleet.runtime.settings import ControllerSettings


def run(settings: ControllerSettings) -> None:
    from filefleet.controller.main import main

    main(settings)


def register(app: typer.Typer) -> None:
    settings_command(
        app,
        "controller",
        ControllerSettings,
        run,
        help="Run the controller: file, chunk and node metadata.",
    )
