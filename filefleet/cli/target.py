"""Which cluster an operator's command talks to (``status``, ``fsck``): DESIGN §13.

In order: ``--controller`` (or ``FILEFLEET_CONTROLLER``) with ``--secret`` (or
``FILEFLEET_SECRET``); else the controller, secret and queue in ``<data>/cluster.json``,
the file ``filefleet up`` writes, where ``<data>`` is ``--data`` (or ``FILEFLEET_DATA``)
or the default data dir. A secret given as a flag or in the environment wins over the
file's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from filefleet.cli.common import fail
from filefleet.runtime.settings import default_data_dir

# The options every such command takes, declared once.
ControllerOption = Annotated[
    str | None,
    typer.Option(
        envvar="FILEFLEET_CONTROLLER",
        help="Controller URL(s), comma-separated (default: from <data>/cluster.json).",
    ),
]
DataOption = Annotated[
    Path | None,
    typer.Option(envvar="FILEFLEET_DATA", help="Cluster data dir holding cluster.json."),
]
SecretOption = Annotated[
    str | None, typer.Option(envvar="FILEFLEET_SECRET", help="Cluster secret.")
]


@dataclass(frozen=True)
class Target:
    """Where the cluster is: its controllers, the secret, and the queue when known."""

    urls: list[str]
    secret: str | None
    queue: str | None = None

    @property
    def where(self) -> str:
        """The controllers as the operator gave them, for error messages."""
        return ",".join(self.urls)


def find_cluster(controller: str | None, data: Path | None, secret: str | None) -> Target:
    """The target of a command given these options; fails (exit 2) when there is none."""
    queue = None
    if controller is None:
        manifest = read_manifest(data)
        controller = manifest.get("services", {}).get("controller", {}).get("url")
        if not controller:
            fail("cluster.json names no controller")
        secret = secret or manifest.get("secret")
        queue = manifest.get("queue")
    urls = [u.strip().rstrip("/") for u in controller.split(",") if u.strip()]
    if not urls:
        fail("--controller names no URL")
    return Target(urls, secret, queue)


def read_manifest(data: Path | None) -> dict[str, Any]:
    """``<data>/cluster.json``, written by ``filefleet up``."""
    path = (data or default_data_dir()) / "cluster.json"
    try:
        manifest: Any = json.loads(path.read_text())
    except FileNotFoundError:
        fail(f"no {path}: is `filefleet up` running there? Or pass --controller URL")
    except ValueError as exc:
        fail(f"{path} is not valid JSON: {exc}")
    if not isinstance(manifest, dict):
        fail(f"{path} is not a JSON object")
    return manifest
