"""``make_app``'s metrics in process: requests counted by route template, ``/metrics``
behind the secret on a public app, readers called at each scrape, one registry per app."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from filefleet.core.errors import Unavailable
from filefleet.http.metrics import Metrics
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


async def exposed(metrics: Metrics) -> Samples:
    return parse((await metrics.exposition()).decode())


async def test_readers_hand_over_counters_at_each_scrape_and_a_failing_one_is_left_out() -> None:
    metrics = Metrics("gc")
    totals = {"freed_bytes": 10, "passes": 1, "conflicts": 4}

    async def counters() -> dict[str, int]:
        return totals

    async def broken() -> dict[str, int]:
        raise Unavailable("metadata store unavailable")

    metrics.read_at_scrape(broken)
    metrics.read_at_scrape(counters)
    metrics.observe_request("GET", "/stats", 200, 0.01)
    assert (await exposed(metrics)).value("filefleet_gc_freed_bytes_total") == 10
    totals["freed_bytes"] = 25
    samples = await exposed(metrics)
    assert samples.value("filefleet_gc_freed_bytes_total") == 25
    assert samples.value("filefleet_gc_passes_total") == 1
    assert not [name for name, _ in samples if "conflicts" in name]  # not in the catalogue
    assert samples.total("filefleet_http_requests_total") == 1


async def test_a_labelled_family_shows_every_value_from_zero() -> None:
    metrics = Metrics("controller")

    async def fleet() -> dict[str, object]:
        return {"below": 3, "single_copy": 1, "nodes": {"active": 2}, "replicas": 2}

    metrics.read_at_scrape(fleet)
    samples = await exposed(metrics)
    assert samples.value("filefleet_chunks_below_replication") == 3
    assert samples.value("filefleet_single_copy_chunks") == 1
    assert samples.value("filefleet_nodes", state="active") == 2
    assert samples.value("filefleet_nodes", state="dead") == 0


async def test_each_app_has_a_registry_of_its_own() -> None:
    first, second = Metrics("a"), Metrics("a")
    first.observe_request("GET", "/x", 200, 0.01)
    first.observe_request("GET", "/x", 200, 0.01)
    second.observe_request("GET", "/x", 200, 0.01)
    labels = {"service": "a", "method": "GET", "route": "/x", "status": "200"}
    assert (await exposed(first)).value("filefleet_http_requests_total", **labels) == 2
    assert (await exposed(second)).value("filefleet_http_requests_total", **labels) == 1
