"""`filefleet delete DELETE_URL`: remove a shared file before it expires."""

from __future__ import annotations

from typing import Annotated

import typer

from filefleet.cli.common import fail
from filefleet.cli.transfer import client, run_command


def delete(
    delete_url: Annotated[str, typer.Argument(help="The delete link.", show_default=False)],
) -> None:
    """Delete a shared file with its delete link (shown once, at upload)."""
    if not delete_url.startswith(("http://", "https://")) or "/delete/" not in delete_url:
        fail(f"not a filefleet delete link: {delete_url!r}")

    async def work() -> None:
        async with client() as http:
            await http.request("DELETE", delete_url, headers={"Accept": "application/json"})

    run_command(work)
    typer.echo("deleted")


def register(app: typer.Typer) -> None:
    app.command("delete")(delete)
