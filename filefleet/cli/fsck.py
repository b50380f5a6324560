"""`filefleet fsck [--verify] [--json]`: is every live file whole, on the nodes themselves?

``filefleet status`` shows what the controller believes; fsck checks it against the nodes,
like ``hdfs fsck``. One run, in this order (the counting is ``core/fsck.py``'s):

1. ``GET /status`` on the controller: R, and every node with whether it is active.
2. Every active node's ``GET /chunks``, a page of 1,000 ids at a time, all nodes at once:
   what each one holds. (One request per 1,000 chunks, not one per replica.)
3. The live files, ``GET /files?state=active`` a page of 100 at a time, with their chunks
   and locations. Each replica the listings do not settle is asked about, at most
   ``IN_FLIGHT`` questions at a time: with ``--verify`` every replica on an active node
   is re-hashed on its node (``POST /chunk/{id}/verify``: no chunk crosses the network);
   without it, a replica missing from its node's listing is confirmed with a HEAD (the
   listing predates the page: an upload since then is not in it).
4. For each active node, the chunks it holds that no live file uses are looked up on the
   controller (``POST /chunks/lookup``, 1,000 per request, as the GC's sweep does): those
   no file references are orphans.

fsck writes nothing. With ``--verify`` a node that finds its copy corrupt deals with it as
its scrubber would: it quarantines the copy and reports it to the controller, so repair
copies a good one back.

Exit status: 0 when every live file can be read (even if some chunk is short of R), 1 when
some cannot, 2 when the cluster cannot be reached.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Annotated

import typer

from filefleet.cli.common import fail
from filefleet.cli.reach import (
    CONTROLLER_HINT,
    UNREACHABLE,
    controller_http,
    unreachable,
)
from filefleet.cli.target import (
    ControllerOption,
    DataOption,
    SecretOption,
    TlsCaOption,
    find_cluster,
)
from filefleet.core.errors import FilefleetError, InvalidInput, NotFound
from filefleet.core.file_query import FileQuery
from filefleet.core.fsck import FleetCheck, FsckReport, Key, Question, Replica, is_live
from filefleet.core.models import FileInfo
from filefleet.core.units import parse_duration
from filefleet.fastpath.eventloop import install_uvloop
from filefleet.http.client import HttpClient
from filefleet.http.controller_api import ControllerClient
from filefleet.http.deadlines import Deadlines
from filefleet.http.node_api import NodeClient
from filefleet.http.retry import RetryPolicy

FILE_PAGE = 100  # files per controller page
NODE_PAGE = 1000  # chunk ids per node page
IN_FLIGHT = 8  # questions to nodes (HEAD, verify) at once, over the whole fleet
# A node's answer (a page of 1,000 ids, a re-hash of 4 MiB) takes milliseconds; a hung one
# must not hold the check up for long (--node-timeout).
NODE_TIMEOUT = "15s"
QUICK = RetryPolicy(attempts=2, base_delay=0.1, max_delay=0.3)


async def check_fleet(
    controller: ControllerClient, nodes: NodeClient, *, verify: bool, now: datetime | None = None
) -> FsckReport:
    """One whole check (steps 1-4 above). A controller failure raises; a node failure is
    reported in the result."""
    status = await controller.status()
    check = FleetCheck(status.replicas, status.nodes, verify=verify)
    active = [n.id for n in check.active_nodes()]
    await asyncio.gather(*(list_node(check, nodes, node_id) for node_id in active))
    async for files in live_files(controller, now or datetime.now(UTC)):
        await check_files(check, nodes, files)
    for node_id in active:
        candidates = check.orphan_candidates(node_id)
        check.found_records(node_id, candidates, await controller.lookup_chunks(candidates))
    return check.report()


async def list_node(check: FleetCheck, nodes: NodeClient, node_id: str) -> None:
    url = check.nodes[node_id].url
    after: str | None = None
    try:
        while True:
            page = await nodes.list_chunks(url, after=after, limit=NODE_PAGE)
            check.listed(node_id, page["chunks"])
            after = page.get("next")
            if not after:
                return
    except FilefleetError as exc:
        check.unreachable(node_id, exc.message)


async def live_files(controller: ControllerClient, now: datetime) -> AsyncIterator[list[FileInfo]]:
    after: str | None = None
    while True:
        page = await controller.list_files(FileQuery(state="active", after=after, limit=FILE_PAGE))
        yield [info for info in page.files if is_live(info, now)]
        if page.next is None:
            return
        after = page.next


async def check_files(check: FleetCheck, nodes: NodeClient, files: Sequence[FileInfo]) -> None:
    """Judge one page of files, asking the nodes what their listings did not settle."""
    page = check.page(files)
    page.settle(await ask_nodes(check, nodes, page.questions))


async def ask_nodes(
    check: FleetCheck, nodes: NodeClient, questions: Sequence[tuple[Key, Question]]
) -> dict[Key, Replica]:
    """Every question, ``IN_FLIGHT`` at a time (a few workers take them in turn, so a page
    of many chunks costs no more memory than a few requests)."""
    answers: dict[Key, Replica] = {}
    pending = iter(questions)

    async def worker() -> None:
        for (chunk_id, node_id), question in pending:
            answers[chunk_id, node_id] = await ask_node(check, nodes, node_id, chunk_id, question)

    await asyncio.gather(*(worker() for _ in range(min(IN_FLIGHT, len(questions)))))
    return answers


async def ask_node(
    check: FleetCheck, nodes: NodeClient, node_id: str, chunk_id: str, question: Question
) -> Replica:
    """One question to one node. A node that fails one is asked nothing more."""
    if not check.answering(node_id):
        return Replica.UNCHECKED
    url = check.nodes[node_id].url
    try:
        if question == "verify":
            return await verify_replica(check, nodes, node_id, chunk_id)
        return Replica.GOOD if await nodes.has_chunk(url, chunk_id) else Replica.MISSING
    except FilefleetError as exc:
        check.unreachable(node_id, exc.message)
        return Replica.UNCHECKED


async def verify_replica(
    check: FleetCheck, nodes: NodeClient, node_id: str, chunk_id: str
) -> Replica:
    """Have the node re-hash its copy. A 404 is a missing chunk, or a node too old to have
    the route (during an upgrade): a HEAD tells the two apart, so such a node's replicas
    are reported unchecked rather than missing."""
    url = check.nodes[node_id].url
    try:
        verified = await nodes.verify_chunk(url, chunk_id)
    except NotFound:
        if not await nodes.has_chunk(url, chunk_id):
            return Replica.MISSING
        check.unreachable(node_id, "cannot re-hash: no POST /chunk/{id}/verify (an older node?)")
        return Replica.UNCHECKED
    return Replica.GOOD if verified.ok else Replica.CORRUPT


# --- output -------------------------------------------------------------------------------


def render(report: FsckReport) -> str:
    """The report for a terminal: counts, the nodes that failed, the unreadable files, and
    a verdict on the last line."""
    active = sum(n.active for n in report.nodes)
    how = "replicas re-hashed on their nodes" if report.verified else "presence only"
    corrupt = report.corrupt_replicas if report.verified else "not checked (--verify)"
    rows: list[tuple[str, object, str]] = [
        ("live files", report.files, ""),
        ("chunks", report.chunks, f"{report.good_replicas} good replicas"),
        ("under-replicated chunks", report.under_replicated_chunks, "fewer than R good"),
        ("lost chunks", report.lost_chunks, "no good replica"),
        ("missing replicas", report.missing_replicas, "listed, not on the node"),
        ("corrupt replicas", corrupt, ""),
        ("orphan replicas", report.orphan_replicas, "no file uses them: the GC's"),
        ("replicas on inactive nodes", report.inactive_replicas, "not looked at"),
        ("unchecked replicas", report.unchecked_replicas, "their node did not answer"),
    ]
    lines = [f"fsck: R={report.replicas}, {active}/{len(report.nodes)} nodes active, {how}"]
    for label, value, note in rows:
        lines.append(f"  {label:<27} {value}" + (f"  ({note})" if note and value else ""))
    lines += [f"  node {n.id[:12]} at {n.url}: {n.error}" for n in report.nodes if n.error]
    if report.unreadable_files:
        lines.append(f"unreadable files ({len(report.unreadable_files)}):")
        for f in report.unreadable_files:
            lines.append(f"  {f.id}  {f.name!r}  {f.size} bytes, "
                         f"{len(f.lost_chunks)} of {f.chunks} chunks lost")  # fmt: skip
    lines.append(verdict(report))
    return "\n".join(lines)


def verdict(report: FsckReport) -> str:
    unreadable = len(report.unreadable_files)
    if unreadable:
        return f"UNREADABLE: {unreadable} live file{'s' * (unreadable != 1)} cannot be read"
    if report.clean:
        return f"clean: every live chunk has {report.replicas} good replicas"
    return "degraded: every live file can be read, but not every replica is good (see above)"


# --- the command --------------------------------------------------------------------------


def fsck(
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            envvar="FILEFLEET_VERIFY",
            help="Have each node re-hash every replica it holds.",
        ),
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", envvar="FILEFLEET_JSON", help="Print one JSON object.")
    ] = False,
    node_timeout: Annotated[
        str,
        typer.Option(
            envvar="FILEFLEET_NODE_TIMEOUT",
            help="How long a node may take to answer one request before it is reported "
            "as not answering (and asked nothing more).",
        ),
    ] = NODE_TIMEOUT,
    controller: ControllerOption = None,
    data: DataOption = None,
    secret: SecretOption = None,
    tls_ca: TlsCaOption = None,
) -> None:
    """Check every live file's chunks on the nodes: replicas, presence, hashes."""
    target = find_cluster(controller, data, secret, tls_ca)
    try:
        node_seconds = parse_duration(node_timeout)
    except InvalidInput as exc:
        fail(f"--node-timeout: {exc.message}")
    if node_seconds <= 0:
        fail("--node-timeout must be more than 0")

    async def run() -> FsckReport:
        http = controller_http(target, Deadlines(2.0, 60.0, min_rate=0))
        # A hung node is given up after --node-timeout, and asked nothing more.
        node_deadlines = Deadlines(2.0, node_seconds, min_rate=0)
        node_http = HttpClient(secret=target.secret, deadlines=node_deadlines, tls_ca=target.tls_ca)
        async with http, node_http:
            api = ControllerClient(http, target.urls, retry=QUICK)
            nodes = NodeClient(node_http)
            return await check_fleet(api, nodes, verify=verify)

    install_uvloop()
    try:
        report = asyncio.run(run())
    except FilefleetError as exc:
        fail(unreachable(target.where, exc, CONTROLLER_HINT), code=UNREACHABLE)
    except KeyboardInterrupt:
        fail("interrupted", code=130)
    if as_json:
        typer.echo(json.dumps(report.model_dump(mode="json"), indent=2))
    else:
        typer.echo(render(report))
    raise typer.Exit(1 if report.unreadable_files else 0)


def register(app: typer.Typer) -> None:
    app.command("fsck")(fsck)
