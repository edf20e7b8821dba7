"""Per-route request counters for ``GET /_sandbox/stats``: outcomes by status class, drops and applied writes.

A route is ``"METHOD /path/{param}"`` (the route template, so ids do not multiply keys). A 429 is counted
as ``429``, not as ``4xx``; a dropped connection as ``dropped`` only.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Stats"]

_FIELDS = ("requests", "2xx", "4xx", "429", "5xx", "other", "dropped", "writes_applied")
_REQUESTS, _2XX, _4XX, _429, _5XX, _OTHER, _DROPPED, _WRITES = range(len(_FIELDS))


class Stats:
    """Counters keyed by route."""

    def __init__(self) -> None:
        self._routes: dict[str, list[int]] = {}

    def record(self, route: str, status: int | None, *, wrote: bool = False) -> None:
        """Count one request; ``status`` None means the connection was dropped without an answer."""
        counters = self._routes.get(route)
        if counters is None:
            counters = self._routes[route] = [0] * len(_FIELDS)
        counters[_REQUESTS] += 1
        if status is None:
            counters[_DROPPED] += 1
        elif status == 429:
            counters[_429] += 1
        else:
            bucket = {2: _2XX, 4: _4XX, 5: _5XX}.get(status // 100, _OTHER)
            counters[bucket] += 1
        if wrote:
            counters[_WRITES] += 1

    def snapshot(self) -> dict[str, Any]:
        """``{"routes": {route: {field: n}}, "totals": {field: n}}``."""
        routes = {route: dict(zip(_FIELDS, counters, strict=True)) for route, counters in sorted(self._routes.items())}
        totals = {field: sum(r[field] for r in routes.values()) for field in _FIELDS}
        return {"routes": routes, "totals": totals}
