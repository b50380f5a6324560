"""The table of ``bench/swift.py``: filefleet beside Swift, the ratio of the two, and the
target issue 20 sets for each ratio. Pure: medians, ratios and text from measures.

A ratio is always filefleet / Swift: above 1 filefleet is faster (MiB/s rows) or spends
more CPU (core-second rows).
"""

from __future__ import annotations

import math
import re
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Measure:
    """One system, one repetition: one upload of fresh bytes and its download."""

    link: float  # MiB/s until the upload's answer (filefleet: the link)
    replicated: float  # MiB/s until both copies exist on disk
    download: float  # MiB/s of the download, checked by the server as it is read
    upload_cpu: float  # server core-seconds per GiB uploaded to two copies, all processes
    download_cpu: float  # server core-seconds per GiB downloaded
    # Cores busy on average with work of neither the system measured nor its client, while
    # it was measured (other users of the machine; the kernel's own threads): how calm.
    # None where not known (saved by a version that did not measure it).
    others: float | None = None
    upload_by_process: dict[str, float] = field(default_factory=dict)  # core-s per GiB
    download_by_process: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Row:
    key: str  # a field of Measure
    label: str
    unit: str
    target: float | None  # the ratio issue 20 asks for
    higher_is_better: bool


ROWS = (
    Row("link", "upload until the link", "MiB/s", 2.0, True),
    Row("replicated", "upload until both copies exist", "MiB/s", 2.0, True),
    Row("download", "verified download", "MiB/s", 2.5, True),
    Row("upload_cpu", "server CPU per GiB uploaded to R=2 (all processes)", "core-s", 0.5, False),
    Row("download_cpu", "server CPU per GiB downloaded", "core-s", None, False),
)


def _median_by_key(maps: list[dict[str, float]]) -> dict[str, float]:
    keys = sorted({k for m in maps for k in m})
    return {k: statistics.median(m.get(k, 0.0) for m in maps) for k in keys}


def _median_known(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def median(runs: list[Measure]) -> Measure:
    """Each figure's median over the runs, on its own (not the median run)."""
    if not runs:
        raise ValueError("no runs to take the median of")
    return Measure(
        link=statistics.median(r.link for r in runs),
        replicated=statistics.median(r.replicated for r in runs),
        download=statistics.median(r.download for r in runs),
        upload_cpu=statistics.median(r.upload_cpu for r in runs),
        download_cpu=statistics.median(r.download_cpu for r in runs),
        others=_median_known([r.others for r in runs]),
        upload_by_process=_median_by_key([r.upload_by_process for r in runs]),
        download_by_process=_median_by_key([r.download_by_process for r in runs]),
    )


def ratio(ours: float, theirs: float) -> float:
    """ours / theirs; infinite where only theirs is 0, NaN where both are."""
    if theirs == 0:
        return math.nan if ours == 0 else math.inf
    return ours / theirs


def paired_ratios(ours: list[Measure], theirs: list[Measure], key: str) -> list[float]:
    """The ratio within each repetition (both systems measured one after the other, with
    the same bytes): what the machine's load at that moment does to both cancels out. A
    repetition only one system finished has no pair."""
    pairs = zip(ours, theirs, strict=False)
    return [ratio(getattr(a, key), getattr(b, key)) for a, b in pairs]


def format_range(values: list[float]) -> str:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return "–"
    low, high = min(finite), max(finite)
    return format_ratio(low) if low == high else f"{format_ratio(low)}–{format_ratio(high)}"


def meets(row: Row, value: float) -> bool | None:
    """Whether a ratio reaches the row's target; None where the row has none."""
    if row.target is None or math.isnan(value):
        return None
    return value >= row.target if row.higher_is_better else value <= row.target


def format_value(value: float, unit: str) -> str:
    return f"{value:.0f} MiB/s" if unit == "MiB/s" else f"{value:.1f} core-s"


def format_ratio(value: float) -> str:
    return "–" if math.isnan(value) else f"×{value:.2f}"


def format_target(row: Row, value: float) -> str:
    met = meets(row, value)
    if met is None or row.target is None:
        return ""
    sign = "≥" if row.higher_is_better else "≤"
    return f"{sign} ×{row.target:g}: {'met' if met else 'not met'}"


def table(ours: list[Measure], theirs: list[Measure]) -> str:
    """A Markdown table, one row per figure: filefleet's and Swift's medians, their ratio,
    the range of the ratios within each repetition, and issue 20's target for the ratio."""
    mine, other = median(ours), median(theirs)
    lines = [
        "| | filefleet | Swift | ratio | per repetition | target (issue 20) |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for row in ROWS:
        a, b = getattr(mine, row.key), getattr(other, row.key)
        r = ratio(a, b)
        lines.append(
            f"| {row.label} | {format_value(a, row.unit)} | {format_value(b, row.unit)} "
            f"| {format_ratio(r)} | {format_range(paired_ratios(ours, theirs, row.key))} "
            f"| {format_target(row, r)} |"
        )
    return "\n".join(lines)


def by_role(per_process: dict[str, float]) -> dict[str, float]:
    """The processes of one kind summed: ``node-1``, ``node-2``, ... as ``node``. Which node
    or object server holds a file's copies changes from run to run; their sum does not."""
    roles: dict[str, float] = {}
    for name, value in per_process.items():
        role = re.sub(r"-\d+$", "", name)
        roles[role] = roles.get(role, 0.0) + value
    return roles


def by_process(name: str, runs: list[dict[str, float]]) -> str:
    """One line: each kind of process's median core-seconds per GiB, largest first."""
    medians = _median_by_key([by_role(run) for run in runs])
    parts = sorted(medians.items(), key=lambda kv: -kv[1])
    return f"{name}: " + ", ".join(f"{k} {v:.2f}" for k, v in parts)


def summary(ours: list[Measure], theirs: list[Measure]) -> dict[str, Any]:
    """Every run of both systems, their medians and the ratios, as JSON-ready data."""
    mine, other = median(ours), median(theirs)
    ratios = {row.key: ratio(getattr(mine, row.key), getattr(other, row.key)) for row in ROWS}
    return {
        "filefleet": {"runs": [asdict(r) for r in ours], "median": asdict(mine)},
        "swift": {"runs": [asdict(r) for r in theirs], "median": asdict(other)},
        "ratios": {k: (v if math.isfinite(v) else None) for k, v in ratios.items()},
        "ratios_per_repetition": {
            row.key: [v if math.isfinite(v) else None for v in paired_ratios(ours, theirs, row.key)]
            for row in ROWS
        },
        "targets_met": {row.key: meets(row, ratios[row.key]) for row in ROWS},
    }
