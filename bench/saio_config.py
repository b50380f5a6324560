"""What a private Swift "all in one" is made of, as data: ports, rings, config files, and
where an object's copies lie on disk. Pure: nothing here starts a process or opens a
socket, so it is tested without Swift installed (tests/unit/bench/test_saio_config.py);
``bench/saio.py`` writes these files and starts the servers.

The layout, for the side-by-side benchmark (``bench/swift.py``): three storage nodes on
127.0.0.1, each one directory holding one device (``node1/d1``, ...) served by an object,
a container and an account server on ports of its own; a proxy with tempauth; a private
memcached; the object, container and account rings with 2 replicas over the three
devices, one zone each (so the two copies of an object are always on two nodes).
"""

from __future__ import annotations

import configparser
import hashlib
import struct
from dataclasses import dataclass
from pathlib import Path

SWIFT_CONF = Path("/etc/swift/swift.conf")  # the servers read it there, and only there
REPLICAS = 2
PART_POWER = 10  # 1,024 partitions: plenty for three devices
ACCOUNT = "AUTH_test"
USER, KEY = "test:tester", "testing"
RINGS = ("object", "container", "account")


@dataclass(frozen=True)
class StorageNode:
    """One node: one device directory and the three servers that use it."""

    index: int  # 1, 2, 3
    object_port: int
    container_port: int
    account_port: int

    @property
    def device(self) -> str:
        return f"d{self.index}"

    def port(self, ring: str) -> int:
        ports = {
            "object": self.object_port,
            "container": self.container_port,
            "account": self.account_port,
        }
        return ports[ring]


@dataclass(frozen=True)
class SaioLayout:
    root: Path
    proxy_port: int
    memcached_port: int
    nodes: tuple[StorageNode, ...]
    user: str  # the servers drop their privileges to this user
    workers: int = 1  # per server: one upload stream is served by one worker anyway

    @property
    def swift_dir(self) -> Path:
        """Rings and server configs (swift.conf itself stays in /etc/swift)."""
        return self.root / "etc"

    def devices(self, node: StorageNode) -> Path:
        """The ``devices`` directory of a node: its one device is ``devices/d<i>``."""
        return self.root / f"node{node.index}"

    def conf_path(self, ring: str, node: StorageNode) -> Path:
        return self.swift_dir / f"{ring}-server-{node.index}.conf"

    @property
    def proxy_conf_path(self) -> Path:
        return self.swift_dir / "proxy-server.conf"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.proxy_port}"


def ring_commands(layout: SaioLayout) -> list[list[str]]:
    """``swift-ring-builder`` runs that build the three rings in ``swift_dir``: 2 replicas,
    min_part_hours 1, every node's device in a zone of its own, weight 100."""
    commands = []
    for ring in RINGS:
        builder = str(layout.swift_dir / f"{ring}.builder")
        commands.append(
            ["swift-ring-builder", builder, "create", str(PART_POWER), str(REPLICAS), "1"]
        )
        for node in layout.nodes:
            device = f"r1z{node.index}-127.0.0.1:{node.port(ring)}/{node.device}"
            commands.append(["swift-ring-builder", builder, "add", device, "100"])
        commands.append(["swift-ring-builder", builder, "rebalance"])
    return commands


def _common(layout: SaioLayout, port: int, name: str) -> str:
    return (
        "[DEFAULT]\n"
        "bind_ip = 127.0.0.1\n"
        f"bind_port = {port}\n"
        f"workers = {layout.workers}\n"
        f"user = {layout.user}\n"
        f"swift_dir = {layout.swift_dir}\n"
        f"log_name = {name}\n"
    )


