"""`filefleet up`: a whole local cluster with one command."""

from __future__ import annotations

import signal
import sys
from types import FrameType

import typer

from filefleet.cli.common import fail
from filefleet.cli.settings_command import settings_command
from filefleet.core.errors import FilefleetError
from filefleet.runtime.logging import setup_logging
from filefleet.runtime.settings import UpSettings
from filefleet.runtime.supervisor import LocalCluster


def run(settings: UpSettings) -> None:
    setup_logging("up")
    cluster = LocalCluster(settings)
    stopping: list[bool] = []

    def on_signal(signum: int, _: FrameType | None) -> None:
        stopping.append(True)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        cluster.start()
    except FilefleetError as exc:
        cluster.stop()
        fail(exc.message, code=1)
    except BaseException:
        cluster.stop()
        raise
    typer.echo(f"filefleet is up: {cluster.frontend_url}/")
    typer.echo(f"  data and logs: {cluster.data}  (cluster.json, logs/)")
    typer.echo(f"  share a file:  curl -T FILE {cluster.frontend_url}/upload/")
    typer.echo("  press Ctrl-C to stop")
    sys.stdout.flush()
    try:
        cluster.supervise(stopping)
    finally:
        typer.echo("stopping filefleet ...")
        cluster.stop()
        typer.echo("stopped")


def register(app: typer.Typer) -> None:
    settings_command(
        app,
        "up",
        UpSettings,
        run,
        help="Run a whole local cluster (controller, nodes, frontend, queue).",
    )
