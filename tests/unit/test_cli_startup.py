"""What a client command loads before it starts work: its start-up is part of every run."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import sys
from filefleet.cli import build_app
from filefleet.cli.transfer import progress_bar
build_app("share")
with progress_bar(False) as bar:
    task = bar.add_task("file", total=10, note="")
    bar.advance(task, 4)
    bar.update(task, note="dedup: 1 chunks")
print(sorted(m for m in sys.modules if m.split(".")[0] in {"rich", "sqlalchemy", "aiohttp"}))
"""


def test_share_with_json_loads_no_progress_bar_and_no_service_code() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", f"loaded: {done.stdout}"


def test_a_shown_progress_bar_is_rich() -> None:
    from rich.progress import Progress

    from filefleet.cli.transfer import progress_bar

    assert isinstance(progress_bar(True), Progress)
