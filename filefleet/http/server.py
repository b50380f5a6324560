"""The app factory every service uses: routes with their OpenAPI description, the cluster
secret, request ids, metrics and access lines, and errors turned into ``{"error": "..."}``
with one status each.

A handler stays thin: it parses (``read_model``), calls a plain function, and returns a
response. Any ``FilefleetError`` it lets through becomes its status; pydantic validation
errors become 400; anything unexpected is logged and answered 500.

Every request is counted and timed by its route's template (``http/metrics.py``), and a
route marked ``access="upload"`` (or ``"download"``) also gets its access line
(``http/access.py``). A client that goes away mid-request (its connection reset or lost
while its body is read or its answer written) is not an error: it is told in one line,
INFO on an access-logged route, DEBUG elsewhere (a hedged read that lost is routine),
counted with status 499 (nginx's "client closed request") unless its answer had begun,
and nothing is logged with a traceback.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from filefleet import __version__
from filefleet.core.errors import FilefleetError, InvalidInput, TooManyTries, Unauthorized
from filefleet.core.models import ErrorBody, Health
from filefleet.http import access
from filefleet.http.metrics import METRICS, UNMATCHED, Metrics, metrics_handler
from filefleet.runtime.logging import request_id

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
M = TypeVar("M", bound=BaseModel)

SECRET_KEY = web.AppKey("secret", str)
PUBLIC_KEY = web.AppKey("public", frozenset)


@dataclass(frozen=True)
class RouteDoc:
    method: str
    path: str
    summary: str
    body: type[BaseModel] | None
    response: type[BaseModel] | None
    public: bool


class Api:
    """A service's route table and the OpenAPI document generated from it."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.routes = web.RouteTableDef()
        self.docs: list[RouteDoc] = []
        # Pages a browser opens: the secret as the password of HTTP basic auth instead.
        self.basic_auth_paths: set[tuple[str, str]] = set()
        # Routes with an access line (http/access.py): (method, path) -> "upload"/"download".
        self.access_events: dict[tuple[str, str], str] = {}
        # Public static files: URL prefix -> directory.
        self.statics: dict[str, Path] = {}

    def route(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        body: type[BaseModel] | None = None,
        response: type[BaseModel] | None = None,
        public: bool = False,
        basic_auth: bool = False,
        access: str | None = None,
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.routes.route(method, path)(handler)
            canonical = canonical_path(path)  # what route_template() sees for a request
            if basic_auth:
                self.basic_auth_paths.add((method, canonical))
            if access is not None:
                self.access_events[(method, canonical)] = access
            self.docs.append(RouteDoc(method, canonical, summary, body, response, public))
            return handler

        return register

    def including(self, *others: Api) -> Api:
        """One table with this one's routes and those of ``others`` (a service whose routes
        live in several modules registers them here, explicitly, not by import)."""
        merged = Api(self.service)
        for table in (self, *others):
            for route in table.routes:
                assert isinstance(route, web.RouteDef)  # what Api.route registers
                merged.routes.route(route.method, route.path, **route.kwargs)(route.handler)
            merged.docs += table.docs
            merged.basic_auth_paths |= table.basic_auth_paths
            merged.access_events |= table.access_events
            merged.statics |= table.statics
        return merged

    def static(self, prefix: str, directory: Path) -> None:
        """Serve the files of ``directory`` under ``prefix``, to anyone."""
        self.statics[prefix] = directory

    def public_paths(self) -> frozenset[tuple[str, str]]:
        statics = {("GET", prefix) for prefix in self.statics}
        return frozenset((d.method, d.path) for d in self.docs if d.public) | statics

    def openapi(self) -> dict[str, Any]:
        paths: dict[str, dict[str, Any]] = {}
        schemas: dict[str, Any] = {}

        def ref(model: type[BaseModel]) -> dict[str, str]:
            schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(schema.pop("$defs", {}))
            schemas[model.__name__] = schema
            return {"$ref": f"#/components/schemas/{model.__name__}"}

        for doc in self.docs:
            op: dict[str, Any] = {"summary": doc.summary, "responses": {}}
            if doc.body is not None:
                op["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": ref(doc.body)}},
                }
            ok: dict[str, Any] = {"description": "success"}
            if doc.response is not None:
                ok["content"] = {"application/json": {"schema": ref(doc.response)}}
            op["responses"]["200"] = ok
            op["responses"]["default"] = {
                "description": "error",
                "content": {"application/json": {"schema": ref(ErrorBody)}},
            }
            if (doc.method, doc.path) in self.basic_auth_paths:
                op["security"] = [{"basic": []}]
            elif not doc.public:
                op["security"] = [{"bearer": []}]
            paths.setdefault(doc.path, {})[doc.method.lower()] = op
        return {
            "openapi": "3.1.0",
            "info": {"title": f"filefleet {self.service}", "version": __version__},
            "paths": paths,
            "components": {
                "schemas": schemas,
                "securitySchemes": {
                    "bearer": {"type": "http", "scheme": "bearer"},
                    "basic": {"type": "http", "scheme": "basic"},
                },
            },
        }


def canonical_path(path: str) -> str:
    """A route's path without the patterns of its variables: ``/download/{id}/{n:\\d+}``
    is ``/download/{id}/{n}``, as aiohttp names the resource."""
    return re.sub(r"\{(\w+):[^{}]*\}", r"{\1}", path)


def error_response(status: int, message: str, code: str | None = None) -> web.Response:
    body = {"error": message} if code is None else {"error": message, "code": code}
    return web.json_response(body, status=status)


