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


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, check=False, timeout=60
    )


def test_share_with_json_loads_no_progress_bar_and_no_service_code() -> None:
    done = _run("-c", CHECK)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", f"loaded: {done.stdout}"


def test_a_shown_progress_bar_is_rich() -> None:
    from rich.progress import Progress

    from filefleet.cli.transfer import ShownProgress, progress_bar

    shown = progress_bar(True)
    assert isinstance(shown, ShownProgress) and isinstance(shown.progress, Progress)
    with shown as bar:  # nothing is drawn until the first task
        assert not shown.started
        bar.add_task("file", total=10, note="")
        assert shown.started


def test_a_client_command_skips_the_teardown_but_keeps_its_output_and_exit_code() -> None:
    """Client commands end with ``os._exit`` once done: what they printed into a pipe
    (block-buffered) still arrives, and the exit code is theirs."""
    helped = _run("-m", "filefleet", "share", "--help")
    assert helped.returncode == 0 and "Share files" in helped.stdout, helped
    refused = _run("-m", "filefleet", "delete", "not-a-url")
    assert refused.returncode == 2, refused
    assert "not a filefleet delete link" in refused.stderr and "Traceback" not in refused.stderr
    code = "from filefleet.cli import quick_exit; print('written'); quick_exit('went wrong')"
    ended = _run("-c", code)
    assert (ended.returncode, ended.stdout, ended.stderr) == (1, "written\n", "went wrong\n")
