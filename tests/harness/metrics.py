"""Reading a service's ``/metrics`` as Prometheus would: prometheus-client's own parser,
samples keyed by name and labels, so tests compare numbers before and after."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.harness.cluster import SECRET, http

Labels = frozenset[tuple[str, str]]

OPERATIONS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
_ROW = re.compile(r"^\| `(filefleet_[a-z0-9_]+)(?:\{[a-z,]*\})?` \| (\w+) \|", re.MULTILINE)
_TYPE = re.compile(r"^# TYPE (filefleet_[a-z0-9_]+) (\w+)$", re.MULTILINE)


class Samples(dict[tuple[str, Labels], float]):
    """Every sample of one scrape: ``(name, labels) -> value``."""

    def value(self, name: str, **labels: str) -> float:
        """The sample with exactly these labels; 0 when it is not there (yet)."""
        return self.get((name, frozenset(labels.items())), 0.0)

    def total(self, name: str, **labels: str) -> float:
        """The sum over every sample of ``name`` whose labels include ``labels``."""
        wanted = set(labels.items())
        return sum(v for (n, have), v in self.items() if n == name and wanted <= have)

    def labelled(self, name: str) -> list[Mapping[str, str]]:
        return [dict(have) for (n, have) in self if n == name]


def parse(text: str) -> Samples:
    samples = Samples()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def scrape(url: str, secret: str | None = SECRET) -> Samples:
    """``GET <url>/metrics`` with the cluster secret, parsed."""
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    answer = http("GET", f"{url}/metrics", headers=headers)
    assert answer.status == 200, (answer.status, answer.body[:300])
    assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return parse(answer.body.decode())


def exposed_types(url: str) -> dict[str, str]:
    """``name -> type`` of every filefleet family a service exposes (its ``# TYPE`` lines),
    with or without samples yet."""
    headers = {"Authorization": f"Bearer {SECRET}"}
    answer = http("GET", f"{url}/metrics", headers=headers)
    assert answer.status == 200, (answer.status, answer.body[:300])
    return dict(_TYPE.findall(answer.body.decode()))


def documented_types() -> dict[str, str]:
    """``name -> type`` of every metric the tables of docs/operations.md's "Metrics" list."""
    text = OPERATIONS.read_text()
    section = text.split("\n## Metrics\n", 1)[1].split("\n## ", 1)[0]
    return dict(_ROW.findall(section))
