"""Injected failures: the emulator-compatible error hooks and the seeded probabilistic faults and latency.

Hooks (``/_emulate/hooks``) answer a fixed status for matching requests, before anything else happens, as
many times as their ``count`` says (forever without one). Faults fire at random with a per-route rate from
a seedable RNG, so a seed replays the same sequence for the same sequence of requests.
"""

from __future__ import annotations

import random
import secrets
from typing import Any

from core.workos.sandbox.config import SandboxConfig
from core.workos.sandbox.problems import ApiError

__all__ = ["ErrorHooks", "FaultInjector", "route_matches"]

_DEFAULT_BODIES = {
    400: ("Bad Request", "bad_request"),
    401: ("Unauthorized", "unauthorized"),
    403: ("Forbidden", "forbidden"),
    404: ("Not Found", "not_found"),
    409: ("Conflict", "conflict"),
    422: ("Unprocessable Entity", "unprocessable_entity"),
    429: ("Too Many Requests", "rate_limit_exceeded"),
    500: ("Internal Server Error", "server_error"),
    503: ("Service Unavailable", "service_unavailable"),
}


def default_body(status: int) -> dict[str, str]:
    """The emulator's body for a hook (or fault) that gave none."""
    message, code = _DEFAULT_BODIES.get(status, (f"Error {status}", "error"))
    return {"message": message, "code": code}


def _path_matches(pattern: str, path: str) -> bool:
    if pattern == "*":
        return True
    if pattern.endswith("/*"):
        prefix = pattern[:-2]
        return path == prefix or path.startswith(prefix + "/")
    return pattern == path


def route_matches(route: str, method: str, path: str) -> bool:
    """True when ``"METHOD PATH"`` (or a bare ``PATH``, any method) matches the request."""
    pattern_method, _, pattern_path = route.strip().rpartition(" ")
    pattern_method = pattern_method.strip() or "*"
    return (pattern_method == "*" or pattern_method.upper() == method) and _path_matches(pattern_path, path)


class ErrorHooks:
    """Hooks in insertion order; the first match wins and spends one of its ``count``."""

    def __init__(self) -> None:
        self._hooks: list[dict[str, Any]] = []

    def add(self, data: Any) -> dict[str, Any]:
        """Validate and store a hook; 400 like the emulator when method, path or status is missing or bad."""
        if not isinstance(data, dict) or not all(data.get(k) not in (None, "") for k in ("method", "path", "status")):
            raise ApiError(400, {"message": "method, path, and status are required", "code": "bad_request"})
        status, count = data["status"], data.get("count")
        if not isinstance(status, int) or not 100 <= status <= 599:
            raise ApiError(400, {"message": "status must be an integer from 100 to 599", "code": "bad_request"})
        if count is not None and (not isinstance(count, int) or count < 0):
            raise ApiError(400, {"message": "count must be a non-negative integer", "code": "bad_request"})
        hook: dict[str, Any] = {
            "id": f"hook_{secrets.token_hex(6)}",
            "method": str(data["method"]),
            "path": str(data["path"]),
            "status": status,
            "body": data.get("body"),
            "count": count,
        }
        self._hooks.append(hook)
        return hook

    def list(self) -> list[dict[str, Any]]:
        return list(self._hooks)

    def remove(self, hook_id: str) -> bool:
        for index, hook in enumerate(self._hooks):
            if hook["id"] == hook_id:
                del self._hooks[index]
                return True
        return False

    def match(self, method: str, path: str) -> tuple[int, Any] | None:
        """The status and body to answer, spending one use of the first matching hook; None if none."""
        for index, hook in enumerate(self._hooks):
            if route_matches(f"{hook['method']} {hook['path']}", method, path):
                if hook["count"] is not None:
                    hook["count"] -= 1
                    if hook["count"] <= 0:
                        del self._hooks[index]
                body = hook["body"] if hook["body"] is not None else default_body(hook["status"])
                return hook["status"], body
        return None


class FaultInjector:
    """Draws which faults fire for a request, and its injected latency, from seeded RNGs."""

    def __init__(self, config: SandboxConfig) -> None:
        seed = config.fault_seed if config.fault_seed is not None else secrets.randbits(64)
        self._faults = config.faults
        self._faults_rng = random.Random(seed)
        self._jitter_rng = random.Random(seed + 1)
        self._latency_s = config.latency_ms / 1000
        self._jitter_s = config.jitter_ms / 1000

    def draw(self, method: str, path: str) -> frozenset[str]:
        """The kinds that fire for this request (one draw per matching fault, fired or not)."""
        if not self._faults:
            return frozenset()
        fired = set()
        for fault in self._faults:
            if route_matches(fault.route, method, path) and self._faults_rng.random() < fault.rate:
                fired.add(fault.kind)
        return frozenset(fired)

    def latency_s(self) -> float:
        """Fixed latency plus uniform jitter, in seconds."""
        if self._jitter_s:
            return self._latency_s + self._jitter_rng.uniform(0, self._jitter_s)
        return self._latency_s
