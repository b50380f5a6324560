"""The metrics as data (core/metric_catalogue.py) and as documented (docs/operations.md,
"Metrics") are the same, and the Grafana dashboard (deploy/grafana/filefleet.json) draws
only those, among them what an operator of the fleet looks at first."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from filefleet.core.metric_catalogue import CATALOGUE
from tests.harness.metrics import documented_types

DASHBOARD = Path(__file__).resolve().parents[3] / "deploy" / "grafana" / "filefleet.json"
HISTOGRAM_SERIES = re.compile(r"_(bucket|sum|count)$")


def panels() -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = json.loads(DASHBOARD.read_text())["panels"]
    return result


def drawn() -> set[str]:
    names = set()
    for panel in panels():
        for target in panel.get("targets", []):
            for name in re.findall(r"filefleet_[a-z0-9_]+", target["expr"]):
                names.add(name)
    return names


def test_the_docs_list_every_metric_of_the_catalogue_with_its_type() -> None:
    assert documented_types() == {f.name: f.kind for f in CATALOGUE}
    assert all(f.help.endswith(".") for f in CATALOGUE)


def test_every_metric_drawn_is_documented() -> None:
    documented = documented_types()
    for name in drawn():
        base = HISTOGRAM_SERIES.sub("", name)
        assert name in documented or documented.get(base) == "histogram", name


def test_it_shows_what_the_issue_asks_for() -> None:
    wanted = {
        "filefleet_http_requests_total", "filefleet_http_request_duration_seconds_bucket",
        "filefleet_upload_bytes_total", "filefleet_download_bytes_total",
        "filefleet_chunks_below_replication", "filefleet_single_copy_chunks",
        "filefleet_nodes", "filefleet_node_free_bytes", "filefleet_replicated_chunks_total",
        "filefleet_gc_freed_bytes_total",
    }  # fmt: skip
    assert wanted <= drawn()


def test_panels_have_ids_of_their_own_and_one_data_source() -> None:
    ids = [p["id"] for p in panels()]
    assert len(ids) == len(set(ids))
    for panel in panels():
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
