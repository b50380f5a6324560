"""Ports for services started here: below the ephemeral range, once each, taken ones refused."""

from __future__ import annotations

import socket

import pytest

from filefleet.core.errors import PortInUse
from filefleet.runtime.ports import check_port_free, ephemeral_ports, free_port


def test_ports_are_below_the_range_outgoing_connections_use() -> None:
    ephemeral = ephemeral_ports()
    picked = [free_port() for _ in range(50)]
    if ephemeral.start - 1024 > 1000:  # room below the range: every pick lies there
        assert all(1024 <= port < ephemeral.start for port in picked), (ephemeral, picked)
    assert len(set(picked)) == len(picked), picked  # each handed out once


def test_a_picked_port_can_be_listened_on() -> None:
    port = free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", port))
        sock.listen()


def test_a_port_someone_listens_on_is_refused_with_its_number() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", free_port()))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(PortInUse, match=f"port {port} on 127.0.0.1 is already in use"):
            check_port_free("127.0.0.1", port)
    check_port_free("127.0.0.1", port)  # closed: free again
