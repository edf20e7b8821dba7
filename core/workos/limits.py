"""Pacing for every WorkOS call of a job: token buckets per request class, a shared 429 pause, retry delays.

One ``RateLimiter`` is shared by every task of a job (each worker process gets its own with the job's
rates divided by the number of workers). Before each attempt, a request takes one token of its class
(``write``: non-GET under ``/user_management``; ``read``: GET under ``/user_management``; ``general``:
anything else) and one ``general`` token, since WorkOS counts every request against its general limit.
Requests are paced a little under the configured rate (``headroom``, 98 %), and a bucket holds only
``burst`` seconds of tokens (50 ms): enough for a late task to catch up, too few for a steady client to
put more than the configured rate into any of a server's 10 s or 60 s windows.

A 429 pauses every task, not only the one that saw it: until ``Retry-After`` (seconds or an HTTP date,
capped at ``max_pause``) or, without one, for a jittered exponential delay that grows with consecutive
429s. It also cuts that class's rate by ``decrease`` (never below ``min_fraction`` of the configured rate);
each later answer that is not a 429 adds ``1 / recovery`` requests per second back, an exponential climb
with time constant ``recovery`` seconds, never above the configured rate. 429s for requests sent before
the current pause began are echoes of the same overload: they may lengthen the pause but neither
escalate the delay nor cut the rate again.

For ``--workers``, ``on_pause`` reports each new pause as a wall-clock deadline (the engine publishes it
through the job store) and ``pause_until`` applies one another process reported.

``RetryPolicy`` decides how long to wait before a retry; which errors are retried is the client's call.
Clock, sleep and random source are injectable per object, so tests control time without a global switch.
"""

from __future__ import annotations

import logging
import math
import random as _random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Literal

import anyio
from pydantic import BaseModel, ConfigDict

__all__ = [
    "LimiterStats",
    "RateLimiter",
    "RequestKind",
    "RetryPolicy",
    "WaitReason",
    "parse_retry_after",
    "request_kind",
]

logger = logging.getLogger(__name__)

RequestKind = Literal["write", "read", "general"]
WaitReason = Literal["rate", "pause", "backoff"]

_KINDS: tuple[RequestKind, ...] = ("write", "read", "general")


