"""The shared rate limiter and the retry policy, in virtual time (no test here sleeps for real)."""

from __future__ import annotations

import bisect
import time
from datetime import UTC, datetime
from email.utils import format_datetime

import anyio
import httpx2
import pytest

from core.errors import RateLimited
from core.workos.client import WorkOSClient
from core.workos.limits import RateLimiter, RetryPolicy, parse_retry_after, request_kind
from tests.virtual_time import WALL_OFFSET, VirtualClock

pytestmark = pytest.mark.anyio

USER = {
    "id": "user_1",
    "email": "a@example.com",
    "created_at": "2026-11-30T00:00:00Z",
    "updated_at": "2026-11-30T00:00:00Z",
}


def make_limiter(clock: VirtualClock, **kwargs: object) -> RateLimiter:
    kwargs.setdefault("random", lambda: 0.0)
    kwargs.setdefault("headroom", 1.0)
    kwargs.setdefault("burst", 0.0)
    return RateLimiter(clock=clock, wall_clock=clock.wall, sleep=clock.sleep, **kwargs)  # type: ignore[arg-type]


def most_in_any_window(times: list[float], window: float) -> int:
    """The largest number of ``times`` inside any half-open interval ``[t, t + window)``."""
    ordered = sorted(round(t, 6) for t in times)
    return max(bisect.bisect_left(ordered, start + window) - index for index, start in enumerate(ordered))


async def acquire_many(limiter: RateLimiter, kind: str, tasks: int, each: int, clock: VirtualClock) -> list[float]:
    times: list[float] = []

    async def worker() -> None:
        for _ in range(each):
            await limiter.acquire(kind)  # type: ignore[arg-type]
            times.append(clock.now)

    async with anyio.create_task_group() as group:
        for _ in range(tasks):
            group.start_soon(worker)
    return times


def test_request_kind_follows_workos_limit_classes() -> None:
    assert request_kind("POST", "/user_management/users") == "write"
    assert request_kind("PUT", "/user_management/users/user_1") == "write"
    assert request_kind("DELETE", "/user_management/users/user_1") == "write"
    assert request_kind("GET", "/user_management/organization_memberships") == "read"
    assert request_kind("POST", "/organizations") == "general"
    assert request_kind("GET", "/authorization/roles") == "general"


def test_retry_after_parses_seconds_and_http_dates() -> None:
    now = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC).timestamp()
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("Mon, 30 Nov 2026 12:00:07 GMT", now=now) == 7.0
    assert parse_retry_after("Mon, 30 Nov 2026 11:59:00 GMT", now=now) == 0.0
    assert parse_retry_after("-4") == 0.0


@pytest.mark.parametrize("value", [None, "", "soon", "nan", "inf", "Mon, 30 Nov 2026 12:00:07"])
def test_unreadable_retry_after_is_ignored(value: str | None) -> None:
    assert parse_retry_after(value) is None


