"""bench.swift's saved runs: several --json files read back as one table."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest

from bench.side_by_side import Measure
from bench.swift import load_runs, report

MACHINE = {"cpu": "AMD EPYC", "cores": 2, "load_average": [1, 2, 3], "load_average_after": [4, 5]}


def saved(path: Path, size: int, link: float, others: float | None = 1.5) -> Path:
    run = {**asdict(Measure(link, link, link * 3, 9.0, 2.0, others)), "upload_by_process": {}}
    if others is None:
        del run["others"]  # a file from before the field was measured
    runs = {"runs": [run]}
    data = {"size": size, "machine": MACHINE, "filefleet": runs, "swift": runs}
    path.write_text(json.dumps(data))
    return path


def test_runs_of_several_files_make_one_table(tmp_path: Path) -> None:
    one = saved(tmp_path / "a.json", 1024, 100, others=None)
    two = saved(tmp_path / "b.json", 1024, 300)
    results, machines = load_runs([one, two])
    assert [r.link for r in results["filefleet"]] == [100, 300]
    assert results["swift"][0].others is None
    assert len(machines) == 2
    text = report(results, machines, "saved runs")
    assert text.startswith("saved runs, median of 2, curl, alternating\n")
    assert "| upload until the link | 200 MiB/s | 200 MiB/s | ×1.00 | ×1.00 |" in text
    assert "each run: –, 1.50" in text
    assert text.count("machine: AMD EPYC, 2 cores; load average 1.00, 2.00, 3.00") == 2


def test_files_of_other_sizes_or_not_saved_runs_are_refused(tmp_path: Path) -> None:
    one = saved(tmp_path / "a.json", 1024, 100)
    two = saved(tmp_path / "b.json", 2048, 100)
    with pytest.raises(ValueError, match="different sizes"):
        load_runs([one, two])
    other = tmp_path / "other.json"
    other.write_text('{"size": 1}')
    with pytest.raises(ValueError, match=r"other\.json: not the --json of bench\.swift"):
        load_runs([other])
