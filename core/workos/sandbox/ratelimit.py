"""Sliding-window rate limits in WorkOS's classes, and the numbers for the ``X-RateLimit-*`` headers.

User-management writes and reads are counted per environment (the whole sandbox), every API request per
API key, sign-ins per email. A window of ``W`` seconds with limit ``N`` admits at most ``N`` requests in any
``W``-second span;
refused requests are not counted. The 429 answer itself is built by the app.
"""

from __future__ import annotations

import math
import time
from collections import deque
from typing import NamedTuple

from core.workos.sandbox.config import SandboxConfig

__all__ = ["Decision", "RateLimiter", "request_class"]


class Decision(NamedTuple):
    """The outcome of one admission: the tightest bucket's figures, and for a refusal how long to wait."""

    allowed: bool
    limit: int
    remaining: int
    reset_epoch: int
    retry_after_s: float


def request_class(method: str, path: str) -> str | None:
    """``auth`` for sign-ins, ``write`` or ``read`` for other user-management paths, None for everything else."""
    if not path.startswith("/user_management/"):
        return None
    if path == "/user_management/authenticate":
        return "auth"
    return "read" if method in ("GET", "HEAD") else "write"


class _Window:
    __slots__ = ("limit", "seconds", "stamps")

    def __init__(self, limit: int, seconds: float) -> None:
        self.limit = limit
        self.seconds = seconds
        self.stamps: deque[float] = deque()

    def prune(self, now: float) -> None:
        stamps, horizon = self.stamps, now - self.seconds
        while stamps and stamps[0] <= horizon:
            stamps.popleft()

    def retry_after(self, now: float) -> float:
        return self.stamps[0] + self.seconds - now


class RateLimiter:
    """Admits or refuses requests under the configured limits; a limit of 0 disables that bucket."""

    def __init__(self, config: SandboxConfig) -> None:
        self._config = config
        self._windows: dict[tuple[str, str], _Window] = {}

    def _window(self, name: str, owner: str) -> _Window | None:
        key = (name, owner)
        window = self._windows.get(key)
        if window is None:
            limit, seconds = {
                "write": (self._config.write_limit, self._config.write_window_s),
                "read": (self._config.read_limit, self._config.read_window_s),
                "global": (self._config.global_limit, self._config.global_window_s),
                "auth": (self._config.auth_limit, self._config.auth_window_s),
            }[name]
            if limit == 0:
                return None
            window = self._windows[key] = _Window(limit, seconds)
        return window

    def admit(self, request_class: str | None, api_key: str, owner: str = "") -> Decision | None:
        """Count the request if every applicable bucket has room; None when no bucket applies.

        ``owner`` scopes the class's bucket (sign-ins are limited per email); "" is the whole environment.
        """
        now = time.monotonic()
        windows = [w for w in (self._window("global", api_key),) if w is not None]
        if request_class is not None:
            scoped = self._window(request_class, owner)
            if scoped is not None:
                windows.append(scoped)
        if not windows:
            return None
        for window in windows:
            window.prune(now)
        full = [w for w in windows if len(w.stamps) >= w.limit]
        offset = time.time() - now
        if full:
            worst = max(full, key=lambda w: w.retry_after(now))
            wait = worst.retry_after(now)
            return Decision(False, worst.limit, 0, math.ceil(now + wait + offset), wait)
        for window in windows:
            window.stamps.append(now)
        tightest = min(windows, key=lambda w: w.limit - len(w.stamps))
        reset = tightest.stamps[0] + tightest.seconds
        return Decision(True, tightest.limit, tightest.limit - len(tightest.stamps), math.ceil(reset + offset), 0.0)
