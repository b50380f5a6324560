"""The side-by-side table of bench/swift.py: medians, ratios, targets, text and JSON."""

from __future__ import annotations

import json
import math

from bench.side_by_side import (
    ROWS,
    Measure,
    by_process,
    by_role,
    format_range,
    format_ratio,
    median,
    meets,
    paired_ratios,
    ratio,
    summary,
    table,
)

ROW = {row.key: row for row in ROWS}


def measure(link: float, cpu: float, **by: float) -> Measure:
    return Measure(link, link / 2, link * 3, cpu, cpu / 4, upload_by_process=by)


def test_each_figure_is_its_own_median() -> None:
    runs = [measure(100, 9, frontend=1), measure(300, 7, frontend=3), measure(200, 20)]
    middle = median(runs)
    assert (middle.link, middle.replicated, middle.download) == (200, 100, 600)
    assert middle.upload_cpu == 9
    assert middle.upload_by_process == {"frontend": 1}  # a process absent from a run spent 0


def test_ratio_is_filefleet_over_swift() -> None:
    assert ratio(420, 210) == 2
    assert ratio(1, 0) == math.inf
    assert math.isnan(ratio(0, 0))
    assert format_ratio(323 / 210) == "×1.54"
    assert format_ratio(math.nan) == "–"


def test_targets_point_the_right_way() -> None:
    assert meets(ROW["link"], 2.0) is True
    assert meets(ROW["link"], 1.99) is False
    assert meets(ROW["download"], 2.4) is False
    assert meets(ROW["upload_cpu"], 0.5) is True  # CPU: at most half of Swift's
    assert meets(ROW["upload_cpu"], 0.6) is False
    assert meets(ROW["download_cpu"], 0.1) is None  # no target


def test_table_rows_as_the_issue_writes_them() -> None:
    text = table([measure(323, 11.7)], [measure(210, 7.1)])
    lines = text.splitlines()
    assert lines[0] == "| | filefleet | Swift | ratio | per repetition | target (issue 20) |"
    assert lines[2] == (
        "| upload until the link | 323 MiB/s | 210 MiB/s | ×1.54 | ×1.54 | ≥ ×2: not met |"
    )
    assert "| 11.7 core-s | 7.1 core-s | ×1.65 | ×1.65 | ≤ ×0.5: not met |" in lines[5]
    assert lines[6].endswith("| ×1.65 | ×1.65 |  |")
    assert len(lines) == 2 + len(ROWS)


def test_ratios_within_each_repetition_show_the_spread() -> None:
    ours = [measure(400, 8), measure(100, 8), measure(300, 8)]
    theirs = [measure(200, 8), measure(100, 8), measure(100, 8)]
    assert paired_ratios(ours, theirs, "link") == [2, 1, 3]
    assert format_range(paired_ratios(ours, theirs, "link")) == "×1.00–×3.00"
    link_row = table(ours, theirs).splitlines()[2]
    assert "| 300 MiB/s | 100 MiB/s | ×3.00 | ×1.00–×3.00 | ≥ ×2: met |" in link_row
    assert format_range([math.nan]) == "–"


def test_processes_of_a_kind_are_summed_before_the_median() -> None:
    assert by_role({"node-1": 1.0, "node-12": 0.5, "frontend": 2.0}) == {
        "node": 1.5,
        "frontend": 2.0,
    }
    runs = [  # the copies land on other servers each run: their sum is what repeats
        {"proxy": 1.5, "object-1": 2.0, "object-2": 2.0, "object-3": 0.1, "memcached": 0},
        {"proxy": 1.5, "object-1": 0.1, "object-2": 2.0, "object-3": 2.0, "memcached": 0},
        {"proxy": 1.0, "object-1": 2.0, "object-2": 0.1, "object-3": 2.25, "memcached": 0},
    ]
    line = by_process("Swift", runs)
    assert line == "Swift: object 4.10, proxy 1.50, memcached 0.00"


def test_summary_is_json_with_every_run() -> None:
    ours, theirs = [measure(400, 3), measure(500, 3)], [measure(200, 7)]
    data = json.loads(json.dumps(summary(ours, theirs)))
    assert len(data["filefleet"]["runs"]) == 2
    assert data["filefleet"]["median"]["link"] == 450
    assert data["ratios"]["link"] == 2.25
    assert data["ratios_per_repetition"]["link"] is not None
    assert data["targets_met"] == {
        "link": True,
        "replicated": True,
        "download": False,
        "upload_cpu": True,
        "download_cpu": None,
    }