def too_many_tries(exc: TooManyTries) -> web.Response:
    """429 with ``Retry-After``, and the seconds in the body too (for clients to read)."""
    body = {"error": exc.message, "code": exc.code, "retry_after": exc.retry_after}
    headers = {"Retry-After": str(exc.retry_after)}
    return web.json_response(body, status=exc.status, headers=headers)


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    rid = request.headers.get("X-Request-Id") or uuid.uuid4().hex[:16]
    token = request_id.set(rid[:64])
    try:
        response = await handler(request)
        response.headers.setdefault("X-Request-Id", rid[:64])
        return response
    finally:
        request_id.reset(token)


def route_template(request: web.Request) -> str | None:
    """The template of the route that took the request (``/download/{id}``); None if none
    did (the router answers 404 or 405)."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else None


def _observe_middleware(metrics: Metrics, events: Mapping[tuple[str, str], str]) -> Any:
    """Count and time every request by its route's template; write the access line of an
    access-logged route; answer a client that went away without a traceback."""

    @web.middleware
    async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        route = route_template(request)
        event = events.get((request.method, route or ""))  # a HEAD moves no file: no line
        record = access.begin(request, event) if event is not None else None
        status = 500  # unless an answer or a known end says otherwise
        try:
            response = await handler(request)
            status = response.status
            return response
        except ConnectionError:  # reset or lost: the client's; calls we make translate theirs
            status = 499  # never sent: there is nobody to send it to
            access.note(request, gone=True)
            if record is None:
                log.debug("%s %s: the client went away", request.method, request.path)
            return web.Response(status=status)
        except asyncio.CancelledError:  # the client left (handler_cancellation), or shutdown
            status = 499
            access.note(request, gone=True)
            raise
        except web.HTTPException as exc:  # a redirect (error_middleware answers the rest)
            status = exc.status
            raise
        finally:
            seconds = time.perf_counter() - started
            metrics.observe_request(request.method, route or UNMATCHED, status, seconds)
            if record is not None:
                metrics.count_event(
                    record.event, access.write_line(request, record, status, seconds)
                )

    return observe


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except FilefleetError as exc:
        if exc.status >= 500:
            log.warning("%s %s -> %d: %s", request.method, request.path, exc.status, exc.message)
        if isinstance(exc, TooManyTries):
            return too_many_tries(exc)
        return error_response(exc.status, exc.message, exc.code)
    except ValidationError as exc:
        return error_response(400, describe_validation_error(exc))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(exc.status, exc.reason or f"HTTP {exc.status}")
    except ConnectionError:
        raise  # the client went away: the observing middleware says so
    except Exception:
        log.exception("unexpected error in %s %s", request.method, request.path)
        return error_response(500, "internal error (see the service's log)")


def basic_auth_password(header: str) -> bytes:
    """The password of ``Authorization: Basic base64(user:password)``; b"" if none."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return b""
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except ValueError:
        return b""
    return decoded.partition(b":")[2]


def _basic_challenge() -> web.Response:
    return web.json_response(
        {"error": "missing or wrong cluster secret (HTTP basic auth, password = the secret)"},
        status=401,
        headers={"WWW-Authenticate": 'Basic realm="filefleet", charset="UTF-8"'},
    )


def _auth_middleware(
    secret: str | None,
    public: frozenset[tuple[str, str]],
    basic: frozenset[tuple[str, str]] = frozenset(),
) -> Any:
    expected = f"Bearer {secret}".encode() if secret else None

    @web.middleware
    async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = route_template(request)
        # No route took it: the router answers 404 or 405, and reads nothing.
        if expected is None or path is None:
            return await handler(request)
        method = "GET" if request.method == "HEAD" else request.method
        if (method, path) in public or path in {"/healthz", "/openapi.json"}:
            return await handler(request)
        if (method, path) in basic:
            given_password = basic_auth_password(request.headers.get("Authorization", ""))
            if not hmac.compare_digest(given_password, (secret or "").encode()):
                return _basic_challenge()
            return await handler(request)
        given = request.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            raise Unauthorized("missing or wrong cluster secret (Authorization: Bearer ...)")
        return await handler(request)

    return auth


def make_app(
    api: Api,
    *,
    service_id: str,
    secret: str | None,
    client_max_size: int = 1024**2,
) -> web.Application:
    """An aiohttp app serving ``api`` plus ``/healthz``, ``/openapi.json`` and ``/metrics``
    (the last behind the secret even where every route of ``api`` is public)."""
    metrics = Metrics(api.service, events=api.access_events.values())
    app = web.Application(
        middlewares=[
            request_id_middleware,
            _observe_middleware(metrics, dict(api.access_events)),
            error_middleware,
            _auth_middleware(secret, api.public_paths(), frozenset(api.basic_auth_paths)),
        ],
        client_max_size=client_max_size,
    )
    app[METRICS] = metrics
    health = Health(service=api.service, id=service_id, version=__version__).model_dump()
    document = api.openapi()

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response(health)

    async def openapi(_: web.Request) -> web.Response:
        return web.json_response(document)

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/openapi.json", openapi)
    app.router.add_get("/metrics", metrics_handler)
    app.add_routes(api.routes)
    for prefix, directory in api.statics.items():
        app.router.add_static(prefix, directory)
    return app


def describe_validation_error(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ())) or "body"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(parts)


async def read_model(request: web.Request, model: type[M]) -> M:
    """The JSON body parsed into ``model``; 400 with a message when it does not fit."""
    raw = await request.read()
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise InvalidInput(f"request body is not valid JSON: {exc}") from exc
    return model.model_validate(data)


def json_model(model: BaseModel | list[Any], status: int = 200) -> web.Response:
    """A JSON response from a model (or a list of models), times as RFC 3339 strings."""
    if isinstance(model, BaseModel):
        text = model.model_dump_json()
    else:
        text = "[" + ",".join(m.model_dump_json() for m in model) + "]"
    return web.Response(text=text, status=status, content_type="application/json")
