"""`filefleet get LINK [-o PATH] [--json]`: download with a progress bar, resume with Range,
and verify the whole file's SHA-256 (the ETag) before it gets its final name.

LINK is a download link (its own frontend is asked), or a bare file id (asked of
``--server``, else the local cluster's frontend: ``target.py``). ``--json`` prints
``{"path", "name", "size", "sha256"}`` and shows no progress bar."""

from __future__ import annotations

import hashlib
import json
import re
import urllib.parse
from pathlib import Path
from typing import Annotated

import typer

from filefleet.cli import password
from filefleet.cli.common import fail, file_sha256
from filefleet.cli.encrypted_get import fetch_encrypted, refuse_without_key
from filefleet.cli.password import PasswordOption
from filefleet.cli.target import DataOption, ServerOption, TlsCaOption, find_frontend
from filefleet.cli.transfer import client, progress_bar, run_command
from filefleet.core.errors import InvalidInput, PasswordNeeded, RequestError
from filefleet.core.filenames import clean_name
from filefleet.http.client import HttpClient

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


def download_link(link: str, server: str | None, data: Path | None) -> str:
    """The link as given, or, for a bare file id, the link on ``--server`` (or the local
    cluster's frontend)."""
    if link.startswith(("http://", "https://")):
        if "/download/" not in link:
            fail(f"not a filefleet download link: {link!r}")
        return link
    from filefleet.core.ids import FILE_ID_RE  # here: uuid, which it loads, costs ~10 ms

    if not FILE_ID_RE.fullmatch(link):
        fail(f"not a filefleet download link or file id: {link!r}")
    return f"{find_frontend(server, data)}/download/{link}"


def get(
    link: Annotated[
        str, typer.Argument(help="The download link, or a file's id.", show_default=False)
    ],
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", envvar="FILEFLEET_OUTPUT", help="Where to save."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    json_out: Annotated[
        bool,
        typer.Option("--json", envvar="FILEFLEET_JSON", help="Print the result as JSON."),
    ] = False,
    server: ServerOption = None,
    data: DataOption = None,
    tls_ca: TlsCaOption = None,
    ask_password: PasswordOption = False,
) -> None:
    """Download a shared file; run again after an interruption to resume. An end-to-end
    encrypted file's link carries its key after '#': it is decrypted and verified here."""
    link, _, key = link.partition("#")  # the key never goes to the server
    url = download_link(link, server, data)
    given = password.for_getting(ask_password)

    async def work() -> dict[str, object]:
        async with client(tls_ca) as http:

            async def attempt(secret: str | None) -> dict[str, object]:
                if key:
                    return await fetch_encrypted(http, url, key, output, force=force,
                                                 progress=not json_out, secret=secret)  # fmt: skip
                return await fetch(http, url, output, force=force, progress=not json_out,
                                   secret=secret)  # fmt: skip

            try:
                return await attempt(given)
            except PasswordNeeded:
                typed = password.after_refusal(given)
                if typed is None:
                    raise PasswordNeeded(
                        "the link needs a password: give --password (asked for) or set "
                        f"{password.ENV}"
                    ) from None
                return await attempt(typed)

    saved = run_command(work, origin(url))
    typer.echo(json.dumps(saved) if json_out else str(saved["path"]))


async def fetch(
    http: HttpClient,
    link: str,
    output: Path | None,
    *,
    force: bool,
    progress: bool,
    secret: str | None = None,
) -> dict[str, object]:
    """Download ``link`` next to its final name, resuming a ``.part`` an interrupted run
    left; the whole file's SHA-256 is checked against the ETag before it is renamed.
    ``secret``: the link's password, if it has one."""
    auth = password.basic_auth(secret) if secret is not None else {}
    try:
        head = await http.request("HEAD", link, headers=auth)
    except RequestError:
        # A HEAD answer has no body to say why; ask again with GET for the message
        # (a file that is not live takes no download).
        await http.request("GET", link, headers={"Range": "bytes=0-0", **auth})
        raise
    size = int(head.headers.get("Content-Length", "0"))
    etag = head.headers.get("ETag", "").strip('"')
    name = filename_from(head.headers.get("Content-Disposition"), link)
    target = output or Path(name)
    if target.exists() and not force:
        raise InvalidInput(f"{target} exists (use --force to overwrite)")
    part = target.with_name(target.name + ".part")
    offset = part.stat().st_size if part.exists() else 0
    if offset > size:
        offset = 0
    headers = {"Range": f"bytes={offset}-", "If-Range": f'"{etag}"'} if offset else {}
    headers.update(auth)
    with progress_bar(progress) as bar:
        task = bar.add_task(target.name[:30], total=size, completed=offset, note="")
        if offset < size:
            async with http.stream("GET", link, headers=headers) as resp:
                resumed = resp.status == 206
                # The bytes are hashed as they arrive (after what an interrupted run
                # saved, when resuming), not read back from disk at the end.
                digest = file_sha256(part) if resumed else hashlib.sha256()
                if not resumed:
                    bar.update(task, completed=0)
                with part.open("ab" if resumed else "wb") as out:
                    async for block in resp.content.iter_chunked(PIECE):
                        if not out.tell():
                            refuse_without_key(name, block, part)
                        out.write(block)
                        digest.update(block)
                        bar.advance(task, len(block))
        else:
            part.touch()
            digest = file_sha256(part)
    actual = digest.hexdigest()
    # A file's ETag is its SHA-256; a bundle's zip has another validator ("zip-..."),
    # whose members' CRC-32s the zip itself carries.
    if re.fullmatch(r"[0-9a-f]{64}", etag) and actual != etag:
        part.unlink()
        raise InvalidInput(f"downloaded bytes hash to {actual}, not {etag}; removed")
    part.replace(target)
    return {"path": str(target), "name": name, "size": size, "sha256": actual}


def origin(url: str) -> str:
    """``scheme://host:port`` of a URL: the server a link names."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def register(app: typer.Typer) -> None:
    app.command("get")(get)
