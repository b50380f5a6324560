"""Scenario 7: the frontend crashes in the middle of a `filefleet share`.

The frontend is SIGKILLed while chunks are in flight, the client is SIGKILLed too, and the
frontend is started again. Running the same command again sends only what the fleet
lacks: every chunk the frontend had recorded before it died is kept (the upload's record
lives on the controller, not in the frontend), and of those in flight at the crash some
are claimed from the nodes that stored them, the rest sent again. The file downloads
identical and the fleet ends fsck clean.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

from filefleet.core.chunking import CHUNK_API_INFLIGHT
from tests.faults.conftest import MakeFleet
from tests.harness.fleet import Fleet
from tests.harness.processes import FILEFLEET, wait_for

MiB = 1024 * 1024
CHUNK = 256 * 1024


def received(fleet: Fleet) -> int:
    count: int = fleet.frontend_stats()["resumable"]["chunks_received"]
    return count


def test_share_resumes_after_the_frontend_and_the_client_are_killed(
    make_fleet: MakeFleet, tmp_path: Path
) -> None:
    fleet = make_fleet(nodes=3, replicator_args=["--repair-interval", "1s"])
    big = tmp_path / "big.bin"
    data = os.urandom(48 * MiB)
    big.write_bytes(data)
    total = len(data) // CHUNK
    env = {**os.environ, "FILEFLEET_SERVER": fleet.url,
           "FILEFLEET_CACHE_DIR": str(tmp_path / "cache")}  # fmt: skip
    share = subprocess.Popen(
        [*FILEFLEET, "share", str(big), "--json"], env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    frontend = fleet.services["frontend"]
    try:
        seen = wait_for(
            lambda: (n := received(fleet)) >= total // 3 and n,
            interval=0.005,
            timeout=60,
            what="a third of the chunks at the frontend",
        )
        frontend.signal(signal.SIGKILL)  # mid-upload, chunks in flight
        share.send_signal(signal.SIGKILL)
    finally:
        share.wait(10)
        frontend.kill()
    fleet.restart("frontend")

    again = subprocess.run([*FILEFLEET, "share", str(big), "--json"], env=env,
                           capture_output=True, text=True, timeout=180)  # fmt: skip
    assert again.returncode == 0, again.stderr
    result = json.loads(again.stdout)
    print(
        f"\nFAULT frontend and client killed mid-share: {seen} of {total} chunks at the "
        f"frontend before; the rerun kept {result['skipped_chunks']}, claimed "
        f"{result['claimed_chunks']}, sent {result['sent_chunks']}"
    )
    # Kept: every chunk the frontend had recorded, all but at most those in flight.
    assert result["skipped_chunks"] >= seen - CHUNK_API_INFLIGHT
    assert result["skipped_chunks"] + result["claimed_chunks"] + result["sent_chunks"] == total
    assert result["sent_chunks"] <= total - result["skipped_chunks"]
    got = fleet.download(result["id"])
    assert got.status == 200 and got.body == data
    fleet.wait_clean()
