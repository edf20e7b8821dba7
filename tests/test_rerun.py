"""A re-run sends only what is missing: the engine uses the environment snapshot, counted by the sandbox."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx2
import pytest

from core.environment import EnvironmentSnapshot
from core.store import JobStore
from core.workos.client import WorkOSClient
from core.workos.sandbox import SandboxHandle
from tests.conftest import CsvWriter, ImportRun, write_rows

pytestmark = pytest.mark.anyio

ORGS = [{"org_external_id": f"org-{n}", "org_name": f"Org {n}"} for n in range(5)]


def rows(count: int, *, start: int = 0, role: str | None = None) -> list[dict[str, str]]:
    made = []
    for n in range(start, start + count):
        row = {"email": f"user{n}@example.com", "first_name": "Ada", **ORGS[n % len(ORGS)]}
        if role:
            row["role_slugs"] = role
        made.append(row)
    return made


def writes(sandbox: SandboxHandle) -> dict[str, int]:
    """Write requests sent, by route (whatever their answer)."""
    routes: dict[str, Any] = sandbox.stats()["routes"]
    return {route: counts["requests"] for route, counts in routes.items() if not route.startswith("GET ")}


def sent(sandbox: SandboxHandle) -> int:
    return sum(writes(sandbox).values())


async def test_a_rerun_sends_no_write_and_twenty_new_rows_send_exactly_theirs(
    importer: ImportRun, tmp_path: Path, sandbox: SandboxHandle
) -> None:
    path = write_rows(tmp_path / "users.csv", rows(2000))
    first = await importer.run(path, create_org_if_missing=True)
    assert (first.users_created, first.memberships_created, first.failed) == (2000, 2000, 0)
    before = sent(sandbox)
    again = await importer.run(path, create_org_if_missing=True)
    assert sent(sandbox) - before == 0, writes(sandbox)
    assert (again.users_created, again.users_adopted, again.memberships_existed, again.failed) == (0, 2000, 2000, 0)
    before_grown = writes(sandbox)
    grown = await importer.run(write_rows(tmp_path / "grown.csv", rows(2020)), create_org_if_missing=True)
    after = writes(sandbox)
    delta = {route: n - before_grown.get(route, 0) for route, n in after.items() if n != before_grown.get(route, 0)}
    assert delta == {"POST /user_management/users": 20, "POST /user_management/organization_memberships": 20}
    assert (grown.users_created, grown.users_adopted, grown.memberships_created, grown.failed) == (20, 2000, 20, 0)


async def test_a_stale_snapshot_still_ends_exact(
    importer: ImportRun, tmp_path: Path, sandbox: SandboxHandle, sandbox_api: httpx2.Client
) -> None:
    path = write_rows(tmp_path / "users.csv", rows(1200))
    # A snapshot read now, then users created behind its back: the run must adopt them, not duplicate them.
    store = JobStore.open(importer.checkpoint_dir)
    snapshot = EnvironmentSnapshot.of(store, base_url=sandbox.url, api_key=sandbox.api_key)
    async with WorkOSClient(api_key=sandbox.api_key, base_url=sandbox.url) as client:
        await snapshot.read(client, users=True)
    for n in range(0, 1200, 10):
        sandbox_api.post("/user_management/users", json={"email": f"user{n}@example.com"}).raise_for_status()
    result = await importer.run(path, create_org_if_missing=True)
    assert (result.users_created, result.users_adopted, result.failed) == (1080, 120, 0)
    state = sandbox.state()
    assert len(state["users"]) == 1200 and len(state["organization_memberships"]) == 1200


async def test_the_snapshot_knows_what_the_run_wrote(importer: ImportRun, write_users: CsvWriter) -> None:
    await importer.run(write_users(rows(30)), create_org_if_missing=True)
    store = JobStore.open(importer.checkpoint_dir)
    snapshot = EnvironmentSnapshot.of(store, base_url=importer.sandbox.url, api_key=importer.sandbox.api_key)
    user = snapshot.user("user7@example.com")
    assert user is not None
    memberships = [m for m in snapshot.iter_memberships() if m[1] == user[0]]
    assert len(memberships) == 1 and memberships[0][3] == ("member",)
