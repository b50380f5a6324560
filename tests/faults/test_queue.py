"""The event queue restarts under load (issue 19, scenario 6): Redis, then RabbitMQ, each a
server of the test's own (``tests/harness/private_queue.py``), never the machine's.

Two clients upload 4-8 MiB files in 256 KiB chunks while a replicator consumes their
chunk-replicate events, and the queue server is stopped and, a few seconds later, started
again on its data (Redis with its append-only file; RabbitMQ's durable queues). Events are
a fast path, not the truth (DESIGN §7), so:

- uploads go on succeeding while the queue is down: the publish fails at once (the
  server refuses), is logged, and the upload is answered as fast as before;
- the replicator and the frontend reconnect by themselves: the chunks of uploads made
  after the queue returned reach R through their events (the replicator's
  ``events.received`` counter moves by at least one per chunk);
- the chunks of uploads made while it was down, whose events were never published,
  reach R through the replicator's periodic repair pass (its ``repaired`` counter);
- every link downloads byte-identical; no service logged an untranslated error.
"""

from __future__ import annotations

import math
import signal
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

from filefleet.frontend.events import PUBLISH_TIMEOUT, publish_replicate
from filefleet.queue.factory import open_queue
from tests.harness.cluster import FAST_NODE, Cluster
from tests.harness.private_queue import QueueServer, private_rabbitmq, private_redis
from tests.harness.processes import ProcessGroup, wait_for
from tests.harness.replicators import Replicator, start_replicator, wait_replicated
from tests.harness.upload_load import (
    CHUNK,
    MiB,
    UploadLoad,
    fault_report,
    mismatched_downloads,
    run_fault,
    untranslated_errors,
)

pytestmark = [pytest.mark.faults, pytest.mark.timeout(180)]

OUTAGE = 3.0  # seconds the queue stays down at least (RabbitMQ's start adds ~5 s)
REPAIR_INTERVAL = "5s"  # the replicator's periodic repair pass
SERVERS: dict[str, Callable[[ProcessGroup], AbstractContextManager[QueueServer]]] = {
    "redis": private_redis,
    "rabbitmq": private_rabbitmq,
}


@pytest.fixture(params=list(SERVERS))
def queue_server(request: pytest.FixtureRequest, procs: ProcessGroup) -> Iterator[QueueServer]:
    with SERVERS[request.param](procs) as server:
        yield server


def chunks_of(size: int) -> int:
    return math.ceil(size / CHUNK)


def events_received(replicator: Replicator) -> int:
    events: dict[str, Any] = replicator.stats()["events"]
    return int(events["received"])


def publish_failures(cluster: Cluster) -> int:
    assert cluster.frontend is not None
    text = cluster.frontend.log_path.read_text(errors="replace")
    return text.count("publishing replicate events")


def test_a_queue_restart_mid_upload_loses_nothing_and_heals(
    procs: ProcessGroup, tmp_path: Path, queue_server: QueueServer
) -> None:
    cluster = Cluster(
        procs,
        tmp_path,
        node_args=FAST_NODE,
        frontend_args=["--chunk-size", str(CHUNK)],
        controller_args=["--replicas", "2"],
        queue=queue_server.url,
    ).start(nodes=3)
    replicator = start_replicator(cluster, "--repair-interval", REPAIR_INTERVAL)
    pid = replicator.process.pid
    load = UploadLoad(
        cluster, workers=2, sizes=(4 * MiB, 8 * MiB), max_uploads=100, allowed_errors=frozenset()
    )
    marks: dict[str, float] = {}

    def stop_queue() -> None:
        marks["received"] = events_received(replicator)
        queue_server.stop()
        marks["stopped"] = time.monotonic()

    def start_queue() -> None:
        queue_server.start()
        marks["received_up"] = events_received(replicator)

    window = run_fault(
        load,
        stop_queue,
        start_queue,
        outage=OUTAGE,
        # ... until uploads begun since the stop got their links: the fleet does without it
        seen=lambda: load.finished_ok_after(marks.get("stopped", math.inf)) >= 2,
    )
    print(fault_report(f"{queue_server.name} restart", load.answers, window))

    # Every upload got its link, also those made while the queue was down, as fast as
    # the others: a publish to a dead queue fails at once, not after PUBLISH_TIMEOUT.
    assert load.unacceptable() == []
    assert marks["received"] > 0, "the replicator consumed nothing before the fault"
    while_down = window.within(load.answers)
    assert len(while_down) >= 2, "no upload began and ended while the queue was down"
    assert max(a.seconds for a in while_down) < PUBLISH_TIMEOUT
    assert publish_failures(cluster) >= len(while_down)

    # The replicator reconnected by itself: every chunk of the uploads begun after the
    # queue came back arrived as an event.
    after = [a for a in load.linked() if a.started > window.up]
    expected = sum(chunks_of(a.size) for a in after)
    wait_for(lambda: events_received(replicator) > marks["received_up"], timeout=30, interval=0.1)
    consuming = time.monotonic() - window.up
    wait_for(
        lambda: events_received(replicator) - marks["received_up"] >= expected,
        timeout=30,
        interval=0.2,
        what=f"{expected} events of the uploads after the restart received",
    )
    # The chunks of the uploads made while it was down had no event: the periodic repair
    # brings them, with everything else, to R.
    wait_replicated(cluster, [a.file_id for a in load.linked() if a.file_id], timeout=60)
    print(
        f"replicator consuming {consuming:.1f}s after the queue was back; "
        f"every chunk at R {time.monotonic() - window.up:.1f}s after"
    )
    stats = replicator.stats()
    assert stats["repaired"] >= sum(chunks_of(a.size) for a in while_down), stats
    assert (replicator.process.pid, replicator.process.alive()) == (pid, True)
    assert mismatched_downloads(cluster, load.linked()) == []
    assert untranslated_errors(procs) == []
    cluster.wait_clean()


async def test_a_queue_that_does_not_answer_holds_an_upload_at_most_the_publish_timeout(
    procs: ProcessGroup,
) -> None:
    """Down, a queue refuses at once; hung (SIGSTOP: it accepts connections and never
    answers), it costs an upload's answer PUBLISH_TIMEOUT at most, never a hang or an
    error: the file is stored and active, its chunks are left to the periodic repair."""
    events = [f"{n:064x}" for n in range(64)]
    with private_redis(procs) as server:
        queue = open_queue(server.url)
        try:
            await publish_replicate(queue, "warm", events)  # connected, as in a frontend
            assert server.proc is not None
            server.proc.signal(signal.SIGSTOP)
            try:
                hung, taken = await timed(publish_replicate(queue, "hung", events))
            finally:
                server.proc.signal(signal.SIGCONT)
            server.stop()
            down, taken_down = await timed(publish_replicate(queue, "down", events))
        finally:
            await queue.close()
    assert PUBLISH_TIMEOUT <= hung < PUBLISH_TIMEOUT + 1.0
    assert down < 0.5
    assert not taken and not taken_down  # said so: left to the periodic repair


async def timed(call: Awaitable[bool]) -> tuple[float, bool]:
    started = time.monotonic()
    result = await call
    return time.monotonic() - started, result
