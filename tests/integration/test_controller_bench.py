"""``bench.controller`` end to end, with a few requests of each kind: it starts its own
controller, every request it times is answered as it expects (appends grow the file,
lookups find every chunk, recordings add every location), and it stops what it started."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_controller_benchmark_times_every_kind_of_request() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.controller", "--requests", "5", "--batch", "4"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    rows = [line for line in done.stdout.splitlines() if re.match(r"\| `", line)]
    assert [row.split("|")[1].strip() for row in rows] == [
        "`GET /active-nodes`",
        "`POST /ping`",
        "`POST /file` (create)",
        "`POST /file/{id}`: append 4 chunks",
        "`POST /chunks/lookup`: 4 chunks",
        "`POST /chunks/locations`: 4 locations",
    ]
    for row in rows:
        cpu, wall = (float(cell) for cell in row.split("|")[2:4])
        assert wall > 0 and cpu >= 0, row
