"""Resume, cancel, retry-failed, workers and 429s: a job survives interruptions without a duplicate."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio
import httpx2
import pytest

from core.csvsource import sha256_file
from core.engine import RunStats, execute_job, job_result, prepare_job, record_job, start_resume
from core.errors import JobStateError, SourceError
from core.store import JobState, RowState
from core.supervisor import runner_command
from server.render import command_for
from tests.conftest import ImportRun, write_rows
from tests.test_engine import memberships, seed_org

pytestmark = pytest.mark.anyio


def users_csv(tmp_path: Path, count: int, *, orgs: int = 3, name: str = "users.csv") -> Path:
    rows = [
        {"email": f"user{i}@example.com", "first_name": f"User {i}", "org_external_id": f"org-{i % orgs}",
         "org_name": f"Org {i % orgs}"}
        for i in range(count)
    ]  # fmt: skip
    return write_rows(tmp_path / name, rows)


def start_lead_runner(importer: ImportRun, job_id: str) -> subprocess.Popen[bytes]:
    """The job's lead runner in its own process, with the key in its environment (as the MCP server starts it)."""
    env = {**os.environ, "WORKOS_API_KEY": importer.sandbox.api_key}
    return subprocess.Popen(runner_command(job_id, importer.checkpoint_dir, lead=True), env=env,
                            stderr=subprocess.DEVNULL)  # fmt: skip


async def run_until(importer: ImportRun, job_id: str, done_rows: int) -> None:
    """Run the job and stop it (as SIGINT would) once ``done_rows`` rows are done."""
    stop, stats = anyio.Event(), RunStats()

    async def watch() -> None:
        while stats.done < done_rows:
            await anyio.sleep(0.01)
        stop.set()

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(watch)
        result = await execute_job(importer.store(), job_id, api_key=importer.sandbox.api_key, stop=stop, stats=stats)
        tasks.cancel_scope.cancel()
    assert result.state is JobState.CANCELLED
    assert result.pending > 0 and result.resume_step is not None
    assert command_for(result.resume_step) == f"workos-migrate resume {job_id} --checkpoint-dir " + str(
        importer.checkpoint_dir
    )


async def test_resume_never_resends_completed_rows(importer: ImportRun, tmp_path: Path) -> None:
    store = importer.store()
    job = prepare_job(store, importer.options(users_csv(tmp_path, 300), chunk_size=100, create_org_if_missing=True))
    await run_until(importer, job.id, 120)
    sent_before = importer.sandbox.stats()["routes"]["POST /user_management/users"]["requests"]
    assert 120 <= sent_before < 300
    result = await importer.resume(job.id)
    assert result.state is JobState.COMPLETED and result.succeeded == 300
    assert importer.sandbox.stats()["routes"]["POST /user_management/users"]["requests"] == 300
    assert result.users_created == 300


async def test_resume_of_the_latest_job_needs_no_id(importer: ImportRun, tmp_path: Path) -> None:
    store = importer.store()
    job = prepare_job(store, importer.options(users_csv(tmp_path, 150), chunk_size=100, create_org_if_missing=True))
    await run_until(importer, job.id, 10)
    result = await importer.resume()
    assert (result.job_id, result.succeeded) == (job.id, 150)


async def test_resume_refuses_a_changed_file(importer: ImportRun, tmp_path: Path) -> None:
    path = users_csv(tmp_path, 150)
    job = prepare_job(importer.store(), importer.options(path, chunk_size=100, create_org_if_missing=True))
    await run_until(importer, job.id, 10)
    with path.open("a") as handle:
        handle.write("late@example.com,Late,org-0,Org 0\r\n")
    with pytest.raises(SourceError, match="changed since job"):
        await importer.resume(job.id)


async def test_resume_refuses_a_finished_job(importer: ImportRun, tmp_path: Path) -> None:
    result = await importer.run(users_csv(tmp_path, 5), create_org_if_missing=True)
    with pytest.raises(JobStateError, match="nothing to resume"):
        start_resume(importer.store(), result.job_id)


async def test_resume_keeps_the_single_org_context(
    importer: ImportRun, tmp_path: Path, sandbox_api: httpx2.Client
) -> None:
    org = seed_org(sandbox_api, "Target", "target")
    rows = [{"email": f"user{i}@example.com"} for i in range(200)]
    job = prepare_job(importer.store(), importer.options(write_rows(tmp_path / "u.csv", rows), org_id=org["id"],
                                                         chunk_size=100))  # fmt: skip
    await run_until(importer, job.id, 20)
    await importer.resume(job.id)
    assert memberships(importer.sandbox.state()) == {(f"user{i}@example.com", "target") for i in range(200)}


async def test_retry_failed_sends_failed_rows_again_and_keeps_validation_failures(
    importer: ImportRun, tmp_path: Path
) -> None:
    rows = [{"email": f"user{i}@example.com", "org_external_id": "acme", "org_name": "Acme"} for i in range(10)]
    rows.append({"email": "broken", "org_external_id": "acme"})
    # A refusal of the environment, fixed before the retry (a 5xx every time would be an outage the circuit
    # breaker holds, and a refusal of the row's own data is never sent again).
    hook = importer.sandbox.add_hook("POST", "/user_management/organization_memberships", 404)
    first = await importer.run(write_rows(tmp_path / "u.csv", rows), create_org_if_missing=True)
    assert (first.failed, first.invalid) == (11, 1)
    httpx2.delete(f"{importer.sandbox.url}/_emulate/hooks/{hook['id']}")
    second = await importer.resume(first.job_id, retry_failed=True)
    assert (second.failed, second.invalid, second.succeeded) == (1, 1, 10)
    assert second.users_created == 10
    state = importer.sandbox.state()
    assert len(state["users"]) == 10 and len(memberships(state)) == 10


