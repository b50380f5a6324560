"""What ``filefleet up`` needs to keep its children: one holder per data dir, children that
end with their supervisor, and a bounded backoff between restarts of a crashed child.

- **One ``up`` per data dir** (``hold_data_dir``): ``<data>/up.lock``, held with ``flock``
  for the life of the supervisor and holding its pid. A second ``up`` on the same dir is
  refused before it starts or writes anything (the lock file is opened, never truncated,
  unless the lock is taken), with the holder's pid in the message. The kernel drops the
  lock when its holder dies, however it dies, so a stale file never blocks a restart.
- **Children end with their supervisor** (``ending_with``): each child asks the kernel
  (Linux ``prctl(PR_SET_PDEATHSIG, SIGTERM)``, set between fork and exec) for a SIGTERM
  when the supervisor dies, so even a SIGKILLed ``up`` leaves no service behind; a child
  whose parent died before the request checks ``getppid`` and ends at once. (A pipe the
  children watch would need every child, Redis included, to read it; the kernel's signal
  needs nothing of them.) On other systems nothing is set: stop ``up`` with Ctrl-C or
  SIGTERM, which stops every child.
- **Restart with backoff** (``Backoff``): a child that exits is started again after 1 s,
  doubling with each crash in a row up to 30 s; one that ran for 60 s before crashing
  starts the count again. Every exit and restart is logged with the child's exit code.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import fcntl
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from filefleet.core.errors import DataDirInUse

LOCK_NAME = "up.lock"
PR_SET_PDEATHSIG = 1


def hold_data_dir(data: Path) -> IO[bytes]:
    """Take ``<data>/up.lock`` for this process (kept until it exits), or refuse, naming
    the pid of the ``up`` that holds it, without changing any file."""
    data.mkdir(parents=True, exist_ok=True)
    fd = os.open(data / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)  # never truncated here
    handle = os.fdopen(fd, "r+b")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        holder = handle.read(32).decode(errors="replace").strip() or "unknown"
        handle.close()
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            raise DataDirInUse(
                f"another `filefleet up` (pid {holder}) is running on {data}; stop it "
                "first, or choose another --data"
            ) from exc
        raise
    handle.truncate(0)
    handle.write(f"{os.getpid()}\n".encode())
    handle.flush()
    return handle


def _libc_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    prctl: Callable[..., int] = libc.prctl
    return prctl


# Loaded in the parent: the child, between fork and exec, must not load libraries.
_PRCTL = _libc_prctl()


def ending_with(supervisor: int) -> Callable[[], None]:
    """A ``preexec_fn`` for a child of ``supervisor`` (its pid): SIGTERM when it dies."""

    def end_with_parent() -> None:
        if _PRCTL is None:
            return
        _PRCTL(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != supervisor:  # it died before the request was made
            os._exit(1)

    return end_with_parent


@dataclass
class Backoff:
    """The wait before restarting a child that exited: ``first`` doubling per crash in a
    row up to ``most``; a child that ran ``stable`` seconds before crashing starts over."""

    first: float = 1.0
    most: float = 30.0
    stable: float = 60.0
    crashes: int = 0  # in a row

    def after_exit(self, ran: float) -> float:
        """Seconds to wait before the next start, for a child that ran ``ran`` seconds."""
        if ran >= self.stable:
            self.crashes = 0
        self.crashes += 1
        return float(min(self.most, self.first * 2 ** (self.crashes - 1)))
