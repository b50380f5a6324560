"""One settings model per service, from flags and ``FILEFLEET_*`` environment variables.

Every field here is a flag of the service's command (``node_ttl`` -> ``--node-ttl``) and an
environment variable (``FILEFLEET_NODE_TTL``); flags win over the environment. Defaults
live here and nowhere else; ``docs/configuration.md`` documents every field (a test checks).
Durations accept ``500ms``, ``2s``, ``10m``, ``1h``, ``7d``; sizes accept ``4MiB``, ``10GiB``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BeforeValidator, Field, create_model, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from filefleet.core.chunking import DEFAULT_CHUNK_SIZE
from filefleet.core.errors import InvalidInput
from filefleet.core.units import parse_duration, parse_size
from filefleet.http.deadlines import SERVICE, Deadlines
from filefleet.runtime.paths import default_data_dir

if TYPE_CHECKING:
    import ssl

    from filefleet.http.client import HttpClient

MiB = 1024 * 1024


def _duration(value: Any) -> float:
    try:
        return parse_duration(value)
    except InvalidInput as exc:
        raise ValueError(exc.message) from exc


def _size(value: Any) -> int:
    try:
        return parse_size(value)
    except InvalidInput as exc:
        raise ValueError(exc.message) from exc


Duration = Annotated[float, BeforeValidator(_duration)]
Size = Annotated[int, BeforeValidator(_size)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FILEFLEET_", extra="ignore")


class ServiceSettings(Settings):
    """What every long-running service takes."""

    host: str = Field("127.0.0.1", description="Address to listen on.")
    port: int = Field(0, ge=0, le=65535, description="Port to listen on.")
    secret: str | None = Field(
        None, description="Cluster secret; services send it as `Authorization: Bearer`."
    )
    insecure: bool = Field(False, description="Run without a cluster secret (development).")
    log_json: bool = Field(False, description="Log one JSON object per line.")
    log_level: str = Field("info", description="debug, info, warning or error.")
    tls_cert: Path | None = Field(
        None,
        description="PEM certificate (chain) this service presents; with --tls-key it "
        "serves HTTPS only, and a plain http:// request gets a 400 saying so.",
    )
    tls_key: Path | None = Field(None, description="PEM private key of --tls-cert.")

    @model_validator(mode="after")
    def _secret_or_insecure(self) -> ServiceSettings:
        if not self.secret and not self.insecure:
            raise ValueError(
                "no cluster secret: pass --secret or set FILEFLEET_SECRET "
                "(or --insecure for a throw-away development setup)"
            )
        return self

    @model_validator(mode="after")
    def _cert_with_key(self) -> ServiceSettings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("--tls-cert and --tls-key go together: give both, or neither")
        return self

    @property
    def scheme(self) -> str:
        """How this service is called: ``https`` when it has a certificate."""
        return "https" if self.tls_cert is not None else "http"

    def server_tls(self) -> ssl.SSLContext | None:
        """What it serves HTTPS with (InvalidInput if the files cannot be used), or None."""
        if self.tls_cert is None or self.tls_key is None:
            return None
        from filefleet.http.tls import server_context

        return server_context(self.tls_cert, self.tls_key)


class ControllerClientSettings(ServiceSettings):
    """What every service that calls others takes: where the controller is, and the
    per-hop deadlines of its calls (``http/deadlines.py``)."""

    controller: str = Field(
        "http://127.0.0.1:8100",
        description="Controller URL; a comma-separated list fails over in order.",
    )
    connect_timeout: Duration = Field(
        SERVICE.connect, description="Longest wait for a connection to another service."
    )
    answer_timeout: Duration = Field(
        SERVICE.answer,
        description="Longest wait for another service's answer once the request is sent, "
        "and the longest pause while a body moves.",
    )
    min_rate: Size = Field(
        int(SERVICE.min_rate),
        description="Slowest average pace (bytes/s, after 2 s) of a chunk moving between "
        "services; a slower transfer is given up and goes to another node (0: no minimum).",
    )
    tls_ca: Path | None = Field(
        None,
        description="PEM bundle of the CA(s) that sign the cluster's certificates: the "
        "only ones trusted when calling an https:// service (default: the system's store).",
    )

    def deadlines(self) -> Deadlines:
        return Deadlines(
            connect=self.connect_timeout,
            answer=self.answer_timeout,
            min_rate=float(self.min_rate),
            grace=SERVICE.grace,
        )

    def http_client(self) -> HttpClient:
        """The client this service calls the others with: its secret, deadlines and CA."""
        from filefleet.http.client import HttpClient

        return HttpClient(secret=self.secret, deadlines=self.deadlines(), tls_ca=self.tls_ca)

    @property
    def controller_urls(self) -> list[str]:
        return [u.strip().rstrip("/") for u in self.controller.split(",") if u.strip()]


class ControllerSettings(ServiceSettings):
    port: int = Field(8100, ge=0, le=65535, description="Port to listen on.")
    db: str = Field(
        "sqlite:///filefleet-meta.db",
        description=(
            "Metadata store: sqlite:///path/meta.db or postgresql://user@host/db; several "
            "PostgreSQL servers: postgresql://user@h1:5432,h2:5432/db"
            "?target_session_attrs=read-write."
        ),
    )
    node_ttl: Duration = Field(10.0, description="A node is active while its last ping is younger.")
    replicas: int = Field(2, ge=1, description="Replication factor R.")
    queue: str | None = Field(
        None, description="Event queue URL, read only to show dead letters in GET /status and /ui."
    )


class NodeSettings(ControllerClientSettings):
    data: Path = Field(description="Directory holding this node's chunks and its node-id.")
    port: int = Field(8201, ge=0, le=65535, description="Port to listen on.")
    public_url: str | None = Field(
        None,
        description="URL other services reach this node at (default http://host:port, "
        "https://host:port with --tls-cert).",
    )
    name: str | None = Field(
        None,
        min_length=1,
        max_length=255,
        description="Name operators see in `filefleet status` and `filefleet nodes` "
        "(default: the name of the --data directory).",
    )
    capacity: Size | None = Field(
        None, description="Bytes this node offers (default: the size of its disk)."
    )
    reserve: Size = Field(
        64 * MiB, description="Free disk space a node keeps; a write below it is refused (507)."
    )
    ping_interval: Duration = Field(2.0, description="How often the node pings the controller.")
    scrub_rate: float = Field(
        8.0,
        ge=0,
        description="MiB/s of stored chunks re-hashed by the scrubber, each chunk counted "
        "512 KiB more than its size (0: off).",
    )
    max_chunk: Size = Field(
        DEFAULT_CHUNK_SIZE, description="Largest chunk body accepted (413 above)."
    )


class FrontendSettings(ControllerClientSettings):
    port: int = Field(8000, ge=0, le=65535, description="Port to listen on.")
    queue: str | None = Field(
        None, description="Event queue: redis://host:port/db, unix:///path.sock or amqp://..."
    )
    public_url: str | None = Field(
        None,
        description="Base URL of the links handed out (default: the scheme and Host of "
        "each request).",
    )
    default_expiry: Duration = Field(7 * 86400.0, description="Expiry of an upload without one.")
    max_expiry: Duration = Field(30 * 86400.0, description="Largest expiry accepted (400 above).")
    max_upload: Size = Field(10 * 1024 * MiB, description="Largest upload accepted (413 above).")
    chunk_size: Size = Field(DEFAULT_CHUNK_SIZE, description="Chunk size; only tests change it.")
    inflight: int = Field(4, ge=1, le=64, description="Chunks of one upload stored at once.")
    # Downloads read further ahead than uploads store: 6 chunks ahead served 1 GiB ~10 %
    # faster than 4 on a 2-core machine (and as fast as 8, for less memory); 8 chunks in
    # flight made one upload from a Python client faster, several at once slower and one
    # from curl no faster (docs/benchmarks.md, "How far a download reads ahead").
    read_ahead: int = Field(
        6,
        ge=1,
        le=64,
        description="Chunks of one download held at once: the one being sent and those "
        "fetched ahead.",
    )
    # Shared so that memory stays bounded however many downloads run: each download holds
    # 2 chunks of its own and borrows the rest of its --read-ahead from here. One download
    # alone still reads 6 ahead; 8 at once (4 each) ran 15-20 % faster than with 6 each,
    # 32 at once 2.5x faster in a third of the memory (docs/benchmarks.md, "How far a
    # download reads ahead").
    read_ahead_pool: int = Field(
        16,
        ge=0,
        le=4096,
        description="Chunks all downloads together may hold beyond their first two each, "
        "shared fairly: bounds the frontend's memory under many downloads.",
    )
    dedup: bool = Field(True, description="Let clients claim chunks the fleet already holds.")


class WorkerSettings(ControllerClientSettings):
    once: bool = Field(False, description="Run one pass and exit.")


class ReplicatorSettings(WorkerSettings):
    port: int = Field(8300, ge=0, le=65535, description="Port of /healthz.")
    queue: str | None = Field(None, description="Event queue URL (see frontend).")
    replicas: int = Field(2, ge=1, description="Replication factor R.")
    repair_interval: Duration = Field(30.0, description="Time between periodic repair passes.")
    repair_after: Duration = Field(
        60.0, description="How long a node must be inactive before its replicas stop counting."
    )
    repair_rate: float = Field(
        64.0, gt=0, description="MiB/s the periodic repair copies at most (bounded rate)."
    )
    claim_after: Duration = Field(
        15.0, description="Redis: events a silent replicator holds go to another after this."
    )


class GCSettings(WorkerSettings):
    port: int = Field(8400, ge=0, le=65535, description="Port of /healthz.")
    gc_interval: Duration = Field(60.0, description="Time between collection passes.")
    gc_grace: Duration = Field(
        3600.0, description="Age before an orphan chunk or an untouched upload is collected."
    )


class UpBase(Settings):
    """What ``filefleet up`` takes of its own; ``UpSettings`` adds the services' knobs."""

    data: Path = Field(
        default_factory=default_data_dir,
        description="Directory of the cluster (default: $XDG_DATA_HOME/filefleet, "
        "else ~/.local/share/filefleet).",
    )
    host: str = Field("127.0.0.1", description="Address the frontend listens on.")
    port: int = Field(8000, ge=1, le=65535, description="Port of the frontend.")
    nodes: int = Field(3, ge=1, le=64, description="Number of file nodes.")
    replicas: int = Field(2, ge=1, description="Replication factor R.")
    secret: str | None = Field(None, description="Cluster secret (default: generated).")
    db: str | None = Field(None, description="Metadata store URL (default: SQLite under --data).")
    queue: str | None = Field(None, description="Queue URL (default: an embedded Redis).")
    public_url: str | None = Field(None, description="Base URL of the links handed out.")
    log_json: bool = Field(False, description="Services log JSON lines.")


