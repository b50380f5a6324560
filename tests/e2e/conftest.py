from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness.cluster import Cluster
from tests.harness.processes import ProcessGroup


@pytest.fixture
def cluster(procs: ProcessGroup, tmp_path: Path) -> Cluster:
    """Controller, three nodes and a frontend, each a real process started by the CLI."""
    return Cluster(procs, tmp_path).start(nodes=3)
