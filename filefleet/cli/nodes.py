"""`filefleet nodes list|drain NODE|forget NODE [--force] [--json]`: a node's life cycle.

NODE is a node's id (as ``/active-nodes`` lists it) or a name exactly one node has.
The states and the rules are ``core/lifecycle.py``'s; the controller's routes
(``POST /nodes/{id}/drain``, ``GET /nodes/{id}``, ``DELETE /nodes/{id}``) do the work.

- ``list``: every known node, problems first, with its state (active, draining with the
  chunks it still waits for, drained, dead) and the disks under the fleet.
- ``drain NODE``: no new chunk goes to the node from now on, and its replicas stop
  counting toward R, so repair copies each of its chunks to other nodes; the command
  shows the progress and returns once none waits (``--no-wait``: at once). Refused when
  fewer than R other serving nodes are active (``--force`` drains anyway). Ctrl-C stops
  the watching, not the drain. ``--cancel`` returns the node to service.
- ``forget NODE``: the node's record and every location naming it are removed, so its
  chunks are repaired from their other replicas at once and the verdict stops counting
  it. A node still active is refused unless ``--force``.

Exit status: 0 done; 1 refused (unknown node, a rule above); 2 the controller cannot be
reached (``reach.py``); 130 interrupted.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import time
import typing
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

import typer

from filefleet.cli.common import fail
from filefleet.cli.node_table import LIST_COLUMNS, disk_summary, node_rows, table, title
from filefleet.cli.reach import (
    CONTROLLER_HINT,
    FAILED,
    INTERRUPTED,
    UNREACHABLE,
    controller_http,
    unreachable,
)
from filefleet.cli.target import (
    ControllerOption,
    DataOption,
    SecretOption,
    Target,
    TlsCaOption,
    find_cluster,
)
from filefleet.cli.transfer import progress_bar
from filefleet.core import health, lifecycle
from filefleet.core.errors import FilefleetError, RequestError, Unauthorized
from filefleet.core.models import NodeReport, NodeStatus
from filefleet.fastpath.eventloop import install_uvloop
from filefleet.http.controller_api import ControllerClient
from filefleet.http.deadlines import Deadlines

T = TypeVar("T")

POLL_SECONDS = 2.0  # between progress reads while a drain is watched
DEADLINES = Deadlines(connect=2.0, answer=60.0, min_rate=0.0)  # forgetting a big node: pages

JsonOption = Annotated[bool, typer.Option("--json", envvar="FILEFLEET_JSON", help="Print JSON.")]
NodeArgument = Annotated[
    str, typer.Argument(help="The node's id, or its name when no other node has it.")
]

app = typer.Typer(
    name="nodes",
    help="List, drain and forget storage nodes.",
    no_args_is_help=True,
    add_completion=False,
)


def run(target: Target, work: Callable[[ControllerClient], Awaitable[T]]) -> T:
    """Run ``work`` against the controller; errors end the command in one line."""

    async def with_client() -> T:
        async with controller_http(target, DEADLINES) as http:
            return await work(ControllerClient(http, target.urls))

    install_uvloop()
    try:
        return asyncio.run(with_client())
    except FilefleetError as exc:
        refused = isinstance(exc, RequestError) and not isinstance(exc, Unauthorized)
        if refused:
            fail(exc.message, code=FAILED)
        fail(unreachable(target.where, exc, CONTROLLER_HINT), code=UNREACHABLE)
    except KeyboardInterrupt:
        fail("interrupted (a drain goes on: `filefleet nodes list` shows it)", code=INTERRUPTED)


def command(name: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Register ``filefleet nodes NAME``: the function's own parameters, plus the options
    every ``nodes`` command takes (``--json``, ``--controller``, ``--data``, ``--secret``),
    which reach it as ``target`` (the cluster found from them) and ``as_json_out``."""
    shared = [
        inspect.Parameter(key, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=kind)
        for key, kind, default in (
            ("as_json_out", JsonOption, False),
            ("controller", ControllerOption, None),
            ("data", DataOption, None),
            ("secret", SecretOption, None),
            ("tls_ca", TlsCaOption, None),
        )
    ]

    def register(body: Callable[..., None]) -> Callable[..., None]:
        hints = typing.get_type_hints(body, include_extras=True)  # the Annotated options
        own = [
            p.replace(annotation=hints[p.name])
            for p in inspect.signature(body).parameters.values()
            if p.name not in ("target", "as_json_out")
        ]

        @functools.wraps(body)
        def with_cluster(**given: Any) -> None:
            found = find_cluster(
                given.pop("controller"), given.pop("data"), given.pop("secret"), given.pop("tls_ca")
            )
            body(target=found, **given)

        with_cluster.__signature__ = inspect.Signature([*own, *shared])  # type: ignore[attr-defined]
        app.command(name)(with_cluster)
        return body

    return register


