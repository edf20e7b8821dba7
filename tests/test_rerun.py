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


def _member_of(api: httpx2.Client, email: str, role: str, org_external_id: str = "org-0") -> tuple[str, str]:
    """A user of ``email`` already a member of the org with ``role``; returns (user id, membership id)."""
    org = api.get(f"/organizations/external_id/{org_external_id}")
    org_id = (
        org.json()["id"]
        if org.status_code == 200
        else api.post("/organizations", json={"name": "Org 0", "external_id": org_external_id}).json()["id"]
    )
    user = api.post("/user_management/users", json={"email": email}).json()
    membership = api.post(
        "/user_management/organization_memberships",
        json={"user_id": user["id"], "organization_id": org_id, "role_slug": role},
    ).json()
    return user["id"], membership["id"]


def _roles(sandbox: SandboxHandle, membership_id: str) -> list[str]:
    found = [m for m in sandbox.state()["organization_memberships"] if m["id"] == membership_id]
    return [role["slug"] for role in found[0]["roles"]]


@pytest.mark.parametrize("known", ["looked up", "conflict"])
@pytest.mark.parametrize("policy", ["keep", "update", "fail"])
async def test_an_existing_membership_with_other_roles_follows_the_policy(
    importer: ImportRun,
    write_users: CsvWriter,
    sandbox: SandboxHandle,
    sandbox_api: httpx2.Client,
    monkeypatch: pytest.MonkeyPatch,
    policy: str,
    known: str,
) -> None:
    path = write_users([{**rows(1, role="member")[0], "email": "ada@example.com"}])
    if known == "conflict":
        # The snapshot is read before the membership exists and is fresh enough to be reused: the create
        # conflicts, and the conflict is looked up and judged the same way.
        monkeypatch.setattr("core.environment.EXACT_LOOKUP_USERS", 0)
        org_id = sandbox_api.post("/organizations", json={"name": "Org 0", "external_id": "org-0"}).json()["id"]
        snapshot = EnvironmentSnapshot.of(importer.store(), base_url=sandbox.url, api_key=sandbox.api_key)
        async with WorkOSClient(api_key=sandbox.api_key, base_url=sandbox.url) as client:
            await snapshot.read(client, users=True, memberships_of=[org_id])
    _, membership_id = _member_of(sandbox_api, "ada@example.com", "admin")
    before = writes(sandbox)
    result = await importer.run(path, on_existing_membership=policy)
    after = writes(sandbox)
    memberships_sent = after.get("POST /user_management/organization_memberships", 0) - before.get(
        "POST /user_management/organization_memberships", 0
    )
    assert memberships_sent == (1 if known == "conflict" else 0)
    updates = after.get("PUT /user_management/organization_memberships/{om_id}", 0)
    outcome = next(importer.store().iter_rows(result.job_id))
    if policy == "keep":
        assert (result.memberships_existed, result.failed, updates) == (1, 0, 0)
        assert outcome.warning and "kept (--on-existing-membership keep)" in outcome.warning
        assert _roles(sandbox, membership_id) == ["admin"]
    elif policy == "update":
        assert (result.memberships_updated, result.failed, updates) == (1, 0, 1)
        assert _roles(sandbox, membership_id) == ["member"]
    else:
        assert (result.failed, updates) == (1, 0)
        assert outcome.error_code == "membership_roles_differ" and "['admin']" in (outcome.error_message or "")


async def test_a_membership_whose_reported_roles_differ_from_the_ask_is_a_failure(
    importer: ImportRun, write_users: CsvWriter, sandbox: SandboxHandle, sandbox_api: httpx2.Client
) -> None:
    org_id = sandbox_api.post("/organizations", json={"name": "Org 0", "external_id": "org-0"}).json()["id"]
    # WorkOS answers the create with other roles than asked (here a hook stands in for that answer).
    sandbox.add_hook(
        "POST", "/user_management/organization_memberships", 201,
        body={"object": "organization_membership", "id": "om_01HOOKED", "user_id": "user_x", "organization_id": org_id,
              "status": "active", "role": {"slug": "member"}, "roles": [{"slug": "member"}]},
    )  # fmt: skip
    result = await importer.run(write_users([{**rows(1, role="admin")[0], "email": "ada@example.com"}]))
    outcome = next(importer.store().iter_rows(result.job_id))
    assert result.failed == 1 and outcome.error_code == "role_mismatch"
    assert "['member']" in (outcome.error_message or "") and "['admin']" in (outcome.error_message or "")
