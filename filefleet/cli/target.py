"""Which cluster a client command talks to: DESIGN §13.

Operators' commands (``status``, ``fsck``, ``nodes``) talk to the controller: in order,
``--controller`` (or ``FILEFLEET_CONTROLLER``) with ``--secret`` (or ``FILEFLEET_SECRET``);
else the controller, secret and queue in ``<data>/cluster.json``, the file ``filefleet
up`` writes, where ``<data>`` is ``--data`` (or ``FILEFLEET_DATA``) or the default data
dir. A secret given as a flag or in the environment wins over the file's.

Users' commands (``share``, and ``get``/``delete`` given a bare id) talk to a frontend:
``--server`` (or ``FILEFLEET_SERVER``); else the frontend in ``<data>/cluster.json``
(found as above); else ``http://127.0.0.1:8000``. A full link names its own frontend.

Every one of them checks an ``https://`` server's certificate against ``--tls-ca`` (or
``FILEFLEET_TLS_CA``), a CA bundle, or the system's store without one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from filefleet.cli.common import fail
from filefleet.runtime.paths import default_data_dir

DEFAULT_SERVER = "http://127.0.0.1:8000"

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
TlsCaOption = Annotated[
    Path | None,
    typer.Option(
        "--tls-ca",
        envvar="FILEFLEET_TLS_CA",
        help="PEM bundle of the CA that signs the cluster's https:// certificates "
        "(default: the system's store).",
    ),
]
ServerOption = Annotated[
    str | None,
    typer.Option(
        envvar="FILEFLEET_SERVER",
        help=f"Frontend URL (default: from <data>/cluster.json, else {DEFAULT_SERVER}).",
    ),
]


@dataclass(frozen=True)
class Target:
    """Where the cluster is: its controllers, the secret, the queue when known, and the
    CA bundle its certificates are checked against."""

    urls: list[str]
    secret: str | None
    queue: str | None = None
    tls_ca: Path | None = None

    @property
    def where(self) -> str:
        """The controllers as the operator gave them, for error messages."""
        return ",".join(self.urls)


def find_cluster(
    controller: str | None, data: Path | None, secret: str | None, tls_ca: Path | None = None
) -> Target:
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
    return Target(urls, secret, queue, tls_ca)


def find_frontend(server: str | None, data: Path | None) -> str:
    """The frontend a user's command talks to: ``--server``, else the running local
    cluster's (``cluster.json``; a ``--data`` without one is an error), else the default."""
    if server:
        return server.strip().rstrip("/")
    if data is None and not (default_data_dir() / "cluster.json").exists():
        return DEFAULT_SERVER
    manifest = read_manifest(data, "--server URL")
    frontend = manifest.get("services", {}).get("frontend", {}).get("url")
    if not isinstance(frontend, str) or not frontend:
        fail("cluster.json names no frontend; pass --server URL")
    return frontend.rstrip("/")


def read_manifest(data: Path | None, instead: str = "--controller URL") -> dict[str, Any]:
    """``<data>/cluster.json``, written by ``filefleet up``; ``instead``: the option to
    name when there is none."""
    path = (data or default_data_dir()) / "cluster.json"
    try:
        manifest: Any = json.loads(path.read_text())
    except FileNotFoundError:
        fail(f"no {path}: is `filefleet up` running there? Or pass {instead}")
    except ValueError as exc:
        fail(f"{path} is not valid JSON: {exc}")
    if not isinstance(manifest, dict):
        fail(f"{path} is not a JSON object")
    return manifest
