"""The metadata store fails under load (issue 19, scenario 5), on PostgreSQL servers of the
test's own (``tests/harness/private_postgres.py``), never the machine's on 5432.

Both stories run four clients uploading 16-24 MiB files in 256 KiB chunks (so each
upload makes dozens of controller calls) while the database goes away:

- **restart**: the server is shut down (fast shutdown: sessions cut) and started again a
  few seconds later. The controllers answer 503 meanwhile and reconnect by themselves;
  the frontend's controller calls retry through the gap.
- **failover**: the primary, with a synchronous streaming standby, is SIGKILLed with its
  whole process group (the machine is gone), and the standby promoted, as Patroni would.
  The controllers were given libpq's multi-host URL with ``target_session_attrs=
  read-write``: their new connections find the promoted server.

Either way: every answer is a link or a JSON 503 (never a 500, never a torn connection),
an upload refused with a 503 succeeds when the client sends it again, every link ever
returned downloads byte-identical afterwards (with synchronous commit, an acknowledged
upload is on the standby), and new uploads succeed without restarting anything.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from filefleet.core.errors import Unavailable
from filefleet.core.models import PingRequest
from filefleet.store.sql import SqlStore, open_store
from tests.harness.cluster import FAST_NODE, Cluster
from tests.harness.private_postgres import DATABASE, PrivatePostgres, private_postgres
from tests.harness.processes import ProcessGroup
from tests.harness.replicators import start_replicator
from tests.harness.upload_load import (
    CHUNK,
    FaultWindow,
    UploadLoad,
    fault_report,
    mismatched_downloads,
    run_fault,
    untranslated_errors,
    upload_once,
)

pytestmark = [pytest.mark.faults, pytest.mark.timeout(180)]

OUTAGE = 3.0  # seconds the database stays down, shorter than a controller call waits
LONG_OUTAGE = 12.0  # ... and longer than it waits
REFUSED_WITHIN = 15.0  # seconds: an upload refused during the outage was answered within


@pytest.fixture
def postgres(procs: ProcessGroup) -> Iterator[PrivatePostgres]:
    with private_postgres(procs) as servers:
        yield servers


def start_cluster(procs: ProcessGroup, root: Path, db: str, controllers: int) -> Cluster:
    cluster = Cluster(
        procs,
        root,
        db=db,
        node_args=FAST_NODE,
        frontend_args=["--chunk-size", str(CHUNK)],
        # The node TTL stays at its default (10 s): the nodes' pings fail while the
        # database is away, and a short outage must not make them inactive (a long one does).
    )
    cluster.start(nodes=3, controllers=controllers)
    # The repair pass alone (no queue) brings every chunk to R, so each test can end with
    # the fleet whole (filefleet fsck clean).
    start_replicator(cluster, "--repair-interval", "1s")
    return cluster


def refused_by_controllers(cluster: Cluster) -> int:
    """Requests the controllers answered 503 (each logs one line per such answer)."""
    return sum(
        proc.log_path.read_text(errors="replace").count("-> 503")
        for proc in cluster.controllers
        if proc.log_path.exists()
    )


def ride_through(
    cluster: Cluster,
    fault: str,
    break_it: Callable[[], object],
    mend_it: Callable[[], object],
    outage: float = OUTAGE,
) -> tuple[UploadLoad, FaultWindow]:
    """Run the load, break the database after a few uploads, mend it once it has been down
    for ``outage`` seconds and the controllers refused requests, and check the invariants
    every database fault keeps."""
    pids = [proc.pid for proc in cluster.controllers]
    load = UploadLoad(cluster, workers=4, max_uploads=60, max_seconds=100)
    window = run_fault(
        load, break_it, mend_it, outage=outage, seen=lambda: refused_by_controllers(cluster) > 0
    )
    print(fault_report(fault, load.answers, window))

    assert load.unacceptable() == [], "answers other than a link or a JSON 503"
    assert untranslated_errors(cluster.procs) == []
    assert len(window.met(load.answers)) >= 4, "the fault met no upload in flight"
    # The controllers reconnected by themselves: the same processes serve the new uploads.
    assert [proc.pid for proc in cluster.controllers] == pids
    assert all(proc.alive() for proc in cluster.controllers)
    # A client that was answered 503 sends its file again, and gets a link.
    refused = [a for a in load.answers if a.status == 503]
    again = [upload_once(cluster, os.urandom(a.size)) for a in refused[:4]]
    assert [a.status for a in again] == [201] * len(again), [a.error for a in again]
    assert mismatched_downloads(cluster, [*load.linked(), *again]) == []
    cluster.wait_clean()
    return load, window


def test_a_short_postgresql_restart_mid_upload_is_ridden_through(
    procs: ProcessGroup, tmp_path: Path, postgres: PrivatePostgres
) -> None:
    cluster = start_cluster(procs, tmp_path, postgres.primary.url(), controllers=1)
    load, window = ride_through(cluster, "restart", postgres.primary.stop, postgres.primary.start)
    # Shorter than what a controller call waits through (CONTROLLER_RETRY): every upload
    # in flight got its link.
    assert [a.status for a in window.met(load.answers)] == [201] * len(window.met(load.answers))


def test_a_long_postgresql_outage_answers_503_in_bounded_time(
    procs: ProcessGroup, tmp_path: Path, postgres: PrivatePostgres
) -> None:
    cluster = start_cluster(procs, tmp_path, postgres.primary.url(), controllers=1)
    load, window = ride_through(
        cluster, "long outage", postgres.primary.stop, postgres.primary.start, LONG_OUTAGE
    )
    # Longer than a controller call waits: uploads are refused, each after at most the
    # retry budget (CONTROLLER_RETRY: 9.1 s of waiting at most) plus its transfer.
    refused = [a for a in window.met(load.answers) if a.status == 503]
    assert refused, "no upload was refused during a long outage"
    assert max(a.seconds for a in refused) < REFUSED_WITHIN


def test_failover_to_a_synchronous_standby_loses_no_acknowledged_upload(
    procs: ProcessGroup, tmp_path: Path, postgres: PrivatePostgres
) -> None:
    standby = postgres.add_sync_standby()
    cluster = start_cluster(procs, tmp_path, postgres.multi_host_url(), controllers=2)
    load, window = ride_through(cluster, "failover", postgres.primary.crash, standby.promote)
    assert standby.sql("SELECT pg_is_in_recovery()") == "f"
    met = window.met(load.answers)
    assert [a.status for a in met] == [201] * len(met)


async def test_a_server_turned_read_only_is_left_for_the_one_that_takes_writes(
    postgres: PrivatePostgres,
) -> None:
    """The old primary of a failover may live on read-only (restarted as a standby): its
    pooled sessions do not close, they answer "cannot execute ... in a read-only
    transaction". That request is a 503, every pooled connection is dropped with it, and
    the next requests connect again, to the server that takes writes."""
    first, second = postgres.primary, postgres.add_server("second")
    await (await open_store(second.url())).close()  # its schema, as a controller makes it
    store = await open_store(postgres.multi_host_url())
    try:
        await check_in_all(store, "a")  # eight sessions in the pool, all on the first server
        first.sql("ALTER SYSTEM SET default_transaction_read_only = on")
        first.sql("SELECT pg_reload_conf()")
        with pytest.raises(Unavailable, match="read-only transaction"):
            for _ in range(50):  # until a pooled session has taken the new setting in
                await check_in_all(store, "b", sessions=1)
        await check_in_all(store, "c")  # not one pooled session to the first server left
        count = "SELECT count(*) FROM nodes WHERE id LIKE 'cc%'"
        assert (first.sql(count, DATABASE), second.sql(count, DATABASE)) == ("0", "8")
    finally:
        await store.close()


async def check_in_all(store: SqlStore, mark: str, sessions: int = 8) -> None:
    """``sessions`` nodes ping at once (so as many pooled connections are in use)."""

    async def ping(n: int) -> None:
        node = f"{mark * 2}{n:030x}"
        await store.ping(PingRequest(id=node, url="http://n", capacity=1, free=1, chunks=0))

    await asyncio.gather(*(ping(n) for n in range(sessions)))
