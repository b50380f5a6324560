"""The controller's status view in a real browser: HTTP basic auth with the cluster secret,
every node listed, a killed node marked dead, the verdict on top."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from tests.harness.cluster import SECRET, Cluster, http
from tests.harness.processes import ProcessGroup, wait_for


def test_status_page_lists_nodes_and_marks_a_killed_one(
    browser: Any, procs: ProcessGroup, tmp_path: Path
) -> None:
    cluster = Cluster(
        procs, tmp_path, controller_args=["--node-ttl", "1s"], node_args=["--ping-interval", "0.2s"]
    ).start(nodes=3)
    cluster.upload(b"x" * 5000, name="a.txt")
    ui = f"{cluster.controller_url}/ui"

    # No credentials, or a wrong password: 401 with a basic-auth challenge.
    answer = http("GET", ui)
    assert answer.status == 401 and answer.headers["WWW-Authenticate"].startswith("Basic ")
    wrong = base64.b64encode(b"admin:nope").decode()
    assert http("GET", ui, headers={"Authorization": f"Basic {wrong}"}).status == 401

    context = browser.new_context(http_credentials={"username": "ops", "password": SECRET})
    page = context.new_page()
    page.goto(ui)
    rows = page.locator("#nodes tbody tr")
    assert rows.count() == 3
    # Each node by the name it reports (its data dir's), then its id.
    names = {(f"node-{node.index}", node.node_id[:12]) for node in cluster.nodes}
    cells = [rows.nth(i).locator("td") for i in range(3)]
    assert {(c.nth(0).inner_text(), c.nth(1).inner_text()) for c in cells} == names
    assert page.locator("#nodes tr.active").count() == 3
    verdict = page.locator("#verdict").inner_text()
    assert "of 1 chunks at full replication" in verdict and "3/3 nodes active" in verdict
    files = page.locator("#files").inner_text()
    assert "active\t1" in files

    victim = cluster.nodes[1]
    assert victim.process is not None
    victim.process.kill()
    wait_for(lambda: len(cluster.active_node_ids()) == 2, timeout=10, what="a dead node")
    page.reload()
    dead = page.locator("#nodes tr.dead")
    assert dead.count() == 1
    assert dead.locator("td").first.inner_text() == f"node-{victim.index}"
    assert dead.locator(".state").inner_text() == "dead"
    assert page.locator("#verdict").inner_text().startswith("degraded:")
    assert "2/3 nodes active" in page.locator("#verdict").inner_text()
    page.screenshot(path=str(tmp_path / "status-page.png"), full_page=True)
    context.close()
