"""WorkOS outages against the sandbox: the circuit breaker holds every request, no row fails for them, and an
outage longer than --max-outage stops the job interrupted with every unfinished row pending."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import httpx2
import pytest

from core.engine import MigrationResult, execute_job, prepare_job, start_resume
from core.errors import ServerError, TransportError, WorkOSUnavailable
from core.store import JobState, RowState
from core.workos.breaker import BreakerPolicy, CircuitBreaker, is_outage, route_key
from core.workos.client import WorkOSClient
from core.workos.limits import RateLimiter, RetryPolicy
from core.workos.sandbox import Sandbox, SandboxHandle, running_sandbox
from server import jobs
from server.render import render_result
from tests.conftest import ImportRun, write_rows

pytestmark = pytest.mark.anyio

# Probes every 50 ms growing to 200 ms: the behaviour of the default policy (1 s growing to 30 s), in test time.
FAST_PROBES = BreakerPolicy(threshold=5, probe_base=0.05, probe_factor=1.5, probe_cap=0.2)


def people(count: int) -> list[dict[str, str]]:
    return [{"email": f"u{i}@example.com", "org_external_id": "acme", "org_name": "Acme"} for i in range(count)]


async def run(importer: ImportRun, path: Path, **options: object) -> MigrationResult:
    store = importer.store()
    job = prepare_job(store, importer.options(path, create_org_if_missing=True, **options))
    return await execute_job(store, job.id, api_key=importer.sandbox.api_key, breaker=FAST_PROBES)


def assert_exact(result: MigrationResult, sandbox: SandboxHandle, rows: int) -> None:
    assert (result.state, result.succeeded, result.failed, result.pending) == (JobState.COMPLETED, rows, 0, 0)
    state = sandbox.state()
    assert len(state["users"]) == rows and len(state["organization_memberships"]) == rows
    assert len(state["organizations"]) == 1


async def rows_done(importer: ImportRun, at_least: int) -> None:
    store = importer.store()
    with anyio.fail_after(30):
        while True:
            jobs = store.list_jobs()
            if jobs and store.counts(jobs[0].id).finished >= at_least:
                return
            await anyio.sleep(0.02)


def test_only_5xx_timeouts_and_refused_connections_are_outages() -> None:
    assert is_outage(ServerError("x", status=503))
    assert is_outage(TransportError("x"))
    assert not is_outage(ServerError("a 2xx with a bad body", status=200, retryable=False))


async def test_the_breaker_opens_after_consecutive_outages_and_closes_on_an_answer() -> None:
    changes: list[float | None] = []
    breaker = CircuitBreaker(FAST_PROBES, on_change=changes.append)
    users, members = "POST /user_management/users", "POST /user_management/organization_memberships"
    for _ in range(4):
        breaker.record(members, outage=True, probe=False)
    breaker.record(members, outage=False, probe=False)  # an answer in between: the count starts again
    for _ in range(4):
        breaker.record(members, outage=True, probe=False)
    breaker.record(users, outage=False, probe=False)  # another route's answer says nothing about this one
    assert not breaker.is_open
    breaker.record(members, outage=True, probe=False)
    assert breaker.is_open and breaker.circuit_open(members) and not breaker.circuit_open(users)
    assert await breaker.admit(users) is False  # other routes still go
    started = time.monotonic()
    assert await breaker.admit(members) is True  # the probe, after the probe interval
    assert time.monotonic() - started >= 0.04
    breaker.record(members, outage=False, probe=True)
    assert not breaker.is_open and breaker.outage_seconds > 0
    assert len(changes) == 2 and changes[0] is not None and changes[1] is None


async def test_probe_now_lets_a_waiting_request_through_at_once() -> None:
    """Another runner saw WorkOS answer: this runner's circuit probes now, not at its next (growing) interval."""
    breaker = CircuitBreaker(BreakerPolicy(threshold=1, probe_base=60, probe_cap=60))
    breaker.record("POST /organizations", outage=True, probe=False)
    async with anyio.create_task_group() as tasks:
        probes: list[bool] = []

        async def request() -> None:
            probes.append(await breaker.admit("POST /organizations"))

        tasks.start_soon(request)
        await anyio.sleep(0.05)
        assert probes == []  # waiting for its probe, a minute away
        with anyio.fail_after(5):
            breaker.probe_now()
            while not probes:
                await anyio.sleep(0.01)
    assert probes == [True] and breaker.circuit_open("POST /organizations")


