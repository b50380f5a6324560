"""Where a local cluster lives by default: cheap to import, so the client commands (which
read ``<data>/cluster.json``) need not load the services' settings models."""

from __future__ import annotations

import os
from pathlib import Path


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/filefleet``, else ``~/.local/share/filefleet``."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
    return Path(base) / "filefleet"
