"""The limit on wrong passwords holds across controllers: two controllers over one
PostgreSQL, twenty wrong tries on one link sent at once, half to each, let exactly ten
be checked; the other ten are refused with 429 (the store counts with the row locked)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.harness.cluster import SECRET, Cluster, HttpAnswer, http
from tests.harness.postgres import fresh_database
from tests.harness.processes import ProcessGroup


@pytest.fixture
def cluster(procs: ProcessGroup, tmp_path: Path) -> Iterator[Cluster]:
    with fresh_database("filefleet_e2e") as url:
        yield Cluster(procs, tmp_path, db=url).start(nodes=2, controllers=2)


def test_wrong_tries_are_limited_across_two_controllers(cluster: Cluster) -> None:
    file_id = cluster.upload(b"guarded", password="the right one")["id"]
    controllers = cluster.controller_urls.split(",")
    assert len(controllers) == 2

    def guess(n: int) -> HttpAnswer:
        body = json.dumps({"password": f"guess {n}"}).encode()
        headers = {"Authorization": f"Bearer {SECRET}", "Content-Type": "application/json"}
        return http("POST", f"{controllers[n % 2]}/file/{file_id}/password", body, headers)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(guess, range(20)))
    assert sorted(a.status for a in answers) == [401] * 10 + [429] * 10
    assert all(a.json()["code"] == "password_wrong" for a in answers if a.status == 401)
    refused = [a for a in answers if a.status == 429]
    assert all(0 < int(a.headers["Retry-After"]) <= 60 for a in refused)
    # The frontend, whichever controller it asks, refuses too, the right password as well.
    link = f"{cluster.url}/download/{file_id}"
    assert http("GET", link, headers={"X-Password": "the right one"}).status == 429
