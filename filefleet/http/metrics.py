"""A service's Prometheus metrics: the HTTP requests it served, and its own counters read
when Prometheus asks.

``make_app`` gives every app one ``Metrics`` (under ``METRICS``) with a registry of its
own, not prometheus_client's global one, so that several apps in one process (tests) keep
apart; ``GET /metrics`` answers it in the text format, behind the cluster secret.

    filefleet_http_requests_total{service,method,route,status}          counter
    filefleet_http_request_duration_seconds{service,method,route}       histogram
    filefleet_<event>s_total{result}   access-logged routes (uploads, downloads)

``route`` is the route's template (``/download/{id}``), never the path asked for, so ids do
not multiply the series. A service adds its own with ``read_at_scrape``: a function that
hands over the counters the service keeps anyway (the ones ``/stats`` shows), called at
each scrape; the catalogue (``core/metric_catalogue.py``) says which of them are exposed,
under which name, so there is no second set of numbers to keep in step.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from typing import Any

import prometheus_client
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from filefleet.core.errors import FilefleetError
from filefleet.core.metric_catalogue import CATALOGUE, Family, family

log = logging.getLogger(__name__)

# A counter's `_created` twin says when the process started counting; Prometheus needs
# none of it (a restart shows as a reset), and it doubles the series.
prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]

# From a chunk written on a node (milliseconds) to a large file downloaded (minutes).
DURATION_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
UNMATCHED = "(unmatched)"  # the route label of a request no route took (404, 405)

Reader = Callable[[], Awaitable[Mapping[str, Any]]]


class Metrics:
    """One app's registry: the request metrics, and the readers the service added."""

    def __init__(self, service: str, events: Iterable[str] = ()) -> None:
        self.service = service
        self.registry = CollectorRegistry()
        requests = family("filefleet_http_requests_total")
        self.requests = Counter(
            _base(requests), requests.help, ["service", "method", "route", "status"],
            registry=self.registry,
        )  # fmt: skip
        duration = family("filefleet_http_request_duration_seconds")
        self.duration = Histogram(
            duration.name, duration.help, ["service", "method", "route"],
            buckets=DURATION_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.events = {event: self._event_counter(event) for event in sorted(set(events))}
        self._readers: list[Reader] = []
        self._read: list[Metric] = []
        self.registry.register(_LastRead(self))

    def _event_counter(self, event: str) -> Counter:
        entry = family(f"filefleet_{event}s_total")
        counted = Counter(_base(entry), entry.help, [entry.label or "result"],
                          registry=self.registry)  # fmt: skip
        for result in entry.values:  # every result from 0, so rate() has a start
            counted.labels(result)
        return counted

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(self.service, method, route, str(status)).inc()
        self.duration.labels(self.service, method, route).observe(seconds)

    def count_event(self, event: str, result: str) -> None:
        self.events[event].labels(result).inc()

    def read_at_scrape(self, reader: Reader) -> None:
        """Have ``reader`` hand over this service's counters at every scrape."""
        self._readers.append(reader)

    async def exposition(self) -> bytes:
        """The text Prometheus scrapes. A reader that fails (the metadata store is down)
        is left out with a warning; the others, and the request metrics, still answer."""
        read: list[Metric] = []
        for reader in self._readers:
            try:
                read.extend(families(self.service, await reader()))
            except FilefleetError as exc:
                log.warning("metrics: a reader failed and is left out: %s", exc.message)
        self._read = read  # no await between this and the rendering: scrapes do not mix
        return generate_latest(self.registry)


def families(service: str, counters: Mapping[str, Any]) -> list[Metric]:
    """The catalogue's families of ``service`` whose counter is in ``counters``."""
    return [
        _family(entry, counters[entry.source])
        for entry in CATALOGUE
        if entry.service == service and entry.source is not None
        and counters.get(entry.source) is not None
    ]  # fmt: skip


def _family(entry: Family, value: Any) -> Metric:
    kind = CounterMetricFamily if entry.kind == "counter" else GaugeMetricFamily
    if entry.label is None:
        return kind(_base(entry), entry.help, value=float(value))
    made = kind(_base(entry), entry.help, labels=[entry.label])
    for key in entry.values or sorted(value):
        made.add_metric([key], float(value.get(key, 0)))
    return made


def _base(entry: Family) -> str:
    """The name prometheus_client wants: a counter's without its ``_total``."""
    return entry.name.removesuffix("_total") if entry.kind == "counter" else entry.name


class _LastRead:
    """The families the readers built for the scrape being rendered."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        return iter(self.metrics._read)


METRICS = web.AppKey("metrics", Metrics)


async def metrics_handler(request: web.Request) -> web.Response:
    body = await request.app[METRICS].exposition()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})
