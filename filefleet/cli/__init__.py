"""The ``filefleet`` command: one module per subcommand, registered here.

Only the module of the subcommand being run is imported (all of them for ``--help``): a
client command such as ``share`` or ``get`` does not pay for loading the services'
settings models, SQLAlchemy or the queue clients, which would add most of a second of CPU
to every run.
"""

from __future__ import annotations

import importlib
import sys

import typer

from filefleet.runtime.memory import tune_allocator

# Subcommand name -> module under filefleet.cli, in the order ``--help`` lists them.
COMMANDS = {
    "up": "up",
    "controller": "controller",
    "node": "node",
    "frontend": "frontend",
    "gc": "gc",
    "replicator": "replicator",
    "status": "status",
    "share": "share",
    "get": "get",
    "delete": "delete",
}


def build_app(command: str | None = None) -> typer.Typer:
    """The CLI with ``command`` registered, or every subcommand when it is None or unknown."""
    app = typer.Typer(
        name="filefleet",
        help="Share files by URL; chunks replicated over a fleet of storage nodes.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )

    @app.callback()
    def root() -> None:
        """Share files by URL; chunks replicated over a fleet of storage nodes."""

    names = [command] if command in COMMANDS else list(COMMANDS)
    for name in names:
        importlib.import_module(f"filefleet.cli.{COMMANDS[name]}").register(app)
    return app


def main() -> None:
    tune_allocator()  # before the command allocates anything: see runtime/memory.py
    build_app(sys.argv[1] if len(sys.argv) > 1 else None)()
