"""Benchmark of the import engine against the sandbox running in a child process.

Prints:
1. ceiling: with a sandbox write limit of 200/s (2,000 per 10 s), 50 ms latency and concurrency 20, the users
   per second achieved on 3,000 users with one membership each, as a fraction of the ceiling (two writes
   per user, so 100 users/s). Target at least 0.95.
2. CPU: client CPU milliseconds per imported user with membership against an unlimited sandbox
   (``time.process_time()`` of this process only), and the same for a bare httpx2 loop sending the same two
   requests per user, as the baseline ratio. Target at most 1.5 ms.
3. memory: peak RSS of a whole import process for 20,000 and 200,000 user-only rows (each in a fresh child
   process), to show it is flat in the row count. Target at most 150 MB.
4. resume: time from ``resume`` to the first request on a 200,000-row job that is 99% done. Target < 1 s.

Run: ``.venv/bin/python bench/import_bench.py [--quick]`` (``--quick`` uses smaller sizes).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio
import httpx2

from core.engine import RunStats, execute_job, prepare_job, start_resume
from core.options import MigrationOptions
from core.platform import peak_rss_mib
from core.store import JobStore, RowOutcome, RowState
from core.workos.sandbox import SandboxHandle, spawned_sandbox

API_KEY = "sk_test_bench"
FAST = {"rate_limit": 1e4, "read_rate_limit": 1e5, "global_rate_limit": 1e5}


def sandbox_args(**config: float) -> list[str]:
    """Arguments of ``python -m core.workos.sandbox``: no limits unless given."""
    return ["--config", json.dumps({"write_limit": 0, "read_limit": 0, "global_limit": 0, **config})]


def write_csv(path: Path, rows: int, *, org: bool) -> Path:
    with path.open("w", encoding="utf-8") as out:
        out.write("email,first_name,last_name" + (",org_external_id,org_name\n" if org else "\n"))
        for i in range(rows):
            out.write(f"user{i}@example.com,First{i},Last{i}" + (",bench-org,Bench Org\n" if org else "\n"))
    return path


def options(csv_path: Path, work: Path, handle: SandboxHandle, **values: object) -> MigrationOptions:
    return MigrationOptions.build(
        csv_path=csv_path, checkpoint_dir=work / "checkpoints", base_url=handle.url, create_org_if_missing=True,
        **values,
    )  # fmt: skip


async def run(opts: MigrationOptions, stats: RunStats | None = None) -> float:
    store = JobStore.open(opts.checkpoint_dir)
    job = prepare_job(store, opts)
    started = time.monotonic()
    result = await execute_job(store, job.id, api_key=API_KEY, stats=stats)
    assert result.failed == 0, result
    return time.monotonic() - started


def ceiling(work: Path, users: int) -> None:
    args = sandbox_args(write_limit=2000, latency_ms=50)
    with spawned_sandbox(args, api_key=API_KEY) as handle:
        csv_path = write_csv(work / "ceiling.csv", users, org=True)
        opts = options(csv_path, work, handle, concurrency=20, rate_limit=200, read_rate_limit=1e4,
                       global_rate_limit=1e4)  # fmt: skip
        seconds = anyio.run(run, opts)
        stats = handle.stats()["totals"]
    rate = users / seconds
    print(f"1. ceiling: {users:,} users with memberships in {seconds:.1f} s = {rate:.1f} users/s;"
          f" ceiling 100 users/s -> fraction {rate / 100:.3f} (target >= 0.95); 429s: {stats['429']}")  # fmt: skip


async def bare_baseline(handle: SandboxHandle, users: int, concurrency: int) -> float:
    """CPU seconds of a bare httpx2 loop sending one create-user and one membership per user."""
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with httpx2.AsyncClient(base_url=handle.url, headers=headers) as http:
        org = (await http.post("/organizations", json={"name": "Base", "external_id": "base-org"})).json()
        queue = iter(range(users))

        async def worker() -> None:
            for i in queue:
                user = (await http.post("/user_management/users", json={"email": f"base{i}@example.com"})).json()
                await http.post(
                    "/user_management/organization_memberships",
                    json={"user_id": user["id"], "organization_id": org["id"]},
                )

        started = time.process_time()
        async with anyio.create_task_group() as tasks:
            for _ in range(concurrency):
                tasks.start_soon(worker)
        return time.process_time() - started


def cpu(work: Path, users: int) -> None:
    args = sandbox_args()
    with spawned_sandbox(args, api_key=API_KEY) as handle:
        csv_path = write_csv(work / "cpu.csv", users, org=True)
        opts = options(csv_path, work, handle, concurrency=20, chunk_size=1000, **FAST)
        started = time.process_time()
        anyio.run(run, opts)
        engine = time.process_time() - started
        handle.reset()
        bare = anyio.run(bare_baseline, handle, users, 20)
    per_user, bare_per_user = 1000 * engine / users, 1000 * bare / users
    print(
        f"2. CPU: {per_user:.2f} ms per imported user with membership (target <= 1.5);"
        f" bare httpx2 sending the same 2 requests: {bare_per_user:.2f} ms; ratio {per_user / bare_per_user:.2f}"
    )


def memory(work: Path, sizes: list[int]) -> None:
    args = sandbox_args()
    for rows in sizes:
        with spawned_sandbox(args, api_key=API_KEY) as handle:
            csv_path = write_csv(work / f"mem-{rows}.csv", rows, org=False)
            child = subprocess.run(
                [sys.executable, __file__, "--memory-child", str(csv_path), str(work / f"mem-{rows}"), handle.url],
                check=True, capture_output=True, text=True,
            )  # fmt: skip
        figures = json.loads(child.stdout.strip().splitlines()[-1])
        rate = rows / figures["seconds"]
        print(f"3. memory: {rows:,} rows imported in {figures['seconds']:.0f} s ({rate:.0f} rows/s),"
              f" peak RSS {figures['rss_mb']:.1f} MB (target <= 150)")  # fmt: skip


def memory_child(csv_path: str, work: str, url: str) -> None:
    opts = MigrationOptions.build(csv_path=csv_path, checkpoint_dir=Path(work) / "checkpoints", base_url=url,
                                  concurrency=20, **FAST)  # fmt: skip
    seconds = anyio.run(run, opts)
    rss_mb = peak_rss_mib()
    print(json.dumps({"seconds": seconds, "rss_mb": rss_mb}))


def resume_latency(work: Path, rows: int) -> None:
    args = sandbox_args()
    with spawned_sandbox(args, api_key=API_KEY) as handle:
        csv_path = write_csv(work / "resume.csv", rows, org=False)
        opts = options(csv_path, work / "resume", handle, chunk_size=1000, concurrency=10, **FAST)
        store = JobStore.open(opts.checkpoint_dir)
        job = prepare_job(store, opts)
        done = rows * 99 // 100
        # 99% done: the ledger holds those rows and their chunks as finished (as a crashed run leaves them).
        batch: list[RowOutcome] = []
        for row in range(2, done + 2):
            email = f"user{row - 2}@example.com"
            batch.append(RowOutcome(row, (row - 2) // 1000, RowState.DONE, email, f"user_{row}", user_action="created"))
            if len(batch) == 10_000:
                store.record_rows(job.id, batch)
                batch = []
        store.record_rows(job.id, batch, done_chunks=range(done // 1000))
        stats = RunStats()

        async def resume() -> float:
            started = time.monotonic()
            resumed = start_resume(store, job.id)
            await execute_job(store, resumed.id, api_key=API_KEY, stats=stats)
            assert stats.first_request_at is not None
            return stats.first_request_at - started

        first = anyio.run(resume)
    print(
        f"4. resume: {first * 1000:.0f} ms from resume to the first request on a {rows:,}-row job 99% done"
        " (target < 1000 ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--memory-child", nargs=3, metavar=("CSV", "WORK", "URL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(*args.memory_child)
        return
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        ceiling(work, 600 if args.quick else 3000)
        cpu(work, 500 if args.quick else 3000)
        memory(work, [2000, 20_000] if args.quick else [20_000, 200_000])
        resume_latency(work, 20_000 if args.quick else 200_000)
    print(f"peak RSS of this process: {peak_rss_mib():.1f} MB")


if __name__ == "__main__":
    main()