def request_kind(method: str, path: str) -> RequestKind:
    """The rate-limit class of a request: ``write``/``read`` under ``/user_management``, else ``general``."""
    if path.startswith("/user_management"):
        return "read" if method.upper() == "GET" else "write"
    return "general"


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delay-seconds or an HTTP date.

    Returns None when the header is absent or unreadable; a date in the past gives 0. ``now`` is the
    wall-clock time to measure a date against (default: ``time.time()``).

    >>> parse_retry_after("2")
    2.0
    """
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many attempts a request gets and how long to wait between them.

    ``delay(attempt, retry_after)`` after failed attempt number ``attempt`` (1-based) is
    ``min(retry_after, max_retry_after)`` when the server sent ``Retry-After``, else
    ``min(cap, base * 2 ** (attempt - 1)) * (1 - jitter * U)`` with ``U`` uniform in [0, 1).
    ``jitter=1`` is "full jitter"; ``jitter=0`` is a fixed schedule (handy in tests, as is ``base=0``).
    """

    attempts: int = 5
    base: float = 0.5
    cap: float = 30.0
    jitter: float = 1.0
    max_retry_after: float = 60.0
    random: Callable[[], float] = field(default=_random.random, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError("jitter must be between 0 and 1")
        if self.base < 0 or self.cap < 0 or self.max_retry_after < 0:
            raise ValueError("base, cap and max_retry_after must not be negative")

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based), honouring ``retry_after``."""
        if retry_after is not None:
            return min(max(0.0, retry_after), self.max_retry_after)
        backoff = min(self.cap, self.base * 2.0 ** min(attempt - 1, 62))
        return backoff * (1.0 - self.jitter * self.random())


class LimiterStats(BaseModel):
    """What the limiter has seen: requests by class, retries, 429s and seconds waited by reason."""

    model_config = ConfigDict(frozen=True)

    requests: dict[RequestKind, int]
    retries: int
    rate_limited: int
    waited: dict[WaitReason, float]

    def as_counters(self) -> dict[str, float]:
        """Flat numeric counters (``retries``, ``rate_limited``, ``requests_write``, ``waited_pause_s``, ...),
        the form a job store adds up across runners."""
        counters: dict[str, float] = {"retries": self.retries, "rate_limited": self.rate_limited}
        counters.update({f"requests_{kind}": count for kind, count in self.requests.items()})
        counters.update({f"waited_{reason}_s": seconds for reason, seconds in self.waited.items()})
        return counters


class _Bucket:
    """One class's bucket as a GCRA: ``tat`` is when the next request is due at the current rate; a request
    may go up to ``burst`` seconds before it."""

    __slots__ = ("configured", "floor", "rate", "tat")

    def __init__(self, rate: float, floor: float) -> None:
        self.configured = rate
        self.floor = floor
        self.rate = rate
        self.tat = -math.inf

    @property
    def interval(self) -> float:
        return 1.0 / self.rate


class RateLimiter:
    """Token buckets per request class plus a pause shared by every task; see the module docstring.

    Rates are requests per second for this process: ``write_rate`` is the job's ``--rate-limit``
    (WorkOS: 500 per 10 s), ``read_rate`` 1,000 per 10 s and ``general_rate`` 6,000 per 60 s. Requests are
    paced at ``headroom`` times those rates: sent at exactly a server's limit, a millisecond of network
    jitter is enough to put one request too many into a window and cost a whole ``Retry-After``.
    """

    def __init__(
        self,
        *,
        write_rate: float = 50.0,
        read_rate: float = 100.0,
        general_rate: float = 100.0,
        headroom: float = 0.98,
        burst: float = 0.05,
        max_pause: float = 60.0,
        pause_base: float = 1.0,
        decrease: float = 0.7,
        min_fraction: float = 0.1,
        recovery: float = 5.0,
        on_pause: Callable[[float], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        random: Callable[[], float] = _random.random,
    ) -> None:
        rates = {"write": write_rate, "read": read_rate, "general": general_rate}
        if any(rate <= 0 for rate in rates.values()):
            raise ValueError("rates must be positive")
        if not 0.0 < headroom <= 1.0 or not 0.0 < decrease < 1.0 or not 0.0 < min_fraction <= 1.0 or recovery <= 0:
            raise ValueError("headroom, decrease and min_fraction must be fractions and recovery positive")
        self._buckets = {kind: _Bucket(rate * headroom, rate * min_fraction) for kind, rate in rates.items()}
        if burst < 0:
            raise ValueError("burst must not be negative")
        self._burst = burst
        self._decrease = decrease
        self._recovery = recovery
        self._max_pause = max_pause
        self._pause_policy = RetryPolicy(
            base=pause_base, cap=max_pause, jitter=0.5, max_retry_after=max_pause, random=random
        )
        self._on_pause = on_pause
        self._clock = clock
        self._wall_clock = wall_clock
        self._sleep = sleep
        self._paused_until = -math.inf
        self._pause_started = -math.inf
        self._epoch = 0
        self._strikes = 0
        self._requests: dict[RequestKind, int] = dict.fromkeys(_KINDS, 0)
        self._retries = 0
        self._rate_limited = 0
        self._waited: dict[WaitReason, float] = {"rate": 0.0, "pause": 0.0, "backoff": 0.0}

    def now(self) -> float:
        """The limiter's clock (monotonic seconds)."""
        return self._clock()

    def rate(self, kind: RequestKind) -> float:
        """The current (adaptive) rate of ``kind`` in requests per second."""
        return self._buckets[kind].rate

    @property
    def paused_until(self) -> float | None:
        """Monotonic deadline of the current pause, or None when not paused."""
        return self._paused_until if self._paused_until > self._clock() else None

    @property
    def stats(self) -> LimiterStats:
        """A snapshot of the counters."""
        return LimiterStats(
            requests=dict(self._requests),
            retries=self._retries,
            rate_limited=self._rate_limited,
            waited=dict(self._waited),
        )

    async def acquire(self, kind: RequestKind, *, retry: bool = False) -> float:
        """Wait until a request of ``kind`` may be sent; count it (and as a retry when ``retry``).

        Returns the clock time the request was cleared, to pass back as ``sent_at`` on a 429.
        """
        general = self._buckets["general"]
        own = self._buckets[kind]
        while True:
            now = self._clock()
            if now < self._paused_until:
                await self._wait(self._paused_until - now, "pause")
                continue
            epoch = self._epoch
            slot = max(now, own.tat - self._burst, general.tat - self._burst)
            own.tat = max(own.tat, slot) + own.interval
            if general is not own:
                general.tat = max(general.tat, slot) + general.interval
            if slot > now:
                await self._wait(slot - now, "rate")
                if epoch != self._epoch:
                    continue  # a 429 pause voided every slot handed out before it
            self._requests[kind] += 1
            if retry:
                self._retries += 1
            return self._clock()

    async def backoff(self, seconds: float) -> None:
        """Sleep before a retry that is not a 429 (which waits on the shared pause instead)."""
        if seconds > 0:
            await self._wait(seconds, "backoff")

    def on_success(self, kind: RequestKind) -> None:
        """The server answered a ``kind`` request without a 429: recover that class's rate a little."""
        self._strikes = 0
        bucket = self._buckets[kind]
        if bucket.rate < bucket.configured:
            bucket.rate = min(bucket.configured, bucket.rate + 1.0 / self._recovery)

    def on_rate_limited(
        self, retry_after: float | None, *, kind: RequestKind = "write", sent_at: float | None = None
    ) -> float:
        """A ``kind`` request got a 429: pause every task and slow ``kind`` down. Returns the pause in seconds.

        ``sent_at`` (from ``acquire``) marks a 429 for a request sent before the current pause began as an
        echo: it can lengthen the pause to honour its ``Retry-After`` but counts as no new overload.
        """
        self._rate_limited += 1
        now = self._clock()
        echo = now < self._paused_until or (sent_at is not None and sent_at < self._pause_started)
        if not echo:
            self._strikes += 1
            bucket = self._buckets[kind]
            bucket.rate = max(bucket.floor, bucket.rate * self._decrease)
        if retry_after is None and echo:
            return max(0.0, self._paused_until - now)
        delay = self._pause_policy.delay(max(1, self._strikes), retry_after)
        if self._pause(now + delay):
            if self._on_pause is not None:
                self._on_pause(self._wall_clock() + delay)
            logger.info(
                "WorkOS answered 429 (%s): every request paused for %.2f s; %s rate now %.1f/s",
                kind,
                delay,
                kind,
                self._buckets[kind].rate,
            )
        return max(0.0, self._paused_until - now)

    def pause_until(self, wall_ts: float) -> None:
        """Apply a pause another process reported, as a wall-clock (``time.time()``) deadline; capped."""
        now = self._clock()
        self._pause(now + min(max(0.0, wall_ts - self._wall_clock()), self._max_pause))

    def _pause(self, deadline: float) -> bool:
        """Extend the shared pause to ``deadline``; True when it moved. Every bucket restarts empty then,
        so the tasks that waited resume at the steady pace rather than in one burst."""
        if deadline <= self._paused_until:
            return False
        now = self._clock()
        if now >= self._paused_until:
            self._pause_started = now
        self._paused_until = deadline
        self._epoch += 1
        for bucket in self._buckets.values():
            bucket.tat = deadline + self._burst
        return True

    async def _wait(self, seconds: float, reason: WaitReason) -> None:
        start = self._clock()
        await self._sleep(seconds)
        self._waited[reason] += self._clock() - start
