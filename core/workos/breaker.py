"""The job's circuit breaker: when answers show WorkOS, not a row, is failing, every request waits.

The client reports every answer (``record``); an *outage answer* is a 5xx, a 408, a timeout or a refused or
dropped connection. ``threshold`` consecutive outage answers of one route (``route_key``: the method and the
path with its ids replaced, such as ``POST /user_management/organization_memberships``; any other answer of
the route in between resets the count) open that route's circuit. One circuit per route: an endpoint that
fails while others answer is held on its own (the answers of the others never close it), and a whole-API
outage opens every route's circuit. While it is open every request of the route waits in ``admit``; one of
them at a time is let through
as a probe, first after ``probe_base`` seconds, then at an interval growing by ``probe_factor`` up to
``probe_cap``. The first answer that is not an outage closes the circuit and every waiting request goes on
(the limiter paces them back to the steady rate). Attempts that fail with an outage answer while any circuit is
open (their own route's or another's: a route with few calls would spend its attempts before its own circuit
opened) are the API's,
not the row's: the client marks them ``during_outage`` and neither it nor the row pipeline counts them
against a row's attempts. A circuit open longer than ``max_outage`` seconds makes ``admit`` raise
``WorkOSUnavailable``, which stops the job ``interrupted`` with every unfinished row still pending.

``on_change(open_since)`` reports each opening (wall-clock time) and closing (None), so the engine can share
the pause with other worker processes and show the outage in status. What other processes of the job see
reaches this one through ``hold`` and ``release`` (another runner probes for the job: every request waits)
and ``probe_now`` (WorkOS answered another runner: every open circuit probes at once).
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import anyio

from core.errors import ServerError, TransportError, WorkOSError, WorkOSUnavailable

__all__ = ["BreakerPolicy", "CircuitBreaker", "is_outage", "route_key", "unreachable_message"]

# A WorkOS object id (``user_01H...``, ``org_01H...``, ``om_01H...``): a prefix and 26 Crockford base32 characters.
_OBJECT_ID = re.compile(r"[a-z]+(?:_[a-z]+)*_[0-9A-Z]{26}")

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """When a circuit opens, how it probes, and how long an outage may last before the job stops."""

    threshold: int = 5
    probe_base: float = 1.0
    probe_factor: float = 1.5
    probe_cap: float = 30.0
    max_outage: float = 900.0

    def __post_init__(self) -> None:
        if self.threshold < 1 or self.probe_base <= 0 or self.probe_factor < 1 or self.probe_cap < self.probe_base:
            raise ValueError("threshold >= 1, probe_base > 0, probe_factor >= 1 and probe_cap >= probe_base")

    @classmethod
    def off(cls) -> BreakerPolicy:
        """A breaker that never opens (``--max-outage 0``): outage answers fail rows once retries are spent."""
        return cls(threshold=2**62)

    @classmethod
    def waiting(cls, max_outage: float, base: BreakerPolicy | None = None) -> BreakerPolicy:
        """``base`` (the default policy) waiting out ``max_outage`` seconds of outage; ``off()`` for 0."""
        return cls.off() if max_outage == 0 else replace(base or cls(), max_outage=max_outage)


def route_key(method: str, path: str) -> str:
    """The route a request belongs to: ids (and the value after ``external_id``) replaced by ``*``.

    >>> route_key("POST", "/user_management/users/user_01HXYZ0123456789ABCDEFGHJK/auth_factors")
    'POST /user_management/users/*/auth_factors'
    """
    segments = path.split("/")
    for index, segment in enumerate(segments):
        if _OBJECT_ID.fullmatch(segment) or (index and segments[index - 1] == "external_id"):
            segments[index] = "*"
    return f"{method.upper()} {'/'.join(segments)}"


def is_outage(error: WorkOSError) -> bool:
    """A 5xx, a 408, a timeout or a refused or dropped connection: an answer about the API, not the request."""
    return error.retryable and isinstance(error, ServerError | TransportError)


def unreachable_message(open_since: float) -> str:
    """The reason a job stopped for an outage, with the wall-clock time it began."""
    since = time.strftime("%H:%M:%S UTC", time.gmtime(open_since))
    return f"WorkOS unreachable since {since}; resume when it is back (every unfinished row is still pending)"


@dataclass(slots=True)
class _Circuit:
    consecutive: int = 0
    opened_at: float | None = None  # monotonic, while open
    open_since: float | None = None  # wall clock, while open
    interval: float = 0.0
    next_probe: float = 0.0
    probing: bool = False
    closed: anyio.Event = field(default_factory=anyio.Event)


class CircuitBreaker:
    """One circuit per route, shared by every task of a runner; see the module docstring."""

    def __init__(
        self,
        policy: BreakerPolicy | None = None,
        *,
        on_change: Callable[[float | None], None] | None = None,
    ) -> None:
        self.policy = policy or BreakerPolicy()
        self._on_change = on_change
        self._clock = time.monotonic
        self._circuits: dict[str, _Circuit] = {}
        self._outage_seconds = 0.0
        self._outage_began: float | None = None  # monotonic, while any circuit is open
        self._abandoned: str | None = None
        self._held_until = 0.0  # monotonic: another runner of the job probes for it until then (``hold``)
        self._released = anyio.Event()
        self.opened = 0

    @property
    def is_open(self) -> bool:
        """Whether any circuit is open."""
        return any(circuit.opened_at is not None for circuit in self._circuits.values())

    @property
    def open_since(self) -> float | None:
        """Wall-clock time the oldest open circuit opened, or None when every circuit is closed."""
        times = [c.open_since for c in self._circuits.values() if c.open_since is not None]
        return min(times) if times else None

    @property
    def outage_seconds(self) -> float:
        """Seconds any circuit has been open, closed outages and the current one together."""
        began = self._outage_began
        return self._outage_seconds + (self._clock() - began if began is not None else 0.0)

    def circuit_open(self, route: str) -> bool:
        """Whether ``route``'s circuit is open."""
        circuit = self._circuits.get(route)
        return circuit is not None and circuit.opened_at is not None

    async def admit(self, route: str) -> bool:
        """Wait while ``route``'s circuit is open; return True when this request goes as the probe.

        Raises ``WorkOSUnavailable`` once the circuit has been open longer than ``max_outage``.
        """
        while (held := self._held_until - self._clock()) > 0:
            if self._abandoned is not None:
                raise WorkOSUnavailable(self._abandoned)
            with anyio.move_on_after(held):
                await self._released.wait()
        circuit = self._circuits.get(route)
        if circuit is None:
            return False
        while circuit.opened_at is not None:
            if self._abandoned is not None:
                raise WorkOSUnavailable(self._abandoned)
            now = self._clock()
            if now - circuit.opened_at > self.policy.max_outage:
                assert circuit.open_since is not None
                raise WorkOSUnavailable(unreachable_message(circuit.open_since))
            if not circuit.probing and now >= circuit.next_probe:
                circuit.probing = True
                return True
            give_up = circuit.opened_at + self.policy.max_outage - now
            wait = max(0.0, min(circuit.next_probe - now if not circuit.probing else math.inf, give_up)) + 0.001
            with anyio.move_on_after(wait):
                await circuit.closed.wait()
        return False

    def record(self, route: str, *, outage: bool, probe: bool) -> None:
        """Note one answer of ``route`` (``outage`` per ``is_outage``; a success or any other error is not)."""
        circuit = self._circuits.get(route)
        if circuit is None:
            if not outage:
                return
            circuit = self._circuits[route] = _Circuit()
        if probe:
            circuit.probing = False
        now = self._clock()
        if not outage:
            circuit.consecutive = 0
            if circuit.opened_at is not None:
                self._close(route, circuit, now)
            return
        circuit.consecutive += 1
        if circuit.opened_at is None:
            if circuit.consecutive >= self.policy.threshold:
                self._open(route, circuit, now)
        elif probe:
            circuit.interval = min(self.policy.probe_cap, circuit.interval * self.policy.probe_factor)
            circuit.next_probe = now + circuit.interval

    def hold(self, seconds: float) -> None:
        """Another runner of the job probes WorkOS for it: no request of this runner goes for ``seconds`` (the
        heartbeat renews it) or until ``release``."""
        if self._held_until <= self._clock():
            self._released = anyio.Event()
        self._held_until = self._clock() + seconds

    def release(self) -> None:
        """The outage another runner probed for ended: held requests go on at once."""
        self._held_until = 0.0
        self._released.set()

    def abandon(self, reason: str) -> None:
        """The run is stopping: requests waiting on an open circuit or a hold (and later ones) raise
        ``WorkOSUnavailable`` at once, so their rows stay pending instead of waiting for WorkOS."""
        self._abandoned = reason
        self._released.set()
        for circuit in self._circuits.values():
            circuit.closed.set()

    def probe_now(self) -> None:
        """Another runner of the job saw WorkOS answer, or stopped probing for it: every open circuit lets its
        next request through as a probe at once instead of at its (growing) probe interval."""
        now = self._clock()
        for circuit in self._circuits.values():
            if circuit.opened_at is not None:
                circuit.next_probe = min(circuit.next_probe, now)
                waiting, circuit.closed = circuit.closed, anyio.Event()
                waiting.set()  # wakes the requests waiting in admit; the circuit stays open

    def release_probe(self, route: str) -> None:
        """A probe that ended without an answer (cancelled): let another request probe."""
        circuit = self._circuits.get(route)
        if circuit is not None:
            circuit.probing = False

    def _open(self, route: str, circuit: _Circuit, now: float) -> None:
        was_open = self.is_open
        if not was_open:
            self._outage_began = now
        circuit.opened_at = now
        circuit.open_since = time.time()
        circuit.interval = self.policy.probe_base
        circuit.next_probe = now + circuit.interval
        circuit.closed = anyio.Event()
        self.opened += 1
        logger.warning(
            "WorkOS looks down (%d answers in a row to %s were 5xx, timeouts or refused connections): those requests "
            "wait, probing every %.1f s or more",
            circuit.consecutive,
            route,
            circuit.interval,
        )
        if not was_open and self._on_change is not None:
            self._on_change(circuit.open_since)

    def _close(self, route: str, circuit: _Circuit, now: float) -> None:
        assert circuit.opened_at is not None
        logger.warning("WorkOS answers %s again after %.1f s: resuming", route, now - circuit.opened_at)
        circuit.opened_at = None
        circuit.open_since = None
        circuit.probing = False
        circuit.closed.set()
        if not self.is_open:
            assert self._outage_began is not None
            self._outage_seconds += now - self._outage_began
            self._outage_began = None
            if self._on_change is not None:
                self._on_change(None)
