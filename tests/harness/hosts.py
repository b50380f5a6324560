"""Hosts for fault tests: network namespaces joined by veth pairs to one bridge.

Each ``Host`` is a network namespace with one interface (``eth0``) on the bridge and its
own address in ``SUBNET``; a service started on it (``Host.command``) sees only that
interface and its own loopback, as on a separate machine. The bridge has the subnet's
``.1`` in this (the test's) namespace, so the test talks to every host directly.

Faults, each undone by ``heal``:
- ``cut("refuse")``: the link goes down and every other host's route to this one becomes
  ``unreachable``: connections fail at once, both ways (a cable pulled next to a router
  that answers ICMP).
- ``cut("drop")``: the host's bridge port goes down, nothing else changes: packets to it
  and from it vanish silently, so only deadlines notice (a machine that lost power, a
  firewall that drops). Neighbour entries are permanent, so no ARP failure gives it away.
- ``slow(rate)``: a token bucket (``tc tbf``) on both directions of the host's link; its
  queue is short, so a burst above the rate is dropped and TCP retransmits (slow and
  lossy). ``netem`` would add delay, but kernels without it are common; ``tbf`` is always
  there.

Only addresses in ``SUBNET`` are ever used, and an ``unreachable`` route for the subnet
(lowest priority) in every namespace keeps its packets from leaving through the
machine's own interfaces when a link is down. ``Network.close`` removes every namespace,
link, qdisc and route it made; a test uses ``Network`` as a context manager.

Needs root and iproute2: ``available()`` says why not, for a skip (or, under
``FILEFLEET_REQUIRE_SERVICES=1``, a failure).
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

# One private /24 for every fault test; nothing else on this machine uses it.
SUBNET = "10.250.17"
PREFIX = 24
FALLBACK_METRIC = 4000  # the `unreachable` subnet route: used only when no link is up

Cut = Literal["refuse", "drop"]

MADE: set[str] = set()  # every namespace this process made (another run's are not ours)


def available() -> str | None:
    """None when namespaces can be made here, else the reason they cannot."""
    if os.geteuid() != 0:
        return "fault tests need root (network namespaces, tc)"
    if shutil.which("ip") is None or shutil.which("tc") is None:
        return "fault tests need iproute2 (ip, tc)"
    return None


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, capture_output=True, text=True, timeout=20)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {result.stderr.strip()}")
    return result


@dataclass
class Host:
    network: Network
    name: str
    index: int
    namespace: str
    outer: str  # the veth end on the bridge, in the test's namespace
    address: str
    mac: str
    state: str = "up"  # up, refuse, drop
    slowed: bool = False

    def command(self, argv: Sequence[str]) -> list[str]:
        """``argv`` run inside this host."""
        return ["ip", "netns", "exec", self.namespace, *argv]

    def exec(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run(*self.command(argv), check=check)

    def cut(self, how: Cut) -> None:
        """Take the host off the network, as described in the module docstring."""
        if self.state != "up":
            raise RuntimeError(f"{self.name} is already cut ({self.state})")
        self.state = how
        run("ip", "link", "set", self.outer, "down")
        if how == "refuse":
            self.exec("ip", "link", "set", "eth0", "down")
            for other in self.network.others(self):
                other.exec("ip", "route", "replace", "unreachable", f"{self.address}/32")
            run("ip", "route", "replace", "unreachable", f"{self.address}/32")

    def heal(self) -> None:
        """Back on the network, as fast as it was before any cut (a slow link stays slow)."""
        if self.state == "refuse":
            for other in self.network.others(self):
                other.exec("ip", "route", "del", f"{self.address}/32", check=False)
            run("ip", "route", "del", f"{self.address}/32", check=False)
            self.exec("ip", "link", "set", "eth0", "up")
            self.exec("ip", "route", "replace", f"{SUBNET}.0/{PREFIX}", "dev", "eth0")
        run("ip", "link", "set", self.outer, "up")
        self.state = "up"

    def slow(self, rate: str = "2mbit") -> None:
        """Both directions of the link limited to ``rate``; excess beyond a short queue is
        dropped."""
        spec = ["tbf", "rate", rate, "burst", "16kb", "latency", "100ms"]
        run("tc", "qdisc", "replace", "dev", self.outer, "root", *spec)
        self.exec("tc", "qdisc", "replace", "dev", "eth0", "root", *spec)
        self.slowed = True

    def unslow(self) -> None:
        run("tc", "qdisc", "del", "dev", self.outer, "root", check=False)
        self.exec("tc", "qdisc", "del", "dev", "eth0", "root", check=False)
        self.slowed = False


@dataclass
class Network:
    """A bridge with hosts on it; removed whole by ``close`` (``with Network() as net``)."""

    tag: str = field(default_factory=lambda: secrets.token_hex(2))
    hosts: list[Host] = field(default_factory=list)
    _bridge_up: bool = False

    @property
    def bridge(self) -> str:
        return f"ffbr{self.tag}"

    @property
    def gateway(self) -> str:
        return f"{SUBNET}.1"

    def __enter__(self) -> Network:
        reason = available()
        if reason:
            raise RuntimeError(reason)
        try:
            run("ip", "link", "add", self.bridge, "type", "bridge")
            self._bridge_up = True
            run("ip", "link", "set", self.bridge, "address", self._mac(0))
            run("ip", "addr", "add", f"{self.gateway}/{PREFIX}", "dev", self.bridge)
            run("ip", "link", "set", self.bridge, "up")
            fallback = ["unreachable", f"{SUBNET}.0/{PREFIX}", "metric", str(FALLBACK_METRIC)]
            run("ip", "route", "replace", *fallback)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _mac(self, index: int) -> str:
        return f"02:fe:{self.tag[:2]}:{self.tag[2:4]}:00:{index:02x}"

    def others(self, host: Host) -> list[Host]:
        return [h for h in self.hosts if h is not host]

    def add_host(self, name: str) -> Host:
        index = len(self.hosts) + 2  # .1 is the bridge
        if index > 250:
            raise RuntimeError("too many hosts for one /24")
        host = Host(
            network=self,
            name=name,
            index=index,
            namespace=f"ff{self.tag}-{name}",
            outer=f"ffv{self.tag}{index:02d}",
            address=f"{SUBNET}.{index}",
            mac=self._mac(index),
        )
        self.hosts.append(host)  # listed first, so close() removes whatever got made
        MADE.add(host.namespace)
        run("ip", "netns", "add", host.namespace)
        run("ip", "link", "add", host.outer, "type", "veth", "peer", "name", "eth0",
            "netns", host.namespace)  # fmt: skip
        run("ip", "link", "set", host.outer, "master", self.bridge)
        run("ip", "link", "set", host.outer, "up")
        host.exec("ip", "link", "set", "lo", "up")
        host.exec("ip", "link", "set", "eth0", "address", host.mac)
        host.exec("ip", "addr", "add", f"{host.address}/{PREFIX}", "dev", "eth0")
        host.exec("ip", "link", "set", "eth0", "up")
        fallback = ["unreachable", f"{SUBNET}.0/{PREFIX}", "metric", str(FALLBACK_METRIC)]
        host.exec("ip", "route", "replace", *fallback)
        # Permanent neighbour entries: a host that vanishes is silent, not an ARP failure.
        host.exec("ip", "neigh", "replace", self.gateway, "lladdr", self._mac(0),
                  "dev", "eth0", "nud", "permanent")  # fmt: skip
        run("ip", "neigh", "replace", host.address, "lladdr", host.mac, "dev", self.bridge,
            "nud", "permanent")  # fmt: skip
        for other in self.others(host):
            host.exec("ip", "neigh", "replace", other.address, "lladdr", other.mac,
                      "dev", "eth0", "nud", "permanent")  # fmt: skip
            other.exec("ip", "neigh", "replace", host.address, "lladdr", host.mac,
                       "dev", "eth0", "nud", "permanent")  # fmt: skip
        return host

    def close(self) -> None:
        """Remove every namespace, link, qdisc and route this network made. Deleting a
        namespace removes its end of the veth pair, and with it the end on the bridge."""
        for host in self.hosts:
            run("ip", "netns", "del", host.namespace, check=False)
            run("ip", "link", "del", host.outer, check=False)
            run("ip", "route", "del", f"{host.address}/32", check=False)
        self.hosts.clear()
        if self._bridge_up:
            run("ip", "link", "del", self.bridge, check=False)
            self._bridge_up = False
            route = ["ip", "route", "del", "unreachable", f"{SUBNET}.0/{PREFIX}"]
            run(*route, "metric", str(FALLBACK_METRIC), check=False)


def leftover_namespaces() -> list[str]:
    """Namespaces this process made that are still there (the session ends by checking
    there are none)."""
    listing = run("ip", "netns", "list", check=False).stdout
    return [name for line in listing.splitlines() if (name := line.split()[0]) in MADE]
