"""Benchmark of the WorkOS client and rate limiter against the sandbox running in a child process.

Prints:
1. the sandbox's sustained create-user rate with no limits and no latency;
2. the client's CPU time per request (``time.process_time()`` of this process only), as a ratio against
   bare httpx2 sending the same requests, over loopback and over MockTransport (the wrapper's own cost
   without sockets), and the cost of ``model_validate_json`` per object;
3. with a sandbox write limit of 200/s (2,000 per 10 s), 50 ms latency and concurrency 20, the achieved
   write rate as a fraction of the limit, requests that failed for good, and the share answered 429;
and the peak RSS of this process.

Run: ``.venv/bin/python bench/client_bench.py [--requests N] [--paced-requests N]``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpx2

from core.errors import WorkOSError
from core.platform import peak_rss_mib
from core.workos.client import WorkOSClient
from core.workos.limits import RateLimiter
from core.workos.models import Membership, User
from core.workos.sandbox import SandboxHandle, spawned_sandbox

API_KEY = "sk_test_bench"
UNLIMITED = {"write_limit": 0, "read_limit": 0, "global_limit": 0, "latency_ms": 0.0}


def unlimited_limiter() -> RateLimiter:
    return RateLimiter(write_rate=1e9, read_rate=1e9, general_rate=1e9)


async def run_workers(count: int, concurrency: int, job: Callable[[int], Awaitable[Any]]) -> list[BaseException]:
    """Run ``job(0..count-1)`` on ``concurrency`` tasks; return the exceptions that escaped."""
    failures: list[BaseException] = []
    next_index = iter(range(count))

    async def worker() -> None:
        for index in next_index:
            try:
                await job(index)
            except WorkOSError as exc:
                failures.append(exc)

    async with anyio.create_task_group() as group:
        for _ in range(concurrency):
            group.start_soon(worker)
    return failures


async def sandbox_rate(handle: SandboxHandle, requests: int, concurrency: int) -> float:
    handle.reset()
    handle.configure(**UNLIMITED)
    async with WorkOSClient(
        api_key=API_KEY, base_url=handle.url, limiter=unlimited_limiter(), concurrency=concurrency
    ) as client:
        await run_workers(concurrency, concurrency, lambda n: client.create_user(email=f"warm{n}@example.com"))
        start = time.perf_counter()
        failures = await run_workers(requests, concurrency, lambda n: client.create_user(email=f"u{n}@example.com"))
        elapsed = time.perf_counter() - start
    if failures:
        raise RuntimeError(f"{len(failures)} requests failed: {failures[0]}")
    return requests / elapsed


async def cpu_per_request(handle: SandboxHandle, requests: int, concurrency: int) -> tuple[float, float]:
    """CPU seconds per create-user request: (bare httpx2 with json.loads, WorkOSClient)."""
    handle.reset()
    handle.configure(**UNLIMITED)
    limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx2.AsyncClient(
        base_url=handle.url, headers={"Authorization": f"Bearer {API_KEY}"}, limits=limits
    ) as bare:

        async def bare_create(n: int) -> None:
            response = await bare.post("/user_management/users", json={"email": f"b{n}@example.com"})
            response.raise_for_status()
            json.loads(response.content)

        await run_workers(concurrency, concurrency, lambda n: bare_create(-n - 1))
        start = time.process_time()
        await run_workers(requests, concurrency, bare_create)
        baseline = (time.process_time() - start) / requests
    async with WorkOSClient(
        api_key=API_KEY, base_url=handle.url, limiter=unlimited_limiter(), concurrency=concurrency
    ) as client:
        await run_workers(concurrency, concurrency, lambda n: client.create_user(email=f"cw{n}@example.com"))
        start = time.process_time()
        await run_workers(requests, concurrency, lambda n: client.create_user(email=f"c{n}@example.com"))
        ours = (time.process_time() - start) / requests
    return baseline, ours


async def in_process_cost(requests: int) -> tuple[float, float]:
    """CPU seconds per create-user over httpx2's MockTransport (no sockets): (bare httpx2, WorkOSClient)."""
    body = json.dumps(
        {
            "id": "user_01",
            "email": "a@example.com",
            "created_at": "2026-11-30T00:00:00Z",
            "updated_at": "2026-11-30T00:00:00Z",
        }
    ).encode()
    transport = httpx2.MockTransport(lambda request: httpx2.Response(201, content=body))
    async with httpx2.AsyncClient(base_url="http://sandbox.test", transport=transport) as bare:
        start = time.process_time()
        for n in range(requests):
            response = await bare.post("/user_management/users", json={"email": f"u{n}@example.com"})
            json.loads(response.content)
        baseline = (time.process_time() - start) / requests
    async with WorkOSClient(
        api_key=API_KEY, base_url="http://sandbox.test", limiter=unlimited_limiter(), transport=transport
    ) as client:
        start = time.process_time()
        for n in range(requests):
            await client.create_user(email=f"u{n}@example.com")
        ours = (time.process_time() - start) / requests
    return baseline, ours


