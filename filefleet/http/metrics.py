"""A service's Prometheus metrics: the HTTP requests it served, and its own counters read
when Prometheus asks.

``make_app`` gives every app one ``Metrics`` (under ``METRICS``) with a registry of its
own, not prometheus_client's global one, so that several apps in one process (tests) keep
apart; ``GET /metrics`` answers it in the text format, behind the cluster secret.

    filefleet_http_requests_total{service,method,route,status}          counter
    filefleet_http_request_duration_seconds{service,method,route}       histogram
    filefleet_<event>s_total{result}   access-logged routes (uploads, downloads)

``route`` is the route's template (``/download/{id}``), never the path asked for, so ids do
not multiply the series. A service adds its own families with ``read_at_scrape``: a
function that builds them from the counters the service keeps anyway (the ones ``/stats``
shows), called at each scrape, so there is no second set of numbers to keep in step.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from typing import TypeVar

import prometheus_client
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from filefleet.core.errors import FilefleetError
from filefleet.http.access import RESULTS

log = logging.getLogger(__name__)

# A counter's `_created` twin says when the process started counting; Prometheus needs
# none of it (a restart shows as a reset), and it doubles the series.
prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]

# From a chunk written on a node (milliseconds) to a large file downloaded (minutes).
DURATION_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
UNMATCHED = "(unmatched)"  # the route label of a request no route took (404, 405)

Reader = Callable[[], Awaitable[Iterable[Metric]]]
F = TypeVar("F", CounterMetricFamily, GaugeMetricFamily)


class Metrics:
    """One app's registry: the request metrics, and the readers the service added."""

    def __init__(self, service: str, events: Iterable[str] = ()) -> None:
        self.service = service
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "filefleet_http_requests",
            "HTTP requests answered, by route template and status.",
            ["service", "method", "route", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "filefleet_http_request_duration_seconds",
            "Time from a request's arrival until its answer was written, body included.",
            ["service", "method", "route"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.events = {
            event: Counter(
                f"filefleet_{event}s",
                f"{event.capitalize()}s, by result: ok, rejected (4xx), failed (5xx or cut "
                "short), client_gone (the client left before the end).",
                ["result"],
                registry=self.registry,
            )
            for event in sorted(set(events))
        }
        for counted in self.events.values():  # every result from 0, so rate() has a start
            for result in RESULTS:
                counted.labels(result)
        self._readers: list[Reader] = []
        self._read: list[Metric] = []
        self.registry.register(_LastRead(self))

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(self.service, method, route, str(status)).inc()
        self.duration.labels(self.service, method, route).observe(seconds)

    def count_event(self, event: str, result: str) -> None:
        self.events[event].labels(result).inc()

    def read_at_scrape(self, reader: Reader) -> None:
        """Have ``reader`` build some of this service's families at every scrape."""
        self._readers.append(reader)

    async def exposition(self) -> bytes:
        """The text Prometheus scrapes. A reader that fails (the metadata store is down)
        is left out with a warning; the others, and the request metrics, still answer."""
        read: list[Metric] = []
        for reader in self._readers:
            try:
                read.extend(await reader())
            except FilefleetError as exc:
                log.warning("metrics: a reader failed and is left out: %s", exc.message)
        self._read = read  # no await between this and the rendering: scrapes do not mix
        return generate_latest(self.registry)


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


# -- building families from plain numbers ---------------------------------------------------


def counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    """A counter family with one value; ``name`` without ``_total`` (added when shown)."""
    return CounterMetricFamily(name, documentation, value=value)


def gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def by_label(
    kind: type[F], name: str, documentation: str, label: str, values: Mapping[str, float]
) -> F:
    """A family of ``kind`` with one series per value of ``label``."""
    family = kind(name, documentation, labels=[label])
    for key, value in sorted(values.items()):
        family.add_metric([key], value)
    return family
