"""bench.small's arithmetic and its table: percentiles by nearest rank, one row per size
and direction, the ratio of the medians, and the servers' CPU per upload by kind."""

from __future__ import annotations

from bench.small import Result, percentile, table


def test_percentile_by_nearest_rank() -> None:
    values = [float(v) for v in range(1, 11)]  # 1 .. 10
    assert percentile(values, 0.9) == 9.0
    assert percentile(values, 0.5) == 5.0
    assert percentile(values, 1.0) == 10.0
    assert percentile([3.0], 0.9) == 3.0


def test_table_has_each_size_and_direction_with_the_ratio_of_medians() -> None:
    ours = Result("filefleet", 1000, [0.040] * 9 + [0.100], [0.008] * 10,
                  {"controller": 0.030, "node": 0.010})  # fmt: skip
    theirs = Result("swift", 1000, [0.016] * 10, [0.006] * 9 + [0.020], {"object": 0.011})
    text = table([ours, theirs])
    assert "| 1000 B | upload | 40.0 ms (p90 40.0) | 16.0 ms (p90 16.0) | ×2.50 |" in text
    assert "| 1000 B | download | 8.0 ms (p90 8.0) | 6.0 ms (p90 6.0) | ×1.33 |" in text
    assert "filefleet 1000 B: 40.0 (controller 30.0, node 10.0)" in text
    assert "swift 1000 B: 11.0 (object 11.0)" in text


def test_table_of_filefleet_alone_leaves_swift_empty() -> None:
    alone = Result("filefleet", 4096, [0.030], [0.005], {"controller": 0.020})
    text = table([alone])
    assert "| 4.0 KiB | upload | 30.0 ms (p90 30.0) |  |  |" in text