async def test_a_hold_stops_every_request_until_it_is_released() -> None:
    """Another runner probes for the job: this runner's requests wait, on every route, until it says WorkOS answers."""
    breaker = CircuitBreaker(FAST_PROBES)
    breaker.hold(60)
    admitted: list[bool] = []
    async with anyio.create_task_group() as tasks:

        async def request() -> None:
            admitted.append(await breaker.admit("POST /user_management/users"))

        tasks.start_soon(request)
        await anyio.sleep(0.05)
        assert admitted == []
        breaker.release()
    assert admitted == [False]  # no circuit of its own is open: not a probe
    breaker.hold(0.05)  # a hold the heartbeat does not renew lapses by itself
    with anyio.fail_after(5):
        assert await breaker.admit("POST /user_management/users") is False


async def test_a_breaker_open_longer_than_max_outage_gives_up() -> None:
    breaker = CircuitBreaker(BreakerPolicy(threshold=1, probe_base=0.05, probe_cap=0.05, max_outage=0.3))
    breaker.record("POST /organizations", outage=True, probe=False)
    with anyio.fail_after(5), pytest.raises(WorkOSUnavailable, match=r"WorkOS unreachable since .*; resume when"):
        while True:
            probe = await breaker.admit("POST /organizations")
            breaker.record("POST /organizations", outage=True, probe=probe)


async def test_a_route_with_few_calls_spends_no_attempt_while_another_routes_circuit_is_open() -> None:
    """Measured: a refused-connections outage failed a row whose lookup route had not yet seen enough answers to
    open its own circuit, so the lookup spent its attempts while the API as a whole was known to be down."""
    breaker = CircuitBreaker(FAST_PROBES)
    for _ in range(FAST_PROBES.threshold):
        breaker.record("POST /user_management/users", outage=True, probe=False)
    assert breaker.is_open
    refused = [httpx2.ConnectError("refused")] * 6

    def handler(request: httpx2.Request) -> httpx2.Response:
        if refused:
            raise refused.pop()
        return httpx2.Response(200, json={"object": "list", "data": [], "list_metadata": {"after": None}})

    client = WorkOSClient(
        api_key="sk_test_outage",
        base_url="https://workos.test",
        limiter=RateLimiter(write_rate=1e6, read_rate=1e6, general_rate=1e6, max_pause=0.01, pause_base=0.001),
        retry=RetryPolicy(attempts=3, base=0.0),
        breaker=breaker,
        transport=httpx2.MockTransport(handler),
    )
    async with client:
        with anyio.fail_after(10):
            assert await client.find_user_by_email("ada@example.com") is None
    assert refused == []


def test_routes_are_keyed_without_their_ids() -> None:
    user = "user_01HXYZ0123456789ABCDEFGHJK"
    assert route_key("get", f"/user_management/users/{user}") == "GET /user_management/users/*"
    assert route_key("GET", "/organizations/external_id/acme-1") == "GET /organizations/external_id/*"
    assert route_key("POST", "/user_management/users") == "POST /user_management/users"


async def test_30_consecutive_500s_at_the_start_fail_no_row(
    importer: ImportRun, tmp_path: Path, sandbox: SandboxHandle
) -> None:
    sandbox.add_hook("*", "*", 500, count=30)
    result = await run(importer, write_rows(tmp_path / "users.csv", people(60)), concurrency=4)
    assert_exact(result, sandbox, 60)
    # The job's look at the environment (reads, before any write) meets these 500s first, behind the job's
    # own breaker: the outage shows in the result.
    assert result.outage_seconds > 0 and result.circuit == "closed"


