"""`filefleet get LINK [-o PATH]`: download with a progress bar, resume with Range, and
verify the whole file's SHA-256 (the ETag) before it gets its final name."""

from __future__ import annotations

import hashlib
import re
import urllib.parse
from pathlib import Path
from typing import Annotated

import typer

from filefleet.cli.common import fail
from filefleet.cli.transfer import client, progress_bar, run_command
from filefleet.core.errors import InvalidInput, RequestError
from filefleet.core.filenames import clean_name
from filefleet.core.hashing import file_sha256

PIECE = 1024 * 1024


def filename_from(disposition: str | None, link: str) -> str:
    """The name from ``filename*=UTF-8''...`` (or ``filename="..."``), else the link's."""
    if disposition:
        match = re.search(r"filename\*=UTF-8''([^;]+)", disposition)
        if match:
            return clean_name(urllib.parse.unquote(match.group(1)))
        match = re.search(r'filename="([^"]*)"', disposition)
        if match:
            return clean_name(match.group(1))
    return clean_name(link.rstrip("/").rsplit("/", 1)[-1])


def get(
    link: Annotated[str, typer.Argument(help="The download link.", show_default=False)],
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Where to save.")] = None,
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
) -> None:
    """Download a shared file; run again after an interruption to resume."""
    if not link.startswith(("http://", "https://")) or "/download/" not in link:
        fail(f"not a filefleet download link: {link!r}")

    async def work() -> Path:
        async with client() as http:
            try:
                head = await http.request("HEAD", link)
            except RequestError:
                # A HEAD answer has no body to say why; ask again with GET for the message
                # (a file that is not live takes no download).
                await http.request("GET", link, headers={"Range": "bytes=0-0"})
                raise
            size = int(head.headers.get("Content-Length", "0"))
            etag = head.headers.get("ETag", "").strip('"')
            target = output or Path(filename_from(head.headers.get("Content-Disposition"), link))
            if target.exists() and not force:
                raise InvalidInput(f"{target} exists (use --force to overwrite)")
            part = target.with_name(target.name + ".part")
            offset = part.stat().st_size if part.exists() else 0
            if offset > size:
                offset = 0
            headers = {"Range": f"bytes={offset}-", "If-Range": f'"{etag}"'} if offset else {}
            with progress_bar(True) as progress:
                task = progress.add_task(target.name[:30], total=size, completed=offset, note="")
                if offset < size:
                    async with http.stream("GET", link, headers=headers) as resp:
                        resumed = resp.status == 206
                        # The bytes are hashed as they arrive (after what an interrupted
                        # run saved, when resuming), not read back from disk at the end.
                        digest = file_sha256(part) if resumed else hashlib.sha256()
                        if not resumed:
                            progress.update(task, completed=0)
                        with part.open("ab" if resumed else "wb") as out:
                            async for block in resp.content.iter_chunked(PIECE):
                                out.write(block)
                                digest.update(block)
                                progress.advance(task, len(block))
                else:
                    part.touch()
                    digest = file_sha256(part)
            actual = digest.hexdigest()
            if etag and actual != etag:
                part.unlink()
                raise InvalidInput(f"downloaded bytes hash to {actual}, not {etag}; removed")
            part.replace(target)
            return target

    saved = run_command(work)
    typer.echo(str(saved))


def register(app: typer.Typer) -> None:
    app.command("get")(get)
