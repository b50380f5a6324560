"""The fleet at a glance: ``GET /status`` (JSON, the cluster secret as a Bearer token) and
``GET /ui`` (the same as an HTML page that refreshes itself, behind HTTP basic auth with
the cluster secret as the password, so a browser can open it).

``filefleet status`` prints ``GET /status`` and adds the dead letters, which only a reader
of the event queue sees (the controller has no queue). The numbers come from the store in
one read (``store/totals.py``); the verdict from ``core/health.py``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import html
import importlib.resources
import logging
from datetime import UTC, datetime
from string import Template

from aiohttp import web

from filefleet.core import health
from filefleet.core.errors import FilefleetError
from filefleet.core.health import FILE_STATES, ClusterStatus, DeadLetterView, cluster_status
from filefleet.core.lifecycle import node_label, node_state
from filefleet.core.models import NodeStatus
from filefleet.core.units import format_age, format_size
from filefleet.http.server import Api, json_model
from filefleet.queue.base import EventQueue
from filefleet.store.base import MetadataStore

from .context import QUEUE, SETTINGS, STORE

log = logging.getLogger(__name__)

api = Api("controller")  # the status view's routes; app.py adds them to the API's

BELOW_SHOWN = 20
DEAD_SHOWN = 20
REFRESH_SECONDS = 5
_TEXT = importlib.resources.files("filefleet.controller").joinpath("templates/status.html")
_TEMPLATE = Template(_TEXT.read_text("utf-8"))
# The page's only style is its own <style> block, allowed by its hash: no script, nothing
# loaded from anywhere.
_STYLE = _TEMPLATE.template.split("<style>", 1)[1].split("</style>", 1)[0]
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()
PAGE_CSP = (
    f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


async def read_status(
    store: MetadataStore, replicas: int, node_ttl: float, queue: EventQueue | None = None
) -> ClusterStatus:
    """Nodes, the first chunks below R, the store's totals, the dead letters (when the
    controller was given the queue) and the verdict."""
    nodes = await store.all_nodes(node_ttl)
    below = await store.chunks_below(replicas, node_ttl, BELOW_SHOWN)
    totals = await store.totals(replicas, node_ttl)
    return cluster_status(replicas, nodes, below, totals, await _dead_letters(queue))


async def _dead_letters(queue: EventQueue | None) -> list[DeadLetterView] | None:
    if queue is None:
        return None
    try:
        letters = await asyncio.wait_for(queue.dead_letters(DEAD_SHOWN), timeout=5)
    except (FilefleetError, TimeoutError) as exc:
        log.warning("cannot read dead letters: %s", exc)
        return None
    return [
        DeadLetterView(
            chunk=d.event.chunk, attempts=d.attempts, failed_at=d.failed_at, reason=d.reason
        )
        for d in letters
    ]


@api.route("GET", "/status", summary="The fleet at a glance: nodes, chunks below R, totals",
           response=ClusterStatus)  # fmt: skip
async def status(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    report = await read_status(
        request.app[STORE], settings.replicas, settings.node_ttl, request.app.get(QUEUE)
    )
    return json_model(report)


@api.route("GET", "/ui", summary="The status page (HTML; basic auth, password = secret)",
           basic_auth=True)  # fmt: skip
async def status_page(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    report = await read_status(
        request.app[STORE], settings.replicas, settings.node_ttl, request.app.get(QUEUE)
    )
    return web.Response(
        text=render_page(report, datetime.now(UTC)),
        content_type="text/html",
        headers={"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-store"},
    )


# -- the page (pure) ---------------------------------------------------------------------


def render_page(report: ClusterStatus, now: datetime) -> str:
    totals = report.totals
    return _TEMPLATE.substitute(
        refresh=REFRESH_SECONDS,
        verdict_class="healthy" if report.healthy else "degraded",
        verdict=_e(report.verdict),
        replicas=report.replicas,
        node_rows="\n".join(_node_row(n, now) for n in report.nodes) or _empty(8, "no node yet"),
        below_count=totals.below,
        single_copy=totals.single_copy,
        below_rows="\n".join(
            f"<tr><td><code>{_e(c.id[:16])}</code></td><td>{_e(format_size(c.size))}</td>"
            f"<td>{c.live}</td><td>{len(c.locations)}</td></tr>"
            for c in report.below
        )
        or _empty(4, "none"),
        file_rows="\n".join(
            f"<tr><td>{state}</td><td>{totals.files[state].files}</td>"
            f"<td>{_e(format_size(totals.files[state].bytes))}</td></tr>"
            for state in FILE_STATES
            if state in totals.files
        ),
        chunks=totals.chunks,
        live_chunks=totals.live_chunks,
        replica_bytes=_e(format_size(totals.replica_bytes)),
        used_bytes=_e(_used(report.nodes)),
        collecting_chunks=totals.collecting_chunks,
        collecting_bytes=_e(format_size(totals.collecting_bytes)),
        deleting_bytes=_e(format_size(totals.files["deleting"].bytes)),
        reclaimed_bytes=_e(format_size(totals.reclaimed_bytes)),
        dead_count="?" if report.dead_letters is None else len(report.dead_letters),
        dead_rows=_dead_rows(report.dead_letters),
        generated=_e(now.strftime("%Y-%m-%d %H:%M:%S UTC")),
    )


def _used(nodes: list[NodeStatus]) -> str:
    """Bytes used on the disks under the nodes, each disk once however many nodes share it."""
    disks = health.disks(nodes)
    used = sum(d.capacity - d.free for d in disks)
    return f"{format_size(used)} on {len(disks)} disk{'s' * (len(disks) != 1)}"


def _dead_rows(letters: list[DeadLetterView] | None) -> str:
    if letters is None:
        return _empty(4, "not read: start the controller with --queue, or run filefleet status")
    return "\n".join(
        f"<tr><td><code>{_e(d.chunk[:16])}</code></td><td>{d.attempts}</td>"
        f"<td>{_e(datetime.fromtimestamp(d.failed_at, UTC).strftime('%Y-%m-%d %H:%M:%S'))}</td>"
        f"<td>{_e(d.reason[:200])}</td></tr>"
        for d in letters
    ) or _empty(4, "none")


def _node_row(node: NodeStatus, now: datetime) -> str:
    state = node_state(node)
    return (
        f'<tr class="{state}"><td>{_e(node_label(node))}</td><td><code>{_e(node.id[:12])}'
        f'</code></td><td>{_e(node.url)}</td><td class="state">{state}</td>'
        f"<td>{_e(format_size(node.free))}</td><td>{_e(format_size(node.capacity))}</td>"
        f"<td>{node.chunks}</td><td>{_e(format_age(node.last_ping, now))}</td></tr>"
    )


def _empty(columns: int, text: str) -> str:
    return f'<tr><td colspan="{columns}" class="none">{_e(text)}</td></tr>'


def _e(value: object) -> str:
    return html.escape(str(value))
