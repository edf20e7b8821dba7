"""Benchmark of the MCP tools' response times on a large file and a large ledger (the "under 5 s" rule).

Prints, for a CSV of N rows (default 200,000) in a temporary workspace, through the in-memory MCP client:
1. plan_migration: median seconds of three calls (one pass over the file each), and as a ratio against
   core's plan() called directly (the tool's own overhead: workspace check, storing the plan, the result);
2. execute_migration: seconds until it returns (sha256 check, job record, worker start) while the file's
   setup pass then runs in the worker;
3. get_migration_status (wait_seconds=0) and the migration://jobs/{id}/errors resource on a job whose
   ledger holds N outcomes, 5% of them failures;
and the peak RSS of this process. The import itself is the engine's benchmark; the worker is cancelled.

Run: ``.venv/bin/python bench/mcp_bench.py [--rows N]``.
"""

from __future__ import annotations

import argparse
import csv
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from mcp import Client

from core.options import MigrationOptions
from core.planner import plan
from core.platform import peak_rss_mib
from core.store import ChunkSpec, JobState, JobStore, RowOutcome, RowState
from server.mcp import create_server
from server.settings import ServerSettings

BCRYPT = "$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"


def _write_csv(path: Path, rows: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "first_name", "password_hash", "password_hash_type", "org_external_id", "org_name"])
        for n in range(rows):
            writer.writerow([f"user{n}@example.com", "Ada", BCRYPT, "bcrypt", f"org{n % 100}", f"Org {n % 100}"])


def _fill_ledger(store: JobStore, csv_path: Path, rows: int) -> str:
    """A finished job of ``rows`` outcomes (5% failed), written straight to the store."""
    options = MigrationOptions.build(csv_path=csv_path, checkpoint_dir=store.directory)
    job_id = "bench-ledger"
    store.create_job(job_id, options, csv_sha256="0" * 64, plan_hash="bench")
    chunks = [ChunkSpec(i, 2 + i * 1000, 0, 1000) for i in range(rows // 1000)]
    store.add_chunks(job_id, chunks)
    store.finish_setup(job_id, total_rows=rows, invalid_rows=0, chunk_count=len(chunks))
    for chunk in chunks:
        outcomes = [
            RowOutcome(
                row=row,
                chunk=chunk.number,
                state=RowState.FAILED if row % 20 == 0 else RowState.DONE,
                email=f"user{row}@example.com",
                user_id=f"user_{row}",
                user_action="created",
                membership_action="created",
                error_phase="user" if row % 20 == 0 else None,
                error_code="outcome_unknown" if row % 20 == 0 else None,
                error_message="user creation kept failing" if row % 20 == 0 else None,
            )
            for row in range(chunk.first_row, chunk.first_row + chunk.row_count)
        ]
        store.record_rows(job_id, outcomes, done_chunks=[chunk.number])
    store.set_state(job_id, JobState.COMPLETED_WITH_ERRORS)
    return job_id


async def _timed(client: Client, name: str, arguments: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    start = time.perf_counter()
    result = await client.call_tool(name, arguments)
    elapsed = time.perf_counter() - start
    assert not result.is_error and result.structured_content is not None, result.content
    return elapsed, result.structured_content


async def _run(workspace: Path, rows: int) -> None:
    csv_path = workspace / "users.csv"
    _write_csv(csv_path, rows)
    settings = ServerSettings(
        state_dir=workspace / "state", workspace=workspace, api_key="sk_test_bench", base_url="http://127.0.0.1:9"
    )
    ledger_id = _fill_ledger(JobStore.open(settings.state_dir), csv_path, rows)

    options = MigrationOptions.build(csv_path=csv_path, checkpoint_dir=settings.state_dir, base_url=settings.base_url)
    direct_runs = []
    for _ in range(3):
        start = time.perf_counter()
        plan(options, api_key=settings.key)
        direct_runs.append(time.perf_counter() - start)
    direct = sorted(direct_runs)[1]

    async with Client(create_server(settings), mode="legacy") as client:
        plan_runs = [await _timed(client, "plan_migration", {"csv_path": csv_path.name}) for _ in range(3)]
        planned, made = sorted(plan_runs, key=lambda run: run[0])[1]
        # Over 10,000 rows: a chat-only client is refused with a confirmation code, then comes back with it.
        refusal = await client.call_tool("execute_migration", {"plan_id": made["plan_id"]})
        code = re.search(r"confirmation code ([A-Z2-7]{3}-[A-Z2-7]{3})", refusal.content[0].text)
        assert refusal.is_error and code, refusal.content
        arguments = {"plan_id": made["plan_id"], "confirmation_code": code.group(1)}
        executed, started = await _timed(client, "execute_migration", arguments)
        await client.call_tool("cancel_migration", {"job_id": started["job_id"]})
        status_seconds = []
        for _ in range(5):
            elapsed, _status = await _timed(client, "get_migration_status", {"job_id": ledger_id})
            status_seconds.append(elapsed)
        start = time.perf_counter()
        await client.read_resource(f"migration://jobs/{ledger_id}/errors")
        errors_resource = time.perf_counter() - start
        # The cancelled worker finishes its setup pass, then stops; wait before the workspace goes away.
        while (await _timed(client, "get_migration_status", {"job_id": started["job_id"], "wait_seconds": 5}))[1][
            "worker_running"
        ]:
            pass

    print(f"rows: {rows:,} ({csv_path.stat().st_size / 1e6:.1f} MB)")
    print(
        f"plan_migration: median {planned:.2f} s, {planned / direct:.2f}x core plan() called directly ({direct:.2f} s)"
    )
    print(f"execute_migration: returned in {executed:.3f} s (setup pass left to the worker)")
    print(f"get_migration_status on a {rows:,}-outcome ledger: median {sorted(status_seconds)[2]:.3f} s")
    print(f"migration://jobs/{{id}}/errors on that ledger: {errors_resource:.3f} s")
    print(f"peak RSS: {peak_rss_mib():.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mcp-bench-") as directory:
        anyio.run(_run, Path(directory), args.rows)


if __name__ == "__main__":
    main()
