"""`filefleet node`: Run a file node: stores chunks under --data and pings the controller."""

from __future__ import annotations

import typer

from filefleet.cli.settings_command import settings_command
from filefleet.runtime.settings import NodeSettings


def run(settings: NodeSettings) -> None:
    from filefleet.node.main import main

    main(settings)


def register(app: typer.Typer) -> None:
    settings_command(
        app,
        "node",
        NodeSettings,
        run,
        help="Run a file node: stores chunks under --data and pings the controller.",
    )