async def test_an_outage_in_the_middle_answering_503_to_everything_fails_no_row(
    importer: ImportRun, tmp_path: Path, sandbox: SandboxHandle
) -> None:
    sandbox.configure(latency_ms=5)
    path = write_rows(tmp_path / "users.csv", people(150))
    async with anyio.create_task_group() as tasks:

        async def outage() -> None:
            await rows_done(importer, 40)
            hook = sandbox.add_hook("*", "*", 503)
            await anyio.sleep(3)
            httpx2.delete(f"{sandbox.url}/_emulate/hooks/{hook['id']}")

        tasks.start_soon(outage)
        result = await run(importer, path, concurrency=4)
    assert_exact(result, sandbox, 150)
    assert result.outage_seconds > 0  # visible; how much of the 3 s it spans depends on when answers show it


async def test_a_20_second_outage_of_refused_connections_in_the_middle_fails_no_row(tmp_path: Path) -> None:
    """The issue's proof: 20 s of WorkOS refusing connections mid-run, and every row done without a resume."""
    sandbox = Sandbox()
    serving = [running_sandbox(sandbox)]
    handle = serving[0].__enter__()
    port = int(handle.url.rsplit(":", 1)[1])
    down: list[float] = []

    def down_then_up() -> None:
        """Stop listening (connections refused) for 20 s, then serve the same sandbox on the same port again."""
        serving[-1].__exit__(None, None, None)
        began = time.monotonic()
        time.sleep(20)
        serving.append(running_sandbox(sandbox, port=port))
        serving[-1].__enter__()
        down.append(time.monotonic() - began)

    try:
        handle.configure(write_limit=0, read_limit=0, global_limit=0, latency_ms=5)
        importer = ImportRun(handle, tmp_path / "checkpoints")
        path = write_rows(tmp_path / "users.csv", people(100))
        async with anyio.create_task_group() as tasks:

            async def outage() -> None:
                await rows_done(importer, 30)
                await anyio.to_thread.run_sync(down_then_up)

            tasks.start_soon(outage)
            result = await run(importer, path, concurrency=4)
        again = SandboxHandle(handle.url, handle.api_key)
        assert_exact(result, again, 100)
        assert result.resume_step is None and result.circuit == "closed"
        # The circuit opens at the first refused connections and closes at the first probe after: about the 20 s.
        assert 0.8 * down[0] <= result.outage_seconds <= down[0] + 5, (result.outage_seconds, down)
        assert f"WorkOS down:  {result.outage_seconds:,.1f} s in all" in render_result(result)
        again.close()
    finally:
        serving[-1].__exit__(None, None, None)


async def test_an_outage_longer_than_max_outage_stops_interrupted_then_resume_completes(
    importer: ImportRun, tmp_path: Path, sandbox: SandboxHandle
) -> None:
    path = write_rows(tmp_path / "users.csv", people(80))
    hook = sandbox.add_hook("POST", "/user_management/users", 503)
    with anyio.fail_after(30):
        stopped = await run(importer, path, concurrency=4, max_outage=1)
    assert (stopped.state, stopped.failed) == (JobState.INTERRUPTED, 0)
    assert stopped.pending == 80 and stopped.exit_code == 2
    assert stopped.last_error is not None and stopped.last_error.startswith("WorkOS unreachable since ")
    assert stopped.resume_step is not None and stopped.outage_seconds >= 1
    assert not list(importer.store().iter_rows(stopped.job_id, state=RowState.FAILED))
    assert "WorkOS down:" in render_result(stopped)
    status = jobs.job_status(importer.store(), stopped.job_id)
    assert status.outage_seconds >= 1 and "outage" in status.text()
    assert status.next.tool == "resume_migration" and "WorkOS unreachable" in status.next.why
    httpx2.delete(f"{sandbox.url}/_emulate/hooks/{hook['id']}")
    store = importer.store()
    start_resume(store, stopped.job_id)
    resumed = await execute_job(store, stopped.job_id, api_key=sandbox.api_key, breaker=FAST_PROBES)
    assert_exact(resumed, sandbox, 80)
    assert resumed.last_error is None


