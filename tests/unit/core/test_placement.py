import hashlib
import itertools

from filefleet.core.placement import NodeCandidate, Placement, rank_targets, read_order

A = NodeCandidate("a" * 32, "http://a", 1000)
B = NodeCandidate("b" * 32, "http://b", 1000)
C = NodeCandidate("c" * 32, "http://c", 1000)


def test_equal_nodes_take_turns_golden() -> None:
    placement = Placement([C, A, B])
    chosen = [placement.choose(100) for _ in range(6)]
    assert [n.id[0] for n in chosen if n] == ["a", "b", "c", "a", "b", "c"]


def test_fuller_node_gets_fewer_chunks() -> None:
    small = NodeCandidate("d" * 32, "http://d", 300)
    placement = Placement([A, small])
    picks = [placement.choose(100) for _ in range(10)]
    counts = {n.id[0]: sum(1 for p in picks if p and p.id == n.id) for n in (A, small)}
    assert counts["a"] > counts["d"]
    assert counts["a"] + counts["d"] == 10


def test_exclude_and_release() -> None:
    placement = Placement([A, B])
    first = placement.choose(100, exclude=[A.id])
    assert first == B
    placement.release(B.id, 100)
    assert placement.effective_free(B) == 1000
    assert placement.choose(100, exclude=[A.id, B.id]) is None


def test_no_nodes() -> None:
    assert Placement([]).choose(1) is None


def test_rank_targets_most_free_first_without_holders() -> None:
    big = NodeCandidate("e" * 32, "http://e", 5000)
    assert rank_targets([A, big, B], holders=[A.id]) == [big, B]


def test_a_file_is_spread_even_when_free_space_differs_a_little() -> None:
    """Nodes on one disk report slightly different free space; a file still spreads."""
    nodes = [
        NodeCandidate("a" * 32, "u", 10**11 + 5 * 10**8),
        NodeCandidate("b" * 32, "u", 10**11),
        NodeCandidate("c" * 32, "u", 10**11),
    ]
    placement = Placement(nodes)
    picks = [placement.choose(4 * 1024**2) for _ in range(12)]
    assert {p.id[0] for p in picks if p} == {"a", "b", "c"}


def test_twice_the_free_space_gets_about_twice_the_chunks() -> None:
    big = NodeCandidate("e" * 32, "u", 2000)
    placement = Placement([A, big])
    picks = [placement.choose(10) for _ in range(30)]
    assert sum(1 for p in picks if p == big) == 20


def test_a_node_without_room_for_the_chunk_is_never_chosen() -> None:
    full = NodeCandidate("f" * 32, "http://f", 99)
    placement = Placement([full, A])
    assert [placement.choose(100) for _ in range(10)] == [A] * 10
    assert placement.choose(100) is None  # A's 1000 bytes are now all assigned
    assert rank_targets([full, A], holders=[], size=100) == [A]


def test_a_suspect_gets_a_chunk_only_when_no_other_node_can_take_it() -> None:
    placement = Placement([A, B, C], avoid=lambda node: node == A.id)
    assert {placement.choose(100).id[0] for _ in range(4)} == {"b", "c"}  # type: ignore[union-attr]
    assert placement.choose(100, exclude=[B.id, C.id]) == A


def test_a_draining_node_is_never_a_candidate_for_new_chunks() -> None:
    from datetime import UTC, datetime

    from filefleet.core.models import NodeInfo
    from filefleet.core.placement import placement_candidates

    def info(letter: str, draining: bool) -> NodeInfo:
        return NodeInfo(id=letter * 32, url=f"http://{letter}", last_ping=datetime.now(UTC),
                        capacity=10**6, free=10**6, chunks=0, draining=draining)  # fmt: skip

    nodes = [info("a", False), info("b", True), info("c", False)]
    assert [n.id[0] for n in placement_candidates(nodes)] == ["a", "c"]
    assert placement_candidates([info("b", True)]) == []


def _chunk(i: int) -> str:
    return hashlib.sha256(i.to_bytes(4, "big")).hexdigest()


def test_reads_of_a_file_spread_evenly_over_every_holder() -> None:
    """Each of three nodes holds two thirds of 300 chunks (R=2): each is tried first for
    about a third of them, not the lowest id for two thirds and the highest for none."""
    pairs = [(A, B), (A, C), (B, C)]
    first = [read_order(_chunk(i), pairs[i % 3], _id)[0].id[0] for i in range(300)]
    counts = {letter: first.count(letter) for letter in "abc"}
    assert all(80 <= n <= 120 for n in counts.values()), counts  # fixed ids: always the same
    golden = [read_order(_chunk(i), [A, B, C], _id)[0].id[0] for i in range(8)]
    assert golden == ["c", "b", "b", "b", "b", "c", "c", "c"]  # golden: a change of rule shows here


def test_read_order_is_the_chunks_own_whatever_order_the_replicas_come_in() -> None:
    for i in range(20):
        orders = {tuple(n.id for n in read_order(_chunk(i), given, _id))
                  for given in itertools.permutations([A, B, C])}  # fmt: skip
        assert len(orders) == 1
    assert read_order(_chunk(0), [], _id) == []


def _id(node: NodeCandidate) -> str:
    return node.id


def test_one_chunk_uploads_start_where_their_chunk_id_draws_spread_by_free_space() -> None:
    """Each upload is a placement of its own: without the draw every one-chunk file went to
    the node with the most free space (equal: the lowest id)."""
    firsts = [Placement([A, B, C]).choose(100, chunk_id=_chunk(i)) for i in range(300)]
    counts = {letter: sum(1 for n in firsts if n and n.id[0] == letter) for letter in "abc"}
    assert all(80 <= n <= 120 for n in counts.values()), counts
    big = NodeCandidate("e" * 32, "u", 2000)  # twice A's and B's free space
    firsts = [Placement([A, big, B]).choose(100, chunk_id=_chunk(i)) for i in range(400)]
    share = sum(1 for n in firsts if n == big) / len(firsts)
    assert 0.42 <= share <= 0.58, share  # 2000 / 4000 of the weight
    again = [Placement([B, big, A]).choose(100, chunk_id=_chunk(i)) for i in range(400)]
    assert again == firsts  # the chunk's own: whatever order the nodes are listed in


def test_after_the_first_chunk_the_upload_takes_turns() -> None:
    placement = Placement([A, B, C])
    first = placement.choose(100, chunk_id=_chunk(1))
    rest = [placement.choose(100, chunk_id=_chunk(i)) for i in range(2, 7)]
    picks = [n.id[0] for n in [first, *rest] if n]
    assert sorted(picks[:3]) == sorted(picks[3:]) == ["a", "b", "c"], picks


def test_a_drawn_node_that_fails_or_is_suspected_is_passed_over() -> None:
    drawn = Placement([A, B, C]).choose(100, chunk_id=_chunk(5))
    assert drawn is not None
    placement = Placement([A, B, C])
    assert placement.choose(100, chunk_id=_chunk(5)) == drawn
    placement.release(drawn.id, 100)  # its store failed
    other = placement.choose(100, exclude=[drawn.id], chunk_id=_chunk(5))
    assert other is not None and other != drawn
    wary = Placement([A, B, C], avoid=lambda node: node == drawn.id)
    assert wary.choose(100, chunk_id=_chunk(5)) not in (drawn, None)
