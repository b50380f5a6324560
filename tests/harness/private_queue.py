"""A Redis or RabbitMQ server of the test's own, to stop and start again under load without
touching the machine's servers on 6379 and 5672 (or the machine's RabbitMQ node).

- ``private_redis(procs)``: Debian's ``/usr/bin/redis-server`` on a free loopback port,
  its data in a temp dir with the append-only file on, so streams, consumer groups and
  pending entries survive a restart.
- ``private_rabbitmq(procs)``: a RabbitMQ node of its own (``RABBITMQ_NODENAME``), on a
  free AMQP port and a free distribution port, its Mnesia database, logs, Erlang cookie
  (``HOME``), configuration and plugin list (none: no management plugin) in a temp dir,
  so it reads nothing of the machine's ``/etc/rabbitmq``. It registers with the running
  epmd, as every node on the machine does (and does not start without one). It takes
  ~5 s to start. It is run from ``/usr/lib/rabbitmq/bin``: the ``/usr/sbin`` wrapper would
  run it through ``su``, and the pid the test holds would not be the server's.

Either one is stopped by its pid (SIGTERM: Redis writes its append-only file, RabbitMQ's
start script stops the Erlang VM) and whatever is left under it is killed, and its temp dir
removed, when the ``with`` block ends, whatever happened.
"""

from __future__ import annotations

import contextlib
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

from filefleet.runtime.ports import free_port
from tests.conftest import require_service
from tests.harness.processes import ProcessGroup
from tests.harness.servers import ServerProcess, require_binary, server_dir, spawn_server

REDIS_SERVER = "/usr/bin/redis-server"
RABBITMQ_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"  # what /usr/sbin/'s wrapper runs
AMQP_HEADER = b"AMQP\x00\x00\x09\x01"
EPMD_PORT = 4369
START_TIMEOUT = 60.0  # seconds; RabbitMQ takes ~5 s on an idle 2-core machine


@dataclass
class QueueServer:
    """One server: ``start``, ``stop`` (clean: data kept) and ``start`` again, same port."""

    procs: ProcessGroup
    name: str
    args: list[str]
    env: dict[str, str]
    port: int
    url: str
    hello: bytes  # sent on connect; a ready server answers something
    proc: ServerProcess | None = field(default=None)

    def start(self) -> QueueServer:
        self.proc = spawn_server(self.procs, self.name, self.args, env=self.env)
        self.proc.wait_ready(self.answers, timeout=START_TIMEOUT)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop(timeout=30)

    def answers(self) -> bool:
        """Connectable and speaking: a Redis PING or an AMQP protocol header answered."""
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock,
        ):
            sock.settimeout(2)
            sock.sendall(self.hello)
            return bool(sock.recv(16))
        return False


@contextlib.contextmanager
def private_redis(procs: ProcessGroup) -> Iterator[QueueServer]:
    binary = require_binary("redis-server", REDIS_SERVER)
    with server_dir("filefleet-redis-") as root:
        port = free_port()
        args = [
            binary,
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--dir", str(root),
            "--appendonly", "yes",
            "--appendfsync", "always",  # every event written before it is acknowledged
            "--save", "",
            "--daemonize", "no",
            "--logfile", "",
        ]  # fmt: skip
        url = f"redis://127.0.0.1:{port}/0"
        server = QueueServer(procs, "redis", args, {}, port, url, b"PING\r\n")
        try:
            yield server.start()
        finally:
            server.stop()


@contextlib.contextmanager
def private_rabbitmq(procs: ProcessGroup) -> Iterator[QueueServer]:
    binary = require_binary("rabbitmq-server", RABBITMQ_SERVER)
    # A node starts epmd as a daemon of its own when none runs, one the test could not
    # stop by pid: it must find the machine's (started with its RabbitMQ), or not start.
    require_service("epmd (the Erlang port mapper)", "127.0.0.1", EPMD_PORT)
    with server_dir("filefleet-rabbitmq-") as root:
        port, dist_port = free_port(), free_port()
        (root / "enabled_plugins").write_text("[].\n")
        (root / "rabbitmq.conf").write_text(f"listeners.tcp.default = 127.0.0.1:{port}\n")
        (root / "rabbitmq-env.conf").write_text("")
        env = {
            "HOME": str(root),  # its own Erlang cookie
            "RABBITMQ_NODENAME": f"filefleet-test-{uuid.uuid4().hex[:8]}@localhost",
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(port),
            "RABBITMQ_DIST_PORT": str(dist_port),
            "RABBITMQ_CONF_ENV_FILE": str(root / "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": str(root / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(root / "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(root / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(root / "mnesia"),
            "RABBITMQ_LOG_BASE": str(root / "log"),
            "RABBITMQ_PID_FILE": str(root / "rabbitmq.pid"),
            "RABBITMQ_LOGS": "-",
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": (
                "-kernel inet_dist_use_interface {127,0,0,1} -start_epmd false"
            ),
        }
        url = f"amqp://guest:guest@127.0.0.1:{port}/"
        server = QueueServer(procs, "rabbitmq", [binary], env, port, url, AMQP_HEADER)
        try:
            yield server.start()
        finally:
            server.stop()