async def test_cancel_flag_in_the_store_stops_every_runner(importer: ImportRun, tmp_path: Path) -> None:
    importer.sandbox.configure(latency_ms=20)
    store = importer.store()
    job = prepare_job(store, importer.options(users_csv(tmp_path, 400), chunk_size=100, concurrency=4,
                                              create_org_if_missing=True))  # fmt: skip
    async with anyio.create_task_group() as tasks:

        async def cancel_soon() -> None:
            while store.counts(job.id).finished < 10:
                await anyio.sleep(0.05)
            store.request_cancel(job.id)

        tasks.start_soon(cancel_soon)
        result = await execute_job(store, job.id, api_key=importer.sandbox.api_key)
    assert result.state is JobState.CANCELLED
    assert 0 < result.succeeded < 400
    counts = store.counts(job.id)
    assert counts.done == importer.sandbox.stats()["routes"]["POST /user_management/users"]["requests"]


async def test_workers_share_one_job_and_send_each_row_once(
    importer: ImportRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORKOS_API_KEY", importer.sandbox.api_key)
    importer.sandbox.configure(latency_ms=5)
    store = importer.store()
    job = prepare_job(store, importer.options(users_csv(tmp_path, 600), chunk_size=100, workers=3,
                                              create_org_if_missing=True))  # fmt: skip
    result = await execute_job(store, job.id, api_key=importer.sandbox.api_key)
    assert (result.state, result.succeeded, result.users_created) == (JobState.COMPLETED, 600, 600)
    assert importer.sandbox.stats()["routes"]["POST /user_management/users"]["requests"] == 600
    logs = sorted(p.name for p in store.job_dir(job.id).iterdir() if p.name.startswith("worker-"))
    assert logs == ["worker-1.log", "worker-2.log"]
    assert len(importer.sandbox.state()["organizations"]) == 3


async def test_burst_of_429_slows_everyone_and_loses_nothing(importer: ImportRun, tmp_path: Path) -> None:
    importer.sandbox.configure(
        faults=[{"route": "POST /user_management/users", "kind": "burst_429", "rate": 0.05}], fault_seed=3
    )
    result = await importer.run(users_csv(tmp_path, 120), create_org_if_missing=True)
    assert (result.failed, result.succeeded) == (0, 120)
    assert result.rate_limited > 0 and result.retries >= result.rate_limited
    assert len(importer.sandbox.state()["users"]) == 120


async def test_a_killed_runner_is_interrupted_and_resumes_without_duplicates(
    importer: ImportRun, tmp_path: Path
) -> None:
    importer.sandbox.configure(latency_ms=10)
    store = importer.store()
    job = prepare_job(store, importer.options(users_csv(tmp_path, 300), chunk_size=100, concurrency=4,
                                              create_org_if_missing=True))  # fmt: skip
    runner = start_lead_runner(importer, job.id)
    deadline = time.monotonic() + 30
    while store.counts(job.id).finished < 30 and time.monotonic() < deadline:
        time.sleep(0.05)
    runner.send_signal(signal.SIGKILL)
    runner.wait()
    assert store.get_job(job.id).state is JobState.INTERRUPTED
    result = await importer.resume(job.id)
    assert (result.state, result.succeeded) == (JobState.COMPLETED, 300)
    state = importer.sandbox.state()
    assert len(state["users"]) == 300 == len({u["email"] for u in state["users"]})
    assert len(memberships(state)) == 300 == len(state["organization_memberships"])
    ledger = {o.email: o.user_id for o in store.iter_rows(job.id, state=RowState.DONE)}
    assert ledger == {u["email"]: u["id"] for u in state["users"]}


async def test_sigterm_stops_a_runner_gracefully_with_a_resumable_job(importer: ImportRun, tmp_path: Path) -> None:
    importer.sandbox.configure(latency_ms=20)
    store = importer.store()
    job = prepare_job(store, importer.options(users_csv(tmp_path, 300), chunk_size=100, concurrency=2,
                                              create_org_if_missing=True))  # fmt: skip
    runner = start_lead_runner(importer, job.id)
    while store.counts(job.id).finished < 10:
        time.sleep(0.05)
    runner.send_signal(signal.SIGTERM)
    assert runner.wait(timeout=30) == 1
    stopped = job_result(store, job.id)
    assert stopped.state is JobState.CANCELLED
    assert stopped.succeeded == importer.sandbox.stats()["routes"]["POST /user_management/users"]["requests"]
    assert sys.executable in runner.args


async def test_a_job_being_prepared_by_one_process_is_refused_to_another(importer: ImportRun, tmp_path: Path) -> None:
    path = users_csv(tmp_path, 50)
    store = importer.store()
    job = record_job(store, importer.options(path, create_org_if_missing=True), csv_sha256=sha256_file(path))
    store.request_cancel(job.id)
    preparing = store.start_runner(job.id, lead=True, clear_cancel=False)
    assert store.get_job(job.id).state is JobState.PREPARING
    with pytest.raises(JobStateError, match="already running"):
        start_resume(importer.store(), job.id)
    store.stop_runner(job.id, preparing)
    resumed = start_resume(importer.store(), job.id)
    assert (resumed.state, resumed.chunk_count, resumed.total_rows) == (JobState.CREATED, 1, 50)
    assert resumed.cancel_requested, "preparing a job must not swallow a cancel asked for meanwhile"
