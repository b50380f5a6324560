"""Shared fixtures: a process group per test that is always stopped and shows its logs on
failure, and the rule for real backing services (PostgreSQL, Redis, RabbitMQ)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.processes import ProcessGroup

REQUIRE_SERVICES = os.environ.get("FILEFLEET_REQUIRE_SERVICES") == "1"


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
def procs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ProcessGroup]:
    group = ProcessGroup(workdir=tmp_path)
    try:
        yield group
    finally:
        group.stop_all()
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            print("\n==== service logs ====\n" + group.log_tails(40))


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Skip (or, under FILEFLEET_REQUIRE_SERVICES=1, fail) when a real server is absent."""
    if reachable(host, port):
        return
    message = f"{name} not reachable on {host}:{port}"
    if REQUIRE_SERVICES:
        pytest.fail(f"{message} and FILEFLEET_REQUIRE_SERVICES=1")
    pytest.skip(message)