def test_backoff_doubles_up_to_the_cap_and_jitter_only_shortens_it() -> None:
    fixed = RetryPolicy(base=0.5, cap=3.0, jitter=0.0)
    assert [fixed.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    jittered = RetryPolicy(base=0.5, cap=3.0, jitter=1.0, random=lambda: 0.25)
    assert jittered.delay(3) == 1.5
    assert RetryPolicy(base=1.0, jitter=0.5, random=lambda: 0.999).delay(1) == pytest.approx(0.5005)


def test_backoff_honours_retry_after_up_to_its_cap() -> None:
    policy = RetryPolicy(base=0.5, max_retry_after=60.0)
    assert policy.delay(1, retry_after=12.0) == 12.0
    assert policy.delay(4, retry_after=3600.0) == 60.0


@pytest.mark.parametrize("settings", [{"attempts": 0}, {"jitter": 1.5}, {"base": -1.0}])
def test_retry_policy_rejects_impossible_settings(settings: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**settings)  # type: ignore[arg-type]


async def test_steady_client_never_exceeds_the_configured_rate_in_any_window() -> None:
    clock = VirtualClock()
    limiter = make_limiter(clock, write_rate=50.0, general_rate=1000.0)
    times = await clock.drive(lambda: acquire_many(limiter, "write", tasks=20, each=60, clock=clock))
    assert len(times) == 1200
    assert most_in_any_window(times, 1.0) == 50
    assert most_in_any_window(times, 10.0) == 500
    assert max(times) - min(times) == pytest.approx(1199 / 50)


async def test_default_headroom_and_burst_stay_under_a_servers_10_second_window() -> None:
    clock = VirtualClock()
    limiter = RateLimiter(write_rate=200.0, general_rate=1000.0, clock=clock, sleep=clock.sleep)
    times = await clock.drive(lambda: acquire_many(limiter, "write", tasks=20, each=150, clock=clock))
    assert most_in_any_window(times, 10.0) == 1960 + 10
    assert limiter.rate("write") == pytest.approx(196.0)


async def test_a_late_client_catches_up_by_at_most_the_burst() -> None:
    clock = VirtualClock()
    limiter = make_limiter(clock, write_rate=100.0, general_rate=1000.0, burst=0.05)

    async def stall_then_rush() -> list[float]:
        await limiter.acquire("write")
        await clock.sleep(2.0)
        return await acquire_many(limiter, "write", tasks=10, each=30, clock=clock)

    times = await clock.drive(stall_then_rush)
    assert sum(1 for t in times if t == times[0]) == 6
    assert most_in_any_window(times, 1.0) <= 100 + 5


async def test_every_request_also_spends_a_general_token() -> None:
    clock = VirtualClock()
    limiter = make_limiter(clock, write_rate=50.0, read_rate=50.0, general_rate=20.0)

    async def both() -> list[float]:
        times: list[float] = []
        async with anyio.create_task_group() as group:
            for kind in ("write", "read", "general"):
                group.start_soon(lambda k=kind: _extend(times, acquire_many(limiter, k, 3, 20, clock)))
        return times

    times = await clock.drive(both)
    assert len(times) == 180
    assert most_in_any_window(times, 1.0) == 20


async def _extend(target: list[float], source: object) -> None:
    target.extend(await source)  # type: ignore[misc]


async def test_one_429_pauses_every_task_until_retry_after() -> None:
    clock = VirtualClock()
    limiter = make_limiter(clock, write_rate=100.0, general_rate=1000.0)
    start = clock.now

    async def scenario() -> list[float]:
        async with anyio.create_task_group() as group:
            results: list[float] = []
            group.start_soon(lambda: _extend(results, acquire_many(limiter, "write", 10, 30, clock)))
            await clock.sleep(0.5)
            assert limiter.on_rate_limited(2.0, sent_at=clock.now) == 2.0
        return results

    times = await clock.drive(scenario)
    assert len(times) == 300
    assert not [t for t in times if start + 0.5 < t < start + 2.5]
    assert limiter.stats.waited["pause"] > 0


async def test_a_burst_of_429s_from_requests_already_in_flight_counts_as_one_overload() -> None:
    clock = VirtualClock()
    limiter = make_limiter(clock, write_rate=50.0, pause_base=1.0, decrease=0.5)
    sent = [await limiter.acquire("write") for _ in range(1)] * 20
    first = limiter.on_rate_limited(None, sent_at=sent[0])
    for sent_at in sent[1:]:
        assert limiter.on_rate_limited(None, sent_at=sent_at) == first
    assert first == 1.0
    assert limiter.rate("write") == 25.0
    assert limiter.stats.rate_limited == 20


async def test_consecutive_429s_without_retry_after_back_off_exponentially_up_to_the_cap() -> None:
    clock = VirtualClock()
    limiter = make_limiter(clock, pause_base=1.0, max_pause=6.0)

    async def scenario() -> list[float]:
        pauses = []
        for _ in range(5):
            sent_at = await limiter.acquire("write", retry=True)
            pauses.append(limiter.on_rate_limited(None, sent_at=sent_at))
        return pauses

    assert await clock.drive(scenario) == [1.0, 2.0, 4.0, 6.0, 6.0]
    sent_at = await clock.drive(lambda: limiter.acquire("write"))
    limiter.on_success("write")
    assert limiter.on_rate_limited(None, sent_at=sent_at) == 1.0


async def test_retry_after_beyond_the_cap_pauses_only_for_the_cap() -> None:
    clock = VirtualClock()
    limiter = make_limiter(clock, max_pause=60.0)
    assert limiter.on_rate_limited(86_400.0) == 60.0
    assert limiter.paused_until == pytest.approx(clock.now + 60.0)


async def test_adaptive_rate_backs_off_on_429_and_recovers_gradually_never_above_the_configured_rate() -> None:
    clock = VirtualClock()
    limiter = make_limiter(clock, write_rate=50.0, decrease=0.5, min_fraction=0.1, recovery=5.0)
    for _ in range(10):
        sent_at = await clock.drive(lambda: limiter.acquire("write"))
        limiter.on_rate_limited(0.0, sent_at=sent_at)
    assert limiter.rate("write") == 5.0
    assert limiter.rate("read") == 100.0
    limiter.on_success("write")
    assert limiter.rate("write") == pytest.approx(5.2)
    for _ in range(1000):
        limiter.on_success("write")
    assert limiter.rate("write") == 50.0


async def test_pause_reported_by_another_process_stops_this_one_without_echoing_back() -> None:
    clock = VirtualClock()
    published: list[float] = []
    limiter = make_limiter(clock, on_pause=published.append, max_pause=60.0)
    limiter.pause_until(clock.wall() + 3.0)
    assert published == []
    cleared = await clock.drive(lambda: limiter.acquire("write"))
    assert cleared == pytest.approx(clock.now)
    assert clock.now == pytest.approx(1003.0)
    limiter.pause_until(clock.wall() + 10_000.0)
    assert limiter.paused_until == pytest.approx(clock.now + 60.0)


async def test_a_local_429_publishes_its_pause_as_a_wall_clock_deadline() -> None:
    clock = VirtualClock()
    published: list[float] = []
    limiter = make_limiter(clock, on_pause=published.append)
    limiter.on_rate_limited(4.0)
    assert published == [pytest.approx(clock.now + WALL_OFFSET + 4.0)]
    limiter.on_rate_limited(1.0)
    assert len(published) == 1


async def test_counters_record_requests_retries_429s_and_time_waited_by_reason() -> None:
    clock = VirtualClock()
    limiter = make_limiter(clock, write_rate=10.0, read_rate=10.0, general_rate=100.0)

    async def scenario() -> None:
        await limiter.acquire("write")
        await limiter.acquire("write", retry=True)
        await limiter.acquire("read")
        await limiter.acquire("general")
        limiter.on_rate_limited(1.5)
        await limiter.acquire("write", retry=True)
        await limiter.backoff(0.25)

    await clock.drive(scenario)
    stats = limiter.stats
    assert stats.requests == {"write": 3, "read": 1, "general": 1}
    assert stats.retries == 2
    assert stats.rate_limited == 1
    assert stats.waited["rate"] == pytest.approx(0.12)
    assert stats.waited["pause"] == pytest.approx(1.5)
    assert stats.waited["backoff"] == pytest.approx(0.25)
    assert stats.as_counters() == {
        "retries": 2,
        "rate_limited": 1,
        "requests_write": 3,
        "requests_read": 1,
        "requests_general": 1,
        "waited_rate_s": pytest.approx(0.12),
        "waited_pause_s": pytest.approx(1.5),
        "waited_backoff_s": pytest.approx(0.25),
    }


def rate_limited_transport(answers: list[httpx2.Response]) -> tuple[httpx2.MockTransport, list[float]]:
    seen: list[float] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(0.0)
        return answers.pop(0) if len(answers) > 1 else answers[0]

    return httpx2.MockTransport(handler), seen


async def test_attempts_are_bounded_when_every_answer_is_429() -> None:
    clock = VirtualClock()
    limiter = make_limiter(clock)
    transport, seen = rate_limited_transport([httpx2.Response(429, text="Ratelimited")])
    client = WorkOSClient(api_key="sk_test_x", limiter=limiter, retry=RetryPolicy(attempts=4), transport=transport)
    with pytest.raises(RateLimited):
        await clock.drive(lambda: client.create_user(email="a@example.com"))
    assert len(seen) == 4
    stats = client.stats
    assert (stats.requests["write"], stats.retries, stats.rate_limited) == (4, 3, 4)
    assert stats.errors == {"RateLimited": 1}
    assert stats.waited["pause"] == pytest.approx(1.0 + 2.0 + 4.0)


async def test_burst_of_429s_with_retry_after_is_waited_out_then_succeeds() -> None:
    clock = VirtualClock()
    limiter = make_limiter(clock)
    answers = [httpx2.Response(429, headers={"Retry-After": "3"}, json={"code": "rate_limit_exceeded"})] * 2
    transport, seen = rate_limited_transport([*answers, httpx2.Response(201, json=USER)])
    client = WorkOSClient(api_key="sk_test_x", limiter=limiter, transport=transport)
    start = clock.now
    created = await clock.drive(lambda: client.create_user(email="a@example.com"))
    assert created.id == "user_1"
    assert len(seen) == 3
    assert clock.now - start == pytest.approx(6.0)


async def test_http_date_retry_after_pauses_every_worker() -> None:
    clock = VirtualClock()
    limiter = make_limiter(clock, write_rate=1000.0, read_rate=1000.0, general_rate=1000.0)
    retry_at = format_datetime(datetime.fromtimestamp(time.time() + 5.0, UTC), usegmt=True)
    calls: list[float] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        calls.append(clock.now)
        if len(calls) == 1:
            return httpx2.Response(429, headers={"Retry-After": retry_at})
        return httpx2.Response(200, json=USER)

    client = WorkOSClient(api_key="sk_test_x", limiter=limiter, transport=httpx2.MockTransport(handler))

    async def many() -> None:
        async with anyio.create_task_group() as group:
            for n in range(5):
                group.start_soon(client.get_user, f"user_{n}")

    await clock.drive(many)
    assert len(calls) == 6
    assert all(t >= calls[0] + 3.9 for t in calls[1:])
    assert limiter.stats.rate_limited == 1