# The services' settings `filefleet up` passes on, each to the service whose model has it:
# its flag, type and meaning come from that model, so they are written once. A knob left
# unset keeps the service's own default.
UP_KNOBS: dict[str, tuple[type[Settings], tuple[str, ...]]] = {
    "controller": (ControllerSettings, ("node_ttl",)),
    "node": (NodeSettings, ("ping_interval", "scrub_rate", "max_chunk", "capacity")),
    "replicator": (ReplicatorSettings, ("repair_interval", "repair_after", "repair_rate")),
    "gc": (GCSettings, ("gc_interval", "gc_grace")),
    "frontend": (
        FrontendSettings,
        (
            "default_expiry",
            "max_expiry",
            "max_upload",
            "chunk_size",
            "inflight",
            "read_ahead",
            "read_ahead_pool",
            "dedup",
        ),
    ),
}


def _up_knob(service: str, model: type[Settings], name: str) -> tuple[Any, Any]:
    field = model.model_fields[name]
    kind: Any = bool | None if field.annotation is bool else str | None
    where = {"node": "every node", "gc": "the garbage collector"}.get(service, f"the {service}")
    return kind, Field(None, description=f"{field.description} Passed to {where}.")


_KNOB_FIELDS: dict[str, Any] = {
    name: _up_knob(service, model, name)
    for service, (model, names) in UP_KNOBS.items()
    for name in names
}
UpSettings: type[UpBase] = create_model(  # one field per knob of UP_KNOBS
    "UpSettings",
    __base__=UpBase,
    __doc__="``filefleet up``: a whole local cluster, with the knobs of its services.",
    **_KNOB_FIELDS,
)