async def test_an_outage_during_the_jobs_read_of_the_environment_stops_it_interrupted_before_any_write(
    importer: ImportRun, tmp_path: Path, sandbox: SandboxHandle
) -> None:
    path = write_rows(tmp_path / "users.csv", people(40))
    hook = sandbox.add_hook("GET", "*", 503)  # reads only: the job's look at WorkOS, before its first write
    with anyio.fail_after(30):
        stopped = await run(importer, path, concurrency=4, max_outage=1, workers=2)
    assert (stopped.state, stopped.failed, stopped.pending) == (JobState.INTERRUPTED, 0, 40)
    assert stopped.last_error is not None and stopped.last_error.startswith("WorkOS unreachable since ")
    assert stopped.outage_seconds >= 1
    routes = sandbox.stats()["routes"]
    assert not [route for route in routes if not route.startswith("GET ")]  # no helper started, no write sent
    assert not list((importer.store().job_dir(stopped.job_id)).glob("worker-*.log"))
    httpx2.delete(f"{sandbox.url}/_emulate/hooks/{hook['id']}")
    store = importer.store()
    start_resume(store, stopped.job_id)
    assert_exact(await execute_job(store, stopped.job_id, api_key=sandbox.api_key, breaker=FAST_PROBES), sandbox, 40)


async def test_an_organization_deleted_behind_the_run_is_looked_up_again_and_no_row_fails(
    importer: ImportRun, tmp_path: Path, sandbox: SandboxHandle, sandbox_api: httpx2.Client
) -> None:
    sandbox.configure(latency_ms=5)
    path = write_rows(tmp_path / "users.csv", people(200))
    async with anyio.create_task_group() as tasks:

        async def reset_behind_the_run() -> None:
            await rows_done(importer, 20)
            (org,) = sandbox.state()["organizations"]
            sandbox_api.delete(f"/organizations/{org['id']}").raise_for_status()

        tasks.start_soon(reset_behind_the_run)
        result = await run(importer, path, concurrency=4)  # --create-org-if-missing: looking again recreates it
    assert (result.state, result.succeeded, result.failed) == (JobState.COMPLETED, 200, 0)
    (org,) = sandbox.state()["organizations"]  # the deleted one took the memberships of the first rows along
    recorded = [o for o in importer.store().iter_rows(result.job_id) if o.organization_id == org["id"]]
    assert len(recorded) == len(sandbox.state()["organization_memberships"]) > 0


async def test_a_role_missing_everywhere_stops_the_job_interrupted_instead_of_failing_every_row(
    importer: ImportRun, tmp_path: Path, sandbox: SandboxHandle
) -> None:
    hook = sandbox.add_hook(
        "POST",
        "/user_management/organization_memberships",
        422,
        body={"message": "Role 'member' is not a valid role.", "code": "invalid_role"},
    )  # fmt: skip (the environment's default role, deleted behind the job)
    path = write_rows(tmp_path / "users.csv", people(200))
    stopped = await run(importer, path, concurrency=4)
    assert (stopped.state, stopped.failed, stopped.exit_code) == (JobState.INTERRUPTED, 0, 2)
    assert stopped.pending > 150 and stopped.last_error is not None and "role" in stopped.last_error
    httpx2.delete(f"{sandbox.url}/_emulate/hooks/{hook['id']}")
    store = importer.store()
    start_resume(store, stopped.job_id)
    resumed = await execute_job(store, stopped.job_id, api_key=sandbox.api_key, breaker=FAST_PROBES)
    assert (resumed.state, resumed.succeeded, resumed.failed) == (JobState.COMPLETED, 200, 0)
