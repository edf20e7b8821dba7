"""--workers under outages and 429s: what one runner process meets holds every runner process of the job.

Each test runs the lead in this process and two helpers in their own, and counts requests at the sandbox,
route by route, in a window that starts once every runner has had a heartbeat to see the pause and ends before
it lifts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from core.engine import MigrationResult, execute_job, prepare_job
from core.store import JobState
from core.workos.sandbox import SandboxHandle
from tests.conftest import ImportRun, write_rows

pytestmark = pytest.mark.anyio

ACME = {"org_external_id": "acme", "org_name": "Acme"}
MEMBERSHIPS = "/user_management/organization_memberships"
# A heartbeat (1 s) and a store write or two, on a loaded machine.
SEEN_AFTER = 1.5


def people(count: int, *, with_org: range | None = None) -> list[dict[str, str]]:
    """Rows of ``count`` users; those in ``with_org`` (all by default) join Acme."""
    return [{"email": f"u{i}@example.com", **(ACME if with_org is None or i in with_org else {})} for i in range(count)]


def requests_by_route(sandbox: SandboxHandle) -> dict[str, int]:
    return {route: counts["requests"] for route, counts in sandbox.stats()["routes"].items()}


async def sent_in_window(sandbox: SandboxHandle, began: float, ends: float) -> dict[str, int]:
    """Requests per route from ``SEEN_AFTER`` seconds after ``began`` (monotonic) to ``ends`` seconds after it."""
    await anyio.sleep(began + SEEN_AFTER - time.monotonic())
    before = requests_by_route(sandbox)
    await anyio.sleep(began + ends - time.monotonic())
    after = requests_by_route(sandbox)
    return {route: count - before.get(route, 0) for route, count in after.items() if count > before.get(route, 0)}


async def until(condition: Callable[[], bool]) -> float:
    """Wait until ``condition()`` holds; when it did, on the monotonic clock."""
    with anyio.fail_after(60):
        while not condition():
            await anyio.sleep(0.02)
    return time.monotonic()


async def run_with(
    importer: ImportRun, path: Path, during: Callable[[str], Coroutine[Any, Any, None]], **options: object
) -> MigrationResult:
    """Run a job of ``path`` with three workers while ``during(job_id)`` runs."""
    store = importer.store()
    job = prepare_job(
        store, importer.options(path, create_org_if_missing=True, workers=3, concurrency=4, chunk_size=100, **options)
    )
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(during, job.id)
        result = await execute_job(store, job.id, api_key=importer.sandbox.api_key)
    return result


def assert_exact(result: MigrationResult, sandbox: SandboxHandle, rows: int, memberships: int) -> None:
    assert (result.state, result.succeeded, result.failed, result.pending) == (JobState.COMPLETED, rows, 0, 0)
    state = sandbox.state()
    assert (len(state["users"]), len(state["organization_memberships"])) == (rows, memberships)


@pytest.fixture
def sandbox(sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch) -> SandboxHandle:
    monkeypatch.setenv("WORKOS_API_KEY", sandbox.api_key)  # the helpers' key
    sandbox.configure(latency_ms=5)
    return sandbox


async def test_an_outage_one_runner_meets_holds_the_other_runners(
    importer: ImportRun, tmp_path: Path, sandbox: SandboxHandle
) -> None:
    """Only the rows of one chunk join an organization, so only the runner holding that chunk meets the failing
    membership creates and opens its circuit; the other runners, which create users only, hold with it."""
    path = write_rows(tmp_path / "users.csv", people(700, with_org=range(400, 500)))
    hook = sandbox.add_hook("POST", MEMBERSHIPS, 503)
    window: dict[str, int] = {}

    async def outage(job_id: str) -> None:
        store = importer.store()
        began = await until(lambda: store.outage(job_id).open_since is not None)
        window.update(await sent_in_window(sandbox, began, 4.5))
        httpx2.delete(f"{sandbox.url}/_emulate/hooks/{hook['id']}")

    result = await run_with(importer, path, outage)
    assert_exact(result, sandbox, 700, 100)
    # Measured without the shared hold: 322 users created in the window by the two runners that never met it.
    assert window.get("POST /user_management/users", 0) <= 4, window
    assert window.get(f"POST {MEMBERSHIPS}", 0) <= 2, window  # the probes of the runner whose circuit is open
    assert result.outage_seconds >= 3


async def test_in_an_outage_of_the_whole_api_one_runner_probes_for_every_runner(
    importer: ImportRun, tmp_path: Path, sandbox: SandboxHandle
) -> None:
    path = write_rows(tmp_path / "users.csv", people(400))
    window: dict[str, int] = {}

    async def outage(job_id: str) -> None:
        store = importer.store()
        await until(lambda: store.counts(job_id).finished >= 100)
        hook = sandbox.add_hook("*", "*", 503)
        window.update(await sent_in_window(sandbox, time.monotonic(), 4.5))
        httpx2.delete(f"{sandbox.url}/_emulate/hooks/{hook['id']}")

    result = await run_with(importer, path, outage)
    assert_exact(result, sandbox, 400, 400)
    # One probe per route with requests waiting, from the one runner that probes (1-2 measured); every runner
    # probing its own circuits sent 7.
    assert sum(window.values()) <= 4, window
    assert result.outage_seconds >= 3


async def test_a_429_one_runner_meets_pauses_every_runner(
    importer: ImportRun, tmp_path: Path, sandbox: SandboxHandle
) -> None:
    sandbox.configure(burst_retry_after_s=6)  # the window ends 1.5 s before it, however late the 429 is seen
    path = write_rows(tmp_path / "users.csv", people(400))
    window: dict[str, int] = {}

    async def rate_limited(job_id: str) -> None:
        store = importer.store()
        await until(lambda: store.counts(job_id).finished >= 100)
        sandbox.add_hook("POST", "/user_management/users", 429, count=1)  # one request of one runner
        began = await until(lambda: sandbox.stats()["totals"]["429"] > 0)
        window.update(await sent_in_window(sandbox, began, 4.5))

    result = await run_with(importer, path, rate_limited)
    assert_exact(result, sandbox, 400, 400)
    assert result.rate_limited == 1
    assert window == {}, window  # every runner waits out the Retry-After the one 429 carried
