"""The sandbox's ASGI application: the per-request pipeline, the admin endpoints, request ids and drops.

Every API request goes through: auth (401) -> rate limits (429) -> error hooks -> latency -> faults drawn
before the operation (``burst_429``, ``fail_before``) -> the operation -> faults after it (``drop_after``,
``fail_after``, ``slow``). ``/health``, ``/_sandbox/*`` and ``/_emulate/*`` skip all of that. Request bodies
are never logged. Every response carries ``X-Request-ID`` (the caller's, or a new ``req_…``).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Awaitable, Callable, MutableMapping
from email.utils import formatdate
from typing import Any

import anyio
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from core.platform import peak_rss_mib
from core.workos.sandbox.authentication import INVALID_CLIENT, client_secret
from core.workos.sandbox.faults import default_body
from core.workos.sandbox.ids import new_id
from core.workos.sandbox.problems import ApiError
from core.workos.sandbox.ratelimit import Decision, request_class
from core.workos.sandbox.routes import ROUTES, ApiRoute
from core.workos.sandbox.runtime import Sandbox

__all__ = ["ConnectionDropped", "SandboxApp", "create_app"]

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_UNAUTHORIZED = {"message": "Unauthorized", "code": "unauthorized"}
_BAD_JSON = {"message": "Problems parsing JSON", "code": "invalid_request_body"}
_DROP_KEY = "workos_sandbox.drop"


class ConnectionDropped(Exception):
    """Raised instead of dropping when the server does not expose its transport (e.g. an in-process ASGI
    transport); under uvicorn the connection is closed without a response instead."""


class _Dropped(Response):
    """A response that closes the connection instead of answering."""

    def __init__(self) -> None:
        super().__init__(status_code=500)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await scope[_DROP_KEY]()


def _bearer(header: str | None) -> str | None:
    if header is None or header[:7].lower() != "bearer ":
        return None
    return header[7:].strip()


def _limit_headers(decision: Decision | None) -> dict[str, str]:
    if decision is None:
        return {}
    return {
        "X-RateLimit-Limit": str(decision.limit),
        "X-RateLimit-Remaining": str(decision.remaining),
        "X-RateLimit-Reset": str(decision.reset_epoch),
    }


def _retry_after(sandbox: Sandbox, wait_s: float, headers: dict[str, str]) -> None:
    style = sandbox.config.retry_after_style
    if style == "seconds":
        headers["Retry-After"] = str(max(1, math.ceil(wait_s)))
    elif style == "http_date":
        headers["Retry-After"] = formatdate(time.time() + max(1.0, wait_s), usegmt=True)


def _rate_limited(sandbox: Sandbox, wait_s: float, headers: dict[str, str]) -> Response:
    config = sandbox.config
    _retry_after(sandbox, wait_s, headers)
    if config.rate_limit_body == "string":
        return JSONResponse("Ratelimited", 429, headers)
    if config.rate_limit_body == "text":
        return PlainTextResponse("Too Many Requests", 429, headers)
    return JSONResponse(default_body(429), 429, headers)


def _respond(status: int, payload: Any, headers: dict[str, str]) -> Response:
    if payload is None:
        return Response(status_code=status, headers=headers)
    return JSONResponse(payload, status, headers)


async def _read_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, _BAD_JSON) from exc
    if not isinstance(body, dict):
        raise ApiError(
            422, {"message": "The request body must be a JSON object.", "code": "invalid_request_parameters"}
        )
    return body


def _api_endpoint(sandbox: Sandbox, route: ApiRoute) -> Callable[[Request], Awaitable[Response]]:
    route_key = f"{route.method} {route.path}"
    method, operation, writes = route.method, route.operation, route.writes

    async def endpoint(request: Request) -> Response:
        stats, path = sandbox.stats, request.scope["path"]
        owner = ""
        if route.client_auth:
            try:
                sent = await _read_body(request)
            except ApiError as exc:
                stats.record(route_key, exc.status)
                return JSONResponse(exc.body, exc.status)
            key = client_secret(sent)
            if key is None or not sandbox.authorized(key):
                stats.record(route_key, 401)
                return JSONResponse(INVALID_CLIENT, 401)
            owner = str(sent.get("email", "")).strip().lower()
        else:
            key = _bearer(request.headers.get("authorization"))
            if key is None or not sandbox.authorized(key):
                stats.record(route_key, 401)
                return JSONResponse(_UNAUTHORIZED, 401)
        decision = sandbox.limiter.admit(request_class(method, path), key, owner)
        headers = _limit_headers(decision)
        if decision is not None and not decision.allowed:
            stats.record(route_key, 429)
            return _rate_limited(sandbox, decision.retry_after_s, headers)
        hooked = sandbox.hooks.match(method, path)
        if hooked is not None:
            stats.record(route_key, hooked[0])
            if hooked[0] == 429:  # as WorkOS's own 429s: with a Retry-After (burst_retry_after_s)
                _retry_after(sandbox, sandbox.config.burst_retry_after_s, headers)
            return JSONResponse(hooked[1], hooked[0], headers)
        delay = sandbox.faults.latency_s()
        if delay:
            await anyio.sleep(delay)
        fired = sandbox.faults.draw(method, path)
        config = sandbox.config
        if "burst_429" in fired:
            stats.record(route_key, 429)
            return _rate_limited(sandbox, config.burst_retry_after_s, headers)
        if "fail_before" in fired:
            stats.record(route_key, config.fault_status)
            return JSONResponse(default_body(config.fault_status), config.fault_status, headers)
        try:
            body = await _read_body(request) if method in ("POST", "PUT") else {}
            status, payload = operation(sandbox, request.path_params, request.query_params, body)
        except ApiError as exc:
            status, payload = exc.status, exc.body
        except ClientDisconnect:
            # The client went away before its body arrived (a killed importer): nothing was written.
            stats.record(route_key, None)
            return Response(status_code=499, headers=headers)
        wrote = writes and status < 300
        if "drop_after" in fired:
            stats.record(route_key, None, wrote=wrote)
            return _Dropped()
        if "fail_after" in fired:
            stats.record(route_key, config.fault_status, wrote=wrote)
            return JSONResponse(default_body(config.fault_status), config.fault_status, headers)
        if "slow" in fired:
            await anyio.sleep(config.slow_ms / 1000)
        stats.record(route_key, status, wrote=wrote)
        return _respond(status, payload, headers)

    return endpoint


def _admin_routes(sandbox: Sandbox) -> list[Route]:
    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def reset(request: Request) -> Response:
        sandbox.reset()
        return JSONResponse({"status": "reset", "objects": sandbox.state.counts()})

    async def stats(request: Request) -> Response:
        process = {
            "cpu_s": round(time.process_time(), 4),
            "peak_rss_mib": round(peak_rss_mib(), 1),
        }
        return JSONResponse({**sandbox.stats.snapshot(), "objects": sandbox.state.counts(), "process": process})

    async def state(request: Request) -> Response:
        return JSONResponse(sandbox.state.dump())

    async def get_config(request: Request) -> Response:
        return JSONResponse(sandbox.config.model_dump(mode="json"))

    async def put_config(request: Request) -> Response:
        try:
            changes = await _read_body(request)
            config = sandbox.configure(changes)
        except ApiError as exc:
            return JSONResponse(exc.body, exc.status)
        except ValidationError as exc:
            errors = [{"field": ".".join(map(str, e["loc"])), "message": e["msg"]} for e in exc.errors()]
            return JSONResponse({"message": "Invalid configuration.", "code": "invalid_config", "errors": errors}, 422)
        return JSONResponse(config.model_dump(mode="json"))

    async def list_hooks(request: Request) -> Response:
        return JSONResponse(sandbox.hooks.list())

    async def add_hook(request: Request) -> Response:
        try:
            raw = await request.body()
            hook = sandbox.hooks.add(json.loads(raw) if raw.strip() else {})
        except ValueError:
            return JSONResponse(_BAD_JSON, 400)
        except ApiError as exc:
            return JSONResponse(exc.body, exc.status)
        return JSONResponse(hook, 201)

    async def delete_hook(request: Request) -> Response:
        if sandbox.hooks.remove(request.path_params["hook_id"]):
            return Response(status_code=204)
        return JSONResponse({"message": "Hook not found", "code": "not_found"}, 404)

    return [
        Route("/health", health, methods=["GET"]),
        Route("/_sandbox/reset", reset, methods=["POST"]),
        Route("/_sandbox/stats", stats, methods=["GET"]),
        Route("/_sandbox/state", state, methods=["GET"]),
        Route("/_sandbox/config", get_config, methods=["GET"]),
        Route("/_sandbox/config", put_config, methods=["PUT"]),
        Route("/_emulate/hooks", list_hooks, methods=["GET"]),
        Route("/_emulate/hooks", add_hook, methods=["POST"]),
        Route("/_emulate/hooks/{hook_id}", delete_hook, methods=["DELETE"]),
    ]


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    message = "Not Found" if status == 404 else "Method Not Allowed" if status == 405 else "Error"
    return JSONResponse({"message": message, "code": "not_found" if status == 404 else "error"}, status)


class SandboxApp:
    """The ASGI callable: adds ``X-Request-ID`` to every response and lets routes drop the connection.

    ``sandbox`` is the live ``Sandbox``; tests may use it directly when running in-process.
    """

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        routes = _admin_routes(sandbox) + [
            Route(route.path, _api_endpoint(sandbox, route), methods=[route.method]) for route in ROUTES
        ]
        self._app = Starlette(routes=routes, exception_handlers={HTTPException: _http_error})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        request_id = next((v for k, v in scope["headers"] if k == b"x-request-id"), None) or new_id("req").encode()
        id_header = (b"x-request-id", request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), id_header]}
            await send(message)

        async def drop() -> None:
            await _close_transport(send)

        scope[_DROP_KEY] = drop
        await self._app(scope, receive, send_with_id)


async def _close_transport(send: Send) -> None:
    """Close the connection under the server's feet, so the client gets no response at all.

    uvicorn's ``send`` is a bound method of its request cycle, which holds the transport; once the
    connection is lost uvicorn marks the cycle disconnected and sends nothing more.
    """
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise ConnectionDropped("drop_after: this server does not expose its transport")
    transport.close()
    for _ in range(100):
        if getattr(cycle, "disconnected", True):
            return
        await anyio.sleep(0)
    logger.warning("drop_after: the server did not notice the closed connection")


def create_app(sandbox: Sandbox | None = None) -> SandboxApp:
    """The ASGI app serving ``sandbox`` (a fresh default ``Sandbox`` when None)."""
    return SandboxApp(sandbox or Sandbox())
