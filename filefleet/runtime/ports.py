"""Picking the ports of services started on this machine (``filefleet up``, tests, benches).

A port is picked before the service that will listen on it runs, so something else may
take it in between. A bind to port 0 gets a port from the kernel's range for the local
end of outgoing connections (``ip_local_port_range``), where any client on the machine
(a service's connection to the controller, a database client) can be given it as its
local port: the service then fails with "address already in use", and under ``up`` a
child restarted on its old port can keep failing for as long as that connection lives.
So ports are picked below that range, where only another listener can take them, and
each is handed out once per process.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

from filefleet.core.errors import PortInUse

_SPAN = 12_000  # how many ports below the ephemeral range are candidates
_TRIES = 200


def ephemeral_ports() -> range:
    """The ports the kernel picks the local end of outgoing connections from."""
    try:
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        low, high = 32768, 60999  # Linux's default
    return range(low, high + 1)


_EPHEMERAL = ephemeral_ports()
_HANDED_OUT: set[int] = set()


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on at ``host``, below the ephemeral range when it can be.

    Falls back to the kernel's choice (port 0) when fewer than 1,000 ports lie below the
    range (a machine whose range starts very low)."""
    candidates = range(max(1024, _EPHEMERAL.start - _SPAN), _EPHEMERAL.start)
    for _ in range(_TRIES):
        port = random.choice(candidates) if len(candidates) > 1000 else 0
        if port in _HANDED_OUT:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            port = int(sock.getsockname()[1])
        _HANDED_OUT.add(port)
        return port
    raise RuntimeError(f"no free port found on {host} in {_TRIES} tries")


def check_port_free(host: str, port: int) -> None:
    """Raise ``PortInUse`` (a setup error naming the port) when ``port`` is taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise PortInUse(
                f"port {port} on {host} is already in use ({exc.strerror}); "
                "choose another with --port"
            ) from exc
