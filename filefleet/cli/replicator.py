"""`filefleet replicator`: Bring every chunk to R replicas, from events and by periodic repair."""

from __future__ import annotations

import typer

from filefleet.cli.settings_command import settings_command
from filefleet.runtime.settings import ReplicatorSettings


def run(settings: ReplicatorSettings) -> None:
    from filefleet.replicator.main import main

    main(settings)


def register(app: typer.Typer) -> None:
    settings_command(
        app,
        "replicator",
        ReplicatorSettings,
        run,
        help="Bring every chunk to R replicas: consume replicate events, repair periodically.",
    )
