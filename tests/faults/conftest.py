"""Fault tests: a fleet on namespace hosts (``tests/harness/hosts.py``, ``fleet.py``).

They need root and iproute2; elsewhere they are skipped with the reason, and under
``FILEFLEET_REQUIRE_SERVICES=1`` (CI) that is a failure instead. Every namespace, link,
qdisc and route a test makes is removed when it ends, whatever happened, and the session
ends by checking that none is left.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REQUIRE_SERVICES
from tests.harness import hosts
from tests.harness.fleet import Fleet
from tests.harness.processes import ProcessGroup

MakeFleet = Callable[..., Fleet]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.faults)


@pytest.fixture
def network() -> Iterator[hosts.Network]:
    reason = hosts.available()
    if reason:
        if REQUIRE_SERVICES:
            pytest.fail(f"{reason} and FILEFLEET_REQUIRE_SERVICES=1")
        pytest.skip(reason)
    with hosts.Network() as net:
        yield net


@pytest.fixture
def make_fleet(network: hosts.Network, procs: ProcessGroup, tmp_path: Path) -> Iterator[MakeFleet]:
    """``make_fleet(nodes=3, frontend_args=[...], ...)``: a started ``Fleet``. Fixtures end
    in the reverse order they began, so its processes stop before the network goes; its
    small disks are unmounted first of all."""
    made: list[Fleet] = []

    def make(nodes: int = 3, **options: Any) -> Fleet:
        fleet = Fleet(procs, tmp_path, network, **options)
        made.append(fleet)
        return fleet.start(nodes=nodes)

    try:
        yield make
    finally:
        for fleet in made:
            fleet.close()


@pytest.fixture(scope="session", autouse=True)
def no_namespace_left() -> Iterator[None]:
    yield
    if hosts.available() is None:
        left = hosts.leftover_namespaces()
        assert not left, f"network namespaces left behind: {left}"
