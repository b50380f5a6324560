"""The ``filefleet`` command: one module per subcommand, registered here."""

from __future__ import annotations

import typer

from filefleet.cli import controller, delete, frontend, gc, get, node, replicator, share, status, up

app = typer.Typer(
    name="filefleet",
    help="Share files by URL; chunks replicated over a fleet of storage nodes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for module in (up, controller, node, frontend, gc, replicator, status, share, get, delete):
    module.register(app)


def main() -> None:
    app()
