"""``make_app``'s metrics in process: requests counted by route template, ``/metrics``
behind the secret on a public app, readers called at each scrape, one registry per app."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from filefleet.core.errors import Unavailable
from filefleet.http.metrics import METRICS, Metrics, by_label, counter, gauge
from filefleet.http.server import Api, make_app
from tests.harness.metrics import Samples, parse

AUTH = {"Authorization": "Bearer s"}
Client = TestClient[web.Request, web.Application]

api = Api("things")


@api.route("GET", "/thing/{id}", summary="One thing.", public=True)
async def thing(request: web.Request) -> web.Response:
    return web.json_response({"id": request.match_info["id"]})


@api.route("GET", "/private", summary="Needs the secret.")
async def private(_: web.Request) -> web.Response:
    return web.json_response({})


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    async with TestClient(TestServer(make_app(api, service_id="t", secret="s"))) as test_client:
        yield test_client


async def scrape(client: Client) -> Samples:
    resp = await client.get("/metrics", headers=AUTH)
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return parse(await resp.text())


async def test_requests_are_counted_by_route_template_not_by_path(client: Client) -> None:
    for thing_id in ("a", "b", "a"):
        assert (await client.get(f"/thing/{thing_id}")).status == 200
    assert (await client.get("/no/such/route")).status == 404
    assert (await client.get("/private")).status == 401

    samples = await scrape(client)
    requests = "filefleet_http_requests_total"
    one = {"service": "things", "method": "GET"}
    assert samples.value(requests, **one, route="/thing/{id}", status="200") == 3
    assert samples.value(requests, **one, route="(unmatched)", status="404") == 1
    assert samples.value(requests, **one, route="/private", status="401") == 1
    assert not any("/thing/a" in labels["route"] for labels in samples.labelled(requests))
    duration = "filefleet_http_request_duration_seconds_count"
    assert samples.value(duration, **one, route="/thing/{id}") == 3


async def test_metrics_needs_the_secret_where_every_route_is_public(client: Client) -> None:
    assert (await client.get("/metrics")).status == 401
    assert (await client.get("/metrics", headers={"Authorization": "Bearer no"})).status == 401
    assert (await client.get("/thing/x")).status == 200  # public routes stay public
    assert (await client.get("/metrics", headers=AUTH)).status == 200


async def test_readers_are_read_at_each_scrape_and_a_failing_one_is_left_out(
    client: Client,
) -> None:
    held = {"chunks": 1}

    async def chunks() -> Iterable[Metric]:
        return [gauge("filefleet_test_chunks", "Chunks held.", held["chunks"])]

    async def broken() -> Iterable[Metric]:
        raise Unavailable("metadata store unavailable")

    metrics = client.app[METRICS]
    metrics.read_at_scrape(broken)
    metrics.read_at_scrape(chunks)
    assert (await scrape(client)).value("filefleet_test_chunks") == 1
    held["chunks"] = 5
    samples = await scrape(client)
    assert samples.value("filefleet_test_chunks") == 5
    assert samples.total("filefleet_http_requests_total", route="/metrics") >= 1


async def exposed(metrics: Metrics) -> Samples:
    return parse((await metrics.exposition()).decode())


async def test_each_app_has_a_registry_of_its_own() -> None:
    first, second = Metrics("a"), Metrics("a")
    first.observe_request("GET", "/x", 200, 0.01)
    first.observe_request("GET", "/x", 200, 0.01)
    second.observe_request("GET", "/x", 200, 0.01)
    labels = {"service": "a", "method": "GET", "route": "/x", "status": "200"}
    assert (await exposed(first)).value("filefleet_http_requests_total", **labels) == 2
    assert (await exposed(second)).value("filefleet_http_requests_total", **labels) == 1


async def test_families_from_plain_numbers() -> None:
    metrics = Metrics("a")

    async def read() -> list[Metric]:
        return [
            counter("filefleet_test_bytes", "Bytes.", 12),
            by_label(GaugeMetricFamily, "filefleet_test_nodes", "Nodes.", "state",
                     {"active": 2, "dead": 0}),
        ]  # fmt: skip

    metrics.read_at_scrape(read)
    samples = await exposed(metrics)
    assert samples.value("filefleet_test_bytes_total") == 12
    assert samples.value("filefleet_test_nodes", state="active") == 2
    assert samples.value("filefleet_test_nodes", state="dead") == 0