def as_json(node: NodeStatus, waiting: int | None) -> dict[str, Any]:
    shown: dict[str, Any] = node.model_dump(mode="json")
    shown.update(state=lifecycle.node_state(node, waiting), waiting=waiting)
    return shown


@command("list")
def list_nodes(*, target: Target, as_json_out: bool = False) -> None:
    """Every known node with its state; draining nodes with the chunks still to copy."""

    async def read(api: ControllerClient) -> tuple[list[NodeStatus], dict[str, int]]:
        nodes = await api.all_nodes()
        reports = [await api.node_report(n.id) for n in nodes if n.draining]
        return nodes, {r.id: r.waiting for r in reports}

    nodes, waiting = run(target, read)
    if as_json_out:
        typer.echo(json.dumps([as_json(n, waiting.get(n.id)) for n in nodes], indent=2))
        return
    from rich.console import Console

    rows = node_rows(nodes, datetime.now(UTC), LIST_COLUMNS, waiting)
    console = Console()
    console.print(table(title("Nodes", len(rows), len(nodes)), LIST_COLUMNS, rows))
    console.print(disk_summary(health.disks(nodes)))


@command("drain")
def drain(
    node: NodeArgument,
    *,
    no_wait: Annotated[
        bool,
        typer.Option("--no-wait", envvar="FILEFLEET_NO_WAIT", help="Return once it started."),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Drain even if fewer than R other nodes serve.")
    ] = False,
    cancel: Annotated[
        bool, typer.Option("--cancel", help="Return the node to service instead.")
    ] = False,
    target: Target,
    as_json_out: bool = False,
) -> None:
    """Copy NODE's chunks to other nodes (none go to it meanwhile); show progress until done."""

    async def work(api: ControllerClient) -> NodeReport:
        found = lifecycle.find_node(await api.all_nodes(), node)
        report = await api.drain_node(found.id, draining=not cancel, force=force)
        if cancel or no_wait or report.waiting == 0:
            return report
        return await watch(api, report, show=not as_json_out)

    report = run(target, work)
    if as_json_out:
        typer.echo(json.dumps(as_json(report, report.waiting), indent=2))
    else:
        typer.echo(drain_outcome(report, cancel=cancel))


async def watch(api: ControllerClient, report: NodeReport, *, show: bool) -> NodeReport:
    """Poll the node's report until no chunk waits, with a progress bar (on stderr)."""
    first = report.waiting
    with progress_bar(show, counting=True) as bar:
        task = bar.add_task(f"draining {lifecycle.node_label(report)}"[:30], total=first,
                            note="chunks copied elsewhere")  # fmt: skip
        while report.waiting:
            await asyncio.sleep(POLL_SECONDS)
            report = await api.node_report(report.id)
            bar.update(task, completed=max(0, first - report.waiting), total=first)
    return report


def drain_outcome(report: NodeReport, *, cancel: bool) -> str:
    label = lifecycle.node_label(report)
    if cancel:
        return f"{label} is back in service"
    if report.waiting:
        return (
            f"draining {label}: {report.waiting} of its {report.listed} chunks still to copy "
            "elsewhere; `filefleet nodes list` shows the progress"
        )
    return (
        f"{label} is drained: every chunk it holds has its replicas on other nodes. Stop it, "
        f"then `filefleet nodes forget {report.id}`"
    )


@command("forget")
def forget(
    node: NodeArgument,
    *,
    force: Annotated[bool, typer.Option("--force", help="Forget it even if it is active.")] = False,
    target: Target,
    as_json_out: bool = False,
) -> None:
    """Remove NODE's record and replica locations: repair starts at once (active: --force)."""

    async def work(api: ControllerClient) -> tuple[NodeStatus, Any]:
        found = lifecycle.find_node(await api.all_nodes(), node)
        return found, await api.forget_node(found.id, force=force)

    started = time.monotonic()
    found, gone = run(target, work)
    if as_json_out:
        typer.echo(json.dumps(gone.model_dump(mode="json"), indent=2))
        return
    typer.echo(
        f"forgot {lifecycle.node_label(found)} ({found.id}) in {time.monotonic() - started:.1f}s: "
        f"{gone.locations} replica locations dropped; repair copies those chunks from their "
        "other replicas"
    )
    if gone.unlocated:
        typer.echo(
            f"warning: {gone.unlocated} chunks of live files had no other replica and are "
            "lost unless a copy turns up (see `filefleet fsck`)",
            err=True,
        )


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="nodes")
