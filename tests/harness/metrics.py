"""Reading a service's ``/metrics`` as Prometheus would: prometheus-client's own parser,
samples keyed by name and labels, so tests compare numbers before and after."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client.parser import text_string_to_metric_families

from tests.harness.cluster import SECRET, http

Labels = frozenset[tuple[str, str]]


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
