"""The password of a protected link, for `share` and `get`: from ``FILEFLEET_PASSWORD``,
else asked on the terminal without echo (``getpass``).

- ``share``: with ``FILEFLEET_PASSWORD`` set, its links are protected with it (a script's
  way, with or without ``--password``); else ``--password`` asks twice, and both must
  agree. Without either, links have no password.
- ``get``: ``FILEFLEET_PASSWORD``, else ``--password`` asks once; a link that answers
  ``password_needed`` to a run given none asks once more, on a terminal only.
The password is sent to the frontend only (``X-Password`` style, as HTTP Basic), never
written to disk: an interrupted share's state file notes only that a password was set.
"""

from __future__ import annotations

import base64
import getpass
import os
import sys
from typing import Annotated

import typer

from filefleet.cli.common import fail

ENV = "FILEFLEET_PASSWORD"
MAX_CHARS = 1024

# A switch, read from the command line only: the password itself comes from ENV.
PasswordOption = Annotated[
    bool,
    typer.Option("--password", help=f"Ask for the link's password (without echo); or set {ENV}."),
]


def _ask(prompt: str) -> str:
    if not sys.stdin.isatty():
        fail(f"a password is asked for on a terminal only: set {ENV} instead")
    try:
        given = getpass.getpass(prompt)
    except EOFError:
        fail("no password given")
    if not given:
        fail("the password must not be empty")
    if len(given) > MAX_CHARS:
        fail(f"the password is longer than {MAX_CHARS} characters")
    return given


def for_sharing(asked: bool) -> str | None:
    """The password to protect new links with, or None."""
    from_env = os.environ.get(ENV)
    if from_env:
        return from_env
    if not asked:
        return None
    first = _ask("Password for the link: ")
    if _ask("The same password again: ") != first:
        fail("the two passwords differ; nothing was shared")
    return first


def for_getting(asked: bool) -> str | None:
    """The password to send with a download, or None."""
    from_env = os.environ.get(ENV)
    if from_env:
        return from_env
    return _ask("Password: ") if asked else None


def after_refusal(given: str | None) -> str | None:
    """A password asked for once the link said it needs one: only when none was given and
    someone is at a terminal to type it (else None: the refusal stands)."""
    if given is not None or not sys.stdin.isatty():
        return None
    return _ask("This link needs a password: ")


def basic_auth(password: str) -> dict[str, str]:
    """The header that carries ``password`` (HTTP Basic, empty user name: UTF-8 safe)."""
    token = base64.b64encode(f":{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}
