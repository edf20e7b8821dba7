"""Sustained create-user rate of the WorkOS sandbox, with no limits and no latency, from a separate process.

Starts ``python -m core.workos.sandbox`` as a child (so the sandbox has its own core), then drives it with
concurrent httpx2 tasks: first ``GET /health`` (the baseline: uvicorn + routing, no API pipeline), then
``POST /user_management/users`` with unique emails. Prints requests per second for each (bounded by the
client when it is the busier process), their ratio, the sandbox's own CPU time per request (its capacity
per core), and the peak RSS of the sandbox child and of this client process.

    .venv/bin/python bench/sandbox_bench.py [--requests 6000] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import json
import time
from functools import partial

import anyio
import httpx2

from core.platform import peak_rss_mib
from core.workos.sandbox import spawned_sandbox


async def drive(url: str, api_key: str, *, path: str, requests: int, concurrency: int, create: bool) -> float:
    """Send ``requests`` requests from ``concurrency`` tasks; return requests per second (all must succeed)."""
    limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Authorization": f"Bearer {api_key}"}
    counter = iter(range(requests))
    failures = 0

    async def worker(client: httpx2.AsyncClient) -> None:
        nonlocal failures
        for n in counter:
            if create:
                response = await client.post(path, json={"email": f"bench{n}-{time.monotonic_ns()}@example.com"})
            else:
                response = await client.get(path)
            failures += response.status_code >= 300

    async with httpx2.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=30) as client:
        started = time.perf_counter()
        async with anyio.create_task_group() as group:
            for _ in range(concurrency):
                group.start_soon(worker, client)
        elapsed = time.perf_counter() - started
    if failures:
        raise SystemExit(f"{failures} requests to {path} failed")
    return requests / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    config = {"write_limit": 0, "read_limit": 0, "global_limit": 0}
    print(f"requests per run          {args.requests} at concurrency {args.concurrency}")
    with spawned_sandbox(["--config", json.dumps(config)]) as sandbox:
        rates = {}
        for label, path, create in (
            ("GET /health (baseline)", "/health", False),
            ("POST create user", "/user_management/users", True),
        ):
            cpu_before, client_before = sandbox.stats()["process"]["cpu_s"], time.process_time()
            run = partial(
                drive, sandbox.url, sandbox.api_key, path=path, create=create, requests=args.requests,
                concurrency=args.concurrency,
            )  # fmt: skip
            rates[label] = rate = anyio.run(run)
            server_ms = (sandbox.stats()["process"]["cpu_s"] - cpu_before) / args.requests * 1000
            client_ms = (time.process_time() - client_before) / args.requests * 1000
            print(f"{label:<25} {rate:6.0f} req/s  CPU/request: sandbox {server_ms:.3f} ms, client {client_ms:.3f} ms")
        stats = sandbox.stats()
    print(f"create / baseline rate    {rates['POST create user'] / rates['GET /health (baseline)']:.2f}")
    print(f"sandbox create capacity   {1000 / server_ms:6.0f} req/s per core (1 / its CPU per create)")
    print(f"users stored              {stats['objects']['users']}")
    print(f"peak RSS sandbox child    {stats['process']['peak_rss_mib']:6.1f} MiB")
    print(f"peak RSS client           {peak_rss_mib():6.1f} MiB")


if __name__ == "__main__":
    main()
