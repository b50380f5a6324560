"""Write docs/configuration.md from the settings models (run after adding a setting):

    python -m scripts.configuration_doc > docs/configuration.md

tests/unit/test_configuration_doc.py fails when the file and the models disagree.
"""

from __future__ import annotations

from typing import Any

from pydantic.fields import FieldInfo

from filefleet.core.units import format_duration
from filefleet.runtime import settings as s
from filefleet.runtime.settings import Settings

SERVICES: list[tuple[str, type[Settings]]] = [
    ("filefleet up", s.UpSettings),
    ("filefleet controller", s.ControllerSettings),
    ("filefleet node", s.NodeSettings),
    ("filefleet frontend", s.FrontendSettings),
    ("filefleet replicator", s.ReplicatorSettings),
    ("filefleet gc", s.GCSettings),
]

HEADER = """# Configuration

Every service is configured by flags and environment variables: each flag `--some-flag`
is also read from `FILEFLEET_SOME_FLAG`, and a flag wins over the environment. Durations
accept `500ms`, `2s`, `10m`, `1h`, `7d` (fractions allowed); sizes accept bytes or
`4MiB`, `10GiB`. Defaults live in one place, `filefleet/runtime/settings.py`; this page is
generated from it (`python -m scripts.configuration_doc > docs/configuration.md`) and a
test fails when the two disagree.

Every long-running service also answers `GET /healthz`, and `GET /metrics` for
Prometheus (docs/operations.md, "Metrics"), and needs the cluster secret (`--secret` /
`FILEFLEET_SECRET`) unless started with `--insecure`.
"""


def _kind(field: FieldInfo) -> str:
    for meta in field.metadata:
        func = getattr(meta, "func", None)
        if func is s._duration:
            return "duration"
        if func is s._size:
            return "size"
    return ""


def _size_text(value: int) -> str:
    for unit, size in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if value >= size and value % size == 0:
            return f"{value // size}{unit}"
    return str(value)


def default_text(field: FieldInfo) -> str:
    if field.default_factory is not None:
        return "see meaning"
    value: Any = field.default
    if value is None:
        return "–"
    kind = _kind(field)
    if kind == "duration":
        return f"`{format_duration(value)}`"
    if kind == "size":
        return f"`{_size_text(value)}`"
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    return f"`{value}`"


def render() -> str:
    out = [HEADER]
    for title, model in SERVICES:
        out.append(f"\n## `{title}`\n")
        out.append("| flag | environment | default | meaning |")
        out.append("|---|---|---|---|")
        for name, field in model.model_fields.items():
            flag = "--" + name.replace("_", "-")
            env = "FILEFLEET_" + name.upper()
            default = "required" if field.is_required() else default_text(field)
            out.append(f"| `{flag}` | `{env}` | {default} | {field.description or ''} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(render(), end="")
