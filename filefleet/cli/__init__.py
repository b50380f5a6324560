"""The ``filefleet`` command: one module per subcommand, registered here.

Only the module of the subcommand being run is imported (all of them for ``--help``): a
client command such as ``share`` or ``get`` does not pay for loading the services'
settings models, SQLAlchemy or the queue clients, which would add most of a second of CPU
to every run.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Annotated, NoReturn

import typer

from filefleet.fastpath.allocator import tune_allocator

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
    "fsck": "fsck",
    "nodes": "nodes",
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
    def root(
        version: Annotated[
            bool,
            typer.Option(
                "--version", is_eager=True, callback=show_version, help="Print the version."
            ),
        ] = False,
    ) -> None:
        """Share files by URL; chunks replicated over a fleet of storage nodes."""

    names = [command] if command in COMMANDS else list(COMMANDS)
    for name in names:
        importlib.import_module(f"filefleet.cli.{COMMANDS[name]}").register(app)
    return app


def show_version(given: bool) -> None:
    if given:
        from filefleet import __version__

        typer.echo(f"filefleet {__version__}")
        raise typer.Exit(0)


# Short-lived commands: once one has printed its result, nothing is left to tear down.
CLIENT_COMMANDS = frozenset({"status", "share", "get", "delete", "fsck", "nodes"})


def main() -> None:
    tune_allocator()  # before the command allocates anything: see fastpath/allocator.py
    command = sys.argv[1] if len(sys.argv) > 1 else None
    if command == "--version":  # nothing to load for it
        from filefleet import __version__

        print(f"filefleet {__version__}")
        return
    app = build_app(command)
    if command not in CLIENT_COMMANDS:
        app()
        return
    try:
        app()
        code: object = 0
    except SystemExit as exc:  # how Typer ends every run, failed or not
        code = exc.code
    quick_exit(code)


def quick_exit(code: object) -> NoReturn:
    """End a client command that has done its work (its files closed, its output written)
    without the interpreter's teardown: collecting and freeing every loaded module's
    objects takes 40-50 ms, a fifth of sharing a small file. An exception other than
    SystemExit never gets here: it ends the process the usual way, with its traceback."""
    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe, a full disk: not all of it got out
            code = code or 1
    os._exit(code)
