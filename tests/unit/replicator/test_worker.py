"""The copy step, the event worker and the repair pass, without servers."""

from __future__ import annotations

import time

from filefleet.queue.dead_letters import DeadLetterPolicy
from filefleet.queue.events import Delivery, ReplicateEvent
from filefleet.replicator.repair import RateLimit, RepairLoop
from filefleet.replicator.worker import EventWorker, retry_delay
from tests.unit.replicator.fakes import CHUNK, DATA, Fleet, MemoryQueue, copier, node


def fleet_of(*free: int) -> Fleet:
    return Fleet(nodes=[node(i, f) for i, f in enumerate(free)])


async def test_copies_to_the_node_with_most_free_space_that_lacks_it() -> None:
    fleet = fleet_of(100, 300, 200)
    fleet.hold(1)  # the freest node already holds it
    outcome = await copier(fleet).replicate(CHUNK)
    assert outcome.done and outcome.copied == 1
    assert fleet.locations[CHUNK] == {fleet.nodes[1].id, fleet.nodes[2].id}
    assert fleet.disks["http://node2"][CHUNK] == DATA


async def test_a_draining_node_is_read_from_but_never_copied_to() -> None:
    fleet = Fleet(
        nodes=[node(0, 100, draining=True), node(1, 50), node(2, 40), node(3, 900, draining=True)]
    )
    fleet.hold(0)  # the draining node's replica does not count: one copy is missing
    fleet.hold(1)
    outcome = await copier(fleet).replicate(CHUNK)
    assert outcome.done and outcome.copied == 1
    assert fleet.disks["http://node2"][CHUNK] == DATA
    assert "http://node3" not in fleet.puts  # the freest node drains: never a target

    alone = Fleet(nodes=[node(0, 100, draining=True), node(1, 50)])
    alone.hold(0)  # the only replica is on the draining node: it is the source
    outcome = await copier(alone).replicate(CHUNK)
    assert not outcome.done and outcome.copied == 1  # R=2 needs a second serving node
    assert alone.disks["http://node1"][CHUNK] == DATA


async def test_at_r_nothing_is_copied() -> None:
    fleet = fleet_of(100, 200, 300)
    fleet.hold(0)
    fleet.hold(1)
    assert (await copier(fleet).replicate(CHUNK)).copied == 0
    assert fleet.puts == []


async def test_a_failed_target_is_replaced_by_the_next() -> None:
    fleet = fleet_of(100, 300, 200)
    fleet.hold(0)
    fleet.dead.add("http://node1")
    c = copier(fleet)
    outcome = await c.replicate(CHUNK)
    assert outcome.done
    assert fleet.puts == ["http://node1", "http://node2"]
    assert c.counters.failed == 1 and c.counters.copied == 1


async def test_a_corrupt_source_is_reported_and_another_used() -> None:
    fleet = fleet_of(100, 200, 300, 400)
    fleet.hold(0, data=b"rotten")
    fleet.hold(1)
    c = copier(fleet, replicas=3)
    outcome = await c.replicate(CHUNK)
    assert outcome.done
    assert c.counters.bad_sources in (0, 1)  # the shuffle may read the good one first
    good = {n.id for n in fleet.nodes if fleet.disks.get(n.url, {}).get(CHUNK) == DATA}
    assert fleet.locations[CHUNK] <= good | {fleet.nodes[0].id}
    assert len(fleet.locations[CHUNK] & good) >= 3 - (1 - c.counters.bad_sources)


async def test_too_few_nodes_leave_the_chunk_waiting() -> None:
    fleet = fleet_of(100)
    fleet.hold(0)
    c = copier(fleet)
    outcome = await c.replicate(CHUNK)
    assert not outcome.done and "lack it" in outcome.reason
    assert c.counters.waiting == 1


async def test_an_unknown_or_unreferenced_chunk_needs_nothing() -> None:
    fleet = fleet_of(100, 200)
    assert (await copier(fleet).replicate("a" * 64)).done
    fleet.hold(0)
    fleet.references = 0
    assert (await copier(fleet).replicate(CHUNK)).done
    assert fleet.puts == []


def delivery(attempts: int = 1, age: float = 0.0) -> Delivery:
    return Delivery(ReplicateEvent(chunk=CHUNK), "1-0", attempts, time.time() - age)


async def test_worker_acks_when_r_is_reached() -> None:
    fleet = fleet_of(100, 200)
    fleet.hold(0)
    queue = MemoryQueue(waiting=[delivery()])
    worker = EventWorker(queue.as_queue(), copier(fleet))
    assert await worker.run_once() == {"events": 1, "acked": 1, "retried": 0, "dead": 0}
    assert len(queue.acked) == 1


async def test_worker_requeues_with_a_growing_delay_then_dead_letters() -> None:
    fleet = fleet_of(100)
    fleet.hold(0)
    queue = MemoryQueue(waiting=[delivery(attempts=3)])
    worker = EventWorker(queue.as_queue(), copier(fleet))
    await worker.run_once()
    assert queue.retried[0][1] == retry_delay(3) == 4.0
    queue.waiting = [delivery(attempts=5, age=61)]
    await worker.run_once()
    assert len(queue.dead) == 1 and worker.counters.dead_lettered == 1
    assert queue.acked == []


def test_retry_delay_doubles_and_is_capped() -> None:
    assert [retry_delay(n) for n in (1, 2, 3, 6, 20)] == [1.0, 2.0, 4.0, 30.0, 30.0]


def test_dead_letter_needs_attempts_and_age() -> None:
    policy = DeadLetterPolicy(attempts=5, min_age=60)
    now = time.time()
    assert not policy.is_dead(Delivery(ReplicateEvent("c"), "t", 9, now - 10), now)
    assert not policy.is_dead(Delivery(ReplicateEvent("c"), "t", 4, now - 600), now)
    assert policy.is_dead(Delivery(ReplicateEvent("c"), "t", 5, now - 60), now)


async def test_repair_pass_heals_fewest_first_and_leaves_the_hopeless() -> None:
    fleet = fleet_of(500, 400, 300)
    fleet.hold(0)  # one replica: repairable
    fleet.locations["b" * 64] = set()  # no replica at all: waits
    repair = RepairLoop(copier(fleet), interval=1, rate_mib=1000)
    counts = await repair.run_once()
    assert counts == {"under_replicated": 2, "repaired": 1, "waiting": 1}
    assert len(fleet.locations[CHUNK]) == 2


async def test_rate_limit_spaces_out_copies() -> None:
    limit = RateLimit(1000.0)
    started = time.monotonic()
    for _ in range(3):
        await limit.take(100)  # within the first second's allowance
    await limit.take(1100)  # 300 over: waits about 0.3 s
    assert 0.2 < time.monotonic() - started < 1.0
