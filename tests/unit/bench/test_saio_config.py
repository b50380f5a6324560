"""The Swift all-in-one of bench/saio.py as data: rings, configs, where an object lies.
No Swift needed: the golden paths were computed by Swift's own ``hash_path`` and
``Ring.get_part`` (swift 2.30)."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest

from bench import saio_config
from bench.saio_config import HashPath, SaioLayout, StorageNode, object_dir, read_hash_path

NODES = (StorageNode(1, 6010, 6011, 6012), StorageNode(2, 6020, 6021, 6022))
LAYOUT = SaioLayout(Path("/tmp/saio"), 8080, 11311, NODES, "swift")


def parse(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)
    return parser


def test_every_ring_has_two_replicas_and_each_node_in_a_zone_of_its_own() -> None:
    commands = saio_config.ring_commands(LAYOUT)
    for ring, port_of in (("object", 6010), ("container", 6011), ("account", 6012)):
        builder = f"/tmp/saio/etc/{ring}.builder"
        mine = [c[2:] for c in commands if c[1] == builder]
        assert mine[0] == ["create", str(saio_config.PART_POWER), str(saio_config.REPLICAS), "1"]
        assert mine[1] == ["add", f"r1z1-127.0.0.1:{port_of}/d1", "100"]
        assert mine[2] == ["add", f"r1z2-127.0.0.1:{port_of + 10}/d2", "100"]
        assert mine[-1] == ["rebalance"]
    assert len(commands) == 3 * (2 + len(NODES))
    assert all(c[0] == "swift-ring-builder" for c in commands)


@pytest.mark.parametrize("ring", ["object", "container", "account"])
def test_a_server_listens_on_its_own_port_and_serves_its_node_directory(ring: str) -> None:
    conf = parse(saio_config.server_conf(LAYOUT, ring, NODES[1]))
    assert conf["DEFAULT"]["bind_ip"] == "127.0.0.1"
    assert conf["DEFAULT"]["bind_port"] == str(NODES[1].port(ring))
    assert conf["DEFAULT"]["devices"] == "/tmp/saio/node2"
    assert conf["DEFAULT"]["mount_check"] == "false"
    assert conf["DEFAULT"]["swift_dir"] == "/tmp/saio/etc"
    assert conf["DEFAULT"]["user"] == "swift"
    assert conf["pipeline:main"]["pipeline"] == f"healthcheck {ring}-server"
    assert conf[f"app:{ring}-server"]["use"] == f"egg:swift#{ring}"


def test_the_proxy_has_tempauth_and_the_private_memcached() -> None:
    conf = parse(saio_config.proxy_conf(LAYOUT))
    assert conf["DEFAULT"]["bind_port"] == "8080"
    assert conf["filter:cache"]["memcache_servers"] == "127.0.0.1:11311"
    assert conf["filter:tempauth"]["user_test_tester"] == "testing .admin"
    pipeline = conf["pipeline:main"]["pipeline"].split()
    assert pipeline[-1] == "proxy-server"
    for name in pipeline[:-1]:  # every filter of the pipeline is defined
        assert conf[f"filter:{name}"]["use"].startswith("egg:swift#")


def test_hash_path_is_read_from_swift_conf() -> None:
    text = "[swift-hash]\nswift_hash_path_suffix = changeme\nswift_hash_path_prefix = pre\n"
    assert read_hash_path(text) == HashPath("pre", "changeme")
    assert read_hash_path("[swift-hash]\nswift_hash_path_suffix = only\n") == HashPath("", "only")
    assert read_hash_path("[swift-constraints]\nmax_file_size = 1\n") is None


def test_a_written_swift_conf_reads_back_with_a_default_policy() -> None:
    text = saio_config.swift_conf_text(HashPath("ab", "cd"))
    assert read_hash_path(text) == HashPath("ab", "cd")
    assert parse(text)["storage-policy:0"]["default"] == "yes"


@pytest.mark.parametrize(
    ("hash_path", "name", "where"),
    [
        (HashPath("pre", "suf"), "fresh-0.bin", "674/efc/a8b3970862f98aaf4f65f74441768efc"),
        (HashPath("changeme", "changeme"), "x.bin", "979/b2e/f4d33e3667c5ee287cbd303dd9a89b2e"),
    ],
)
def test_object_dir_is_where_swift_puts_the_object(
    hash_path: HashPath, name: str, where: str
) -> None:
    path = object_dir(LAYOUT, NODES[0], hash_path, "bench", name)
    assert path == Path("/tmp/saio/node1/d1/objects") / where
