"""Virtual time for tests of the limiter and the client's retries: sleeps cost no real time.

``VirtualClock`` is passed to ``RateLimiter(clock=..., sleep=..., wall_clock=...)``. ``drive(main)`` runs
``main`` and, each time every other task is blocked, jumps the clock to the earliest pending sleep and
wakes it, so concurrent tasks see the times they would see in real life, in the right order.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio
import anyio.lowlevel

T = TypeVar("T")

WALL_OFFSET = 1_800_000_000.0


class VirtualClock:
    """A monotonic clock, a wall clock ``WALL_OFFSET`` ahead of it, and a sleep that only ``drive`` ends."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.slept: list[float] = []
        self._sleepers: list[tuple[float, int, anyio.Event]] = []
        self._order = itertools.count()

    def __call__(self) -> float:
        return self.now

    def wall(self) -> float:
        return self.now + WALL_OFFSET

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        if seconds <= 0:
            await anyio.lowlevel.checkpoint()
            return
        event = anyio.Event()
        heapq.heappush(self._sleepers, (self.now + seconds, next(self._order), event))
        await event.wait()

    async def drive(self, main: Callable[[], Awaitable[T]]) -> T:
        """Run ``main`` to completion in virtual time; return its result or raise its exception."""
        result: list[T] = []
        failure: list[BaseException] = []
        done = anyio.Event()

        async def run_main() -> None:
            try:
                result.append(await main())
            except Exception as exc:
                failure.append(exc)
            finally:
                done.set()

        async with anyio.create_task_group() as group:
            group.start_soon(run_main)
            while not done.is_set():
                await _settle()
                if done.is_set():
                    break
                if not self._sleepers:
                    raise RuntimeError("every task is blocked and none is sleeping: deadlock")
                deadline, _, event = heapq.heappop(self._sleepers)
                self.now = max(self.now, deadline)
                event.set()
        if failure:
            raise failure[0]
        return result[0]


async def _settle() -> None:
    """Yield until every other task is blocked on something (a sleep, an event, a lock) and no callback
    that could wake one is pending."""
    me = asyncio.current_task()
    loop = asyncio.get_running_loop()
    for _ in range(10_000):
        await asyncio.sleep(0)
        if not loop._ready and all(  # type: ignore[attr-defined]
            task is me or task.done() or (task._fut_waiter is not None and not task._fut_waiter.done())  # type: ignore[attr-defined]
            for task in asyncio.all_tasks()
        ):
            return
    raise RuntimeError("tasks kept running without blocking")
