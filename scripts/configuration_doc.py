"""Write docs/configuration.md from the settings models (run after adding a setting):

    python -m scripts.configuration_doc > docs/configuration.md

tests/unit/test_configuration_doc.py fails when the file and the models disagree.
"""

from __future__ import annotations

from typing import Any

import typer.main
from pydantic.fields import FieldInfo
from typer.core import TyperCommand, TyperGroup, TyperOption

from filefleet.core.units import format_duration
from filefleet.runtime import settings as s
from filefleet.runtime.settings import Settings

SERVICES: list[tuple[str, type[Settings]]] = [
    ("filefleet up", s.UpSettings),
    ("filefleet controller", s.ControllerSettings),
    ("filefleet node", s.NodeSettings),
    ("filefleet frontend", s.FrontendSettings),
    ("filefleet replicator", s.ReplicatorSettings),
    ("filefleet gc", s.GCSettings),
]

HEADER = """# Configuration

Every service is configured by flags and environment variables: each flag `--some-flag`
is also read from `FILEFLEET_SOME_FLAG`, and a flag wins over the environment. Durations
accept `500ms`, `2s`, `10m`, `1h`, `7d` (fractions allowed); sizes accept bytes or
`4MiB`, `10GiB`. Defaults live in one place, `filefleet/runtime/settings.py`; this page is
generated from it (`python -m scripts.configuration_doc > docs/configuration.md`) and a
test fails when the two disagree.

Every long-running service also answers `GET /healthz`, and `GET /metrics` for
Prometheus (docs/operations.md, "Metrics"), and needs the cluster secret (`--secret` /
`FILEFLEET_SECRET`) unless started with `--insecure`. Given `--tls-cert` and `--tls-key`
it serves HTTPS only, and `--tls-ca` is what it trusts when it calls others over HTTPS
(docs/deployment.md, "TLS between the services").
"""


def _kind(field: FieldInfo) -> str:
    for meta in field.metadata:
        func = getattr(meta, "func", None)
        if func is s._duration:
            return "duration"
        if func is s._size:
            return "size"
    return ""


def _size_text(value: int) -> str:
    for unit, size in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if value >= size and value % size == 0:
            return f"{value // size}{unit}"
    return str(value)


def default_text(field: FieldInfo) -> str:
    if field.default_factory is not None:
        return "see meaning"
    value: Any = field.default
    if value is None:
        return "–"
    kind = _kind(field)
    if kind == "duration":
        return f"`{format_duration(value)}`"
    if kind == "size":
        return f"`{_size_text(value)}`"
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    return f"`{value}`"


CLIENTS_HEADER = """
## Client commands

The commands that talk to a running cluster read their options from the environment the
same way. They find the cluster as `filefleet status` does: `--controller` (operators'
commands) or `--server` (users' commands), else `<data>/cluster.json` of a running
`filefleet up` (`--data`, else the default data dir); see the README for their exit
codes. `--force` and `--cancel` are read from the command line only: a switch that makes
a command do something it would otherwise refuse is typed each time, never inherited
from an environment. `--password` (`share`, `get`) is a switch to ask for a link's
password on the terminal, without echo; a script gives the password itself in
`FILEFLEET_PASSWORD`, which `share` then protects its links with (with or without the
switch) and `get` sends. `filefleet share` keeps what an interrupted upload needs to resume
under `$FILEFLEET_CACHE_DIR` (default: `$XDG_CACHE_HOME/filefleet`, else
`~/.cache/filefleet`).
"""


def render() -> str:
    """The whole page: every service's settings, then every client command's options."""
    out = [HEADER]
    for title, model in SERVICES:
        out.append(f"\n## `{title}`\n")
        out.append("| flag | environment | default | meaning |")
        out.append("|---|---|---|---|")
        for name, field in model.model_fields.items():
            flag = "--" + name.replace("_", "-")
            env = "FILEFLEET_" + name.upper()
            default = "required" if field.is_required() else default_text(field)
            out.append(f"| `{flag}` | `{env}` | {default} | {field.description or ''} |")
    out.append(CLIENTS_HEADER)
    for title, command in client_commands():
        out.append(f"\n### `{title}`\n")
        out.append("| flag | environment | default | meaning |")
        out.append("|---|---|---|---|")
        for option in options(command):
            flags = ", ".join(f"`{o}`" for o in [*option.opts, *option.secondary_opts])
            env = f"`{option.envvar}`" if option.envvar else "command line only"
            default = _option_default(option.default)
            out.append(f"| {flags} | {env} | {default} | {option.help or ''} |")
    return "\n".join(out) + "\n"


def client_commands() -> list[tuple[str, TyperCommand]]:
    """``(title, command)`` of every client command, as the CLI defines them."""
    from filefleet.cli import CLIENT_COMMANDS, COMMANDS, build_app

    root = typer.main.get_command(build_app())
    assert isinstance(root, TyperGroup)
    found: list[tuple[str, TyperCommand]] = []
    for name in (n for n in COMMANDS if n in CLIENT_COMMANDS):
        command = root.commands[name]
        if isinstance(command, TyperGroup):
            found += [
                (f"filefleet {name} {sub}", c)
                for sub, c in command.commands.items()
                if isinstance(c, TyperCommand)
            ]
        else:
            assert isinstance(command, TyperCommand)
            found.append((f"filefleet {name}", command))
    return found


def _option_default(value: object) -> str:
    if value is None or value is False:
        return "–"
    return "`true`" if value is True else f"`{value}`"


def options(command: TyperCommand) -> list[TyperOption]:
    return [p for p in command.params if isinstance(p, TyperOption)]


if __name__ == "__main__":
    print(render(), end="")
