"""`filefleet delete DELETE_URL [--json]`: remove a shared file before it expires.

DELETE_URL is the delete link shown once at upload (its own frontend is asked), or
``ID/TOKEN`` from it (asked of ``--server``, else the local cluster's frontend).
``--json`` prints the frontend's answer, ``{"id", "deleted"}``."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any

import typer

from filefleet.cli.common import fail
from filefleet.cli.get import origin
from filefleet.cli.target import DataOption, ServerOption, TlsCaOption, find_frontend
from filefleet.cli.transfer import client, run_command


def delete_link(given: str, server: str | None, data: Path | None) -> str:
    if given.startswith(("http://", "https://")):
        if "/delete/" not in given:
            fail(f"not a filefleet delete link: {given!r}")
        return given
    from filefleet.core.ids import FILE_ID_RE, TOKEN_RE  # here: see get.py

    if not re.fullmatch(rf"{FILE_ID_RE.pattern}/{TOKEN_RE.pattern}", given):
        fail(f"not a filefleet delete link (or ID/TOKEN): {given!r}")
    return f"{find_frontend(server, data)}/delete/{given}"


def delete(
    delete_url: Annotated[
        str, typer.Argument(help="The delete link (or ID/TOKEN from it).", show_default=False)
    ],
    json_out: Annotated[
        bool, typer.Option("--json", envvar="FILEFLEET_JSON", help="Print the answer as JSON.")
    ] = False,
    server: ServerOption = None,
    data: DataOption = None,
    tls_ca: TlsCaOption = None,
) -> None:
    """Delete a shared file with its delete link (shown once, at upload)."""
    url = delete_link(delete_url, server, data)

    async def work() -> Any:
        async with client(tls_ca) as http:
            answer = await http.request("DELETE", url, headers={"Accept": "application/json"})
            return answer.json()

    result = run_command(work, origin(url))
    typer.echo(json.dumps(result) if json_out else "deleted")


def register(app: typer.Typer) -> None:
    app.command("delete")(delete)