def server_conf(layout: SaioLayout, ring: str, node: StorageNode) -> str:
    """An object, container or account server of one node (``mount_check`` off: the
    device is a plain directory)."""
    return (
        _common(layout, node.port(ring), f"{ring}-{node.index}")
        + f"devices = {layout.devices(node)}\n"
        "mount_check = false\n"
        "\n[pipeline:main]\n"
        f"pipeline = healthcheck {ring}-server\n"
        "\n[filter:healthcheck]\nuse = egg:swift#healthcheck\n"
        f"\n[app:{ring}-server]\nuse = egg:swift#{ring}\n"
    )


# The proxy's pipeline as a small deployment runs it: what every request passes through
# (versioned_writes is one the proxy adds by itself where it is missing).
PROXY_PIPELINE = (
    "catch_errors gatekeeper healthcheck proxy-logging cache listing_formats tempauth "
    "copy dlo slo versioned_writes proxy-logging proxy-server"
)


def proxy_conf(layout: SaioLayout) -> str:
    user, _, name = USER.partition(":")
    filters = "".join(
        f"\n[filter:{name_}]\nuse = egg:swift#{egg}\n"
        for name_, egg in (
            ("catch_errors", "catch_errors"),
            ("gatekeeper", "gatekeeper"),
            ("healthcheck", "healthcheck"),
            ("proxy-logging", "proxy_logging"),
            ("listing_formats", "listing_formats"),
            ("copy", "copy"),
            ("dlo", "dlo"),
            ("slo", "slo"),
            ("versioned_writes", "versioned_writes"),
        )
    )
    return (
        _common(layout, layout.proxy_port, "proxy")
        + f"\n[pipeline:main]\npipeline = {PROXY_PIPELINE}\n"
        "\n[app:proxy-server]\nuse = egg:swift#proxy\n"
        "account_autocreate = true\n"
        "\n[filter:tempauth]\nuse = egg:swift#tempauth\n"
        f"user_{user}_{name} = {KEY} .admin\n"
        "\n[filter:cache]\nuse = egg:swift#memcache\n"
        f"memcache_servers = 127.0.0.1:{layout.memcached_port}\n" + filters
    )


@dataclass(frozen=True)
class HashPath:
    """``[swift-hash]`` of swift.conf: what Swift mixes into every object's hash."""

    prefix: str
    suffix: str


def read_hash_path(text: str) -> HashPath | None:
    """The prefix and suffix of a swift.conf's text; None where both are missing (Swift
    refuses to start then)."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)
    prefix = parser.get("swift-hash", "swift_hash_path_prefix", fallback="")
    suffix = parser.get("swift-hash", "swift_hash_path_suffix", fallback="")
    return HashPath(prefix, suffix) if prefix or suffix else None


def swift_conf_text(hash_path: HashPath) -> str:
    """The smallest swift.conf the servers accept: the hash path and one default policy."""
    return (
        "[swift-hash]\n"
        f"swift_hash_path_prefix = {hash_path.prefix}\n"
        f"swift_hash_path_suffix = {hash_path.suffix}\n"
        "\n[storage-policy:0]\nname = Policy-0\ndefault = yes\n"
    )


def object_dir(
    layout: SaioLayout, node: StorageNode, hash_path: HashPath, container: str, name: str
) -> Path:
    """Where a node keeps an object of policy 0 if it is one of its primaries:
    ``<device>/objects/<partition>/<last 3 hex of the hash>/<hash>/<timestamp>.data``.
    The hash is Swift's ``hash_path``: MD5 of prefix + ``/account/container/object`` +
    suffix; the partition is its first 4 bytes shifted right by 32 - part power."""
    path = f"/{ACCOUNT}/{container}/{name}".encode()
    salted = hash_path.prefix.encode("latin1") + path + hash_path.suffix.encode("latin1")
    digest = hashlib.md5(salted, usedforsecurity=False).digest()
    partition = struct.unpack_from(">I", digest)[0] >> (32 - PART_POWER)
    name_hash = digest.hex()
    device = layout.devices(node) / node.device
    return device / "objects" / str(partition) / name_hash[-3:] / name_hash