def parse_cost() -> tuple[float, float]:
    """Microseconds of ``model_validate_json`` for a full User and a Membership with its embedded user."""
    stamp = "2026-11-30T00:00:00.000Z"
    user = {
        "object": "user", "id": "user_01JD8ZQ4XW3N5V6B7C8D9E0F1G", "email": "ada@example.com", "first_name": "Ada",
        "last_name": "Lovelace", "name": None, "profile_picture_url": None, "email_verified": True,
        "external_id": "ext-1", "metadata": {"team": "engines"}, "last_sign_in_at": None, "locale": None,
        "created_at": stamp, "updated_at": stamp,
    }  # fmt: skip
    membership = {
        "object": "organization_membership", "id": "om_01JD8ZQ4XW3N5V6B7C8D9E0F1G", "user_id": user["id"],
        "organization_id": "org_01JD8ZQ4XW3N5V6B7C8D9E0F1G", "status": "active", "directory_managed": False,
        "role": {"slug": "member"}, "roles": [{"slug": "member"}], "user": user, "custom_attributes": {},
        "created_at": stamp, "updated_at": stamp,
    }  # fmt: skip
    costs = []
    for model, raw in ((User, json.dumps(user)), (Membership, json.dumps(membership))):
        rounds = 20_000
        start = time.process_time()
        for _ in range(rounds):
            model.model_validate_json(raw)
        costs.append((time.process_time() - start) / rounds * 1e6)
    return costs[0], costs[1]


async def paced_rate(handle: SandboxHandle, requests: int) -> tuple[float, int, int, int]:
    """Achieved writes/s, permanent failures, 429 answers and requests sent, against a 200/s sandbox."""
    handle.reset()
    handle.configure(write_limit=2000, write_window_s=10.0, global_limit=0, read_limit=0, latency_ms=50.0)
    limiter = RateLimiter(write_rate=200.0, read_rate=1000.0, general_rate=1000.0)
    async with WorkOSClient(api_key=API_KEY, base_url=handle.url, limiter=limiter, concurrency=20) as client:
        start = time.perf_counter()
        failures = await run_workers(requests, 20, lambda n: client.create_user(email=f"p{n}@example.com"))
        elapsed = time.perf_counter() - start
        stats = client.stats
    done = requests - len(failures)
    return done / elapsed, len(failures), stats.rate_limited, stats.requests["write"]


async def main(requests: int, paced_requests: int) -> None:
    with spawned_sandbox(["--config", json.dumps(UNLIMITED)], api_key=API_KEY) as handle:
        rate = await sandbox_rate(handle, requests, concurrency=32)
        print(f"1. sandbox create-user rate, no limits, no latency, concurrency 32: {rate:,.0f} users/s")
        baseline, ours = await cpu_per_request(handle, requests, concurrency=20)
        print(
            f"2. client CPU per create-user request: {ours * 1e6:,.0f} us "
            f"(bare httpx2 + json.loads: {baseline * 1e6:,.0f} us; ratio {ours / baseline:.2f})"
        )
        baseline, ours = await in_process_cost(requests)
        print(
            f"   the same over MockTransport (no sockets): client {ours * 1e6:,.0f} us, "
            f"bare httpx2 {baseline * 1e6:,.0f} us; ratio {ours / baseline:.2f}"
        )
        user_us, membership_us = parse_cost()
        print(f"   model_validate_json: User {user_us:.1f} us, Membership (with embedded user) {membership_us:.1f} us")
        achieved, failed, limited, sent = await paced_rate(handle, paced_requests)
        print(
            f"3. write limit 200/s, 50 ms latency, concurrency 20, {paced_requests} users: "
            f"{achieved:.1f} writes/s = {achieved / 200:.3f} of the limit; failed for good: {failed}; "
            f"answered 429: {limited} of {sent} ({limited / sent:.2%})"
        )
    peak_mib = peak_rss_mib()
    print(f"peak RSS of the client process: {peak_mib:.0f} MiB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000, help="requests for parts 1 and 2")
    parser.add_argument("--paced-requests", type=int, default=4000, help="users created in part 3")
    args = parser.parse_args()
    anyio.run(main, args.requests, args.paced_requests)
