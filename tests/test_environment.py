"""The environment snapshot against the sandbox: what it reads, how it stays fresh, and a read killed midway."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import pytest

from core.environment import EnvironmentSnapshot, SnapshotProgress, environment_key
from core.store import JobStore
from core.workos.client import WorkOSClient
from core.workos.sandbox import SandboxHandle

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def _no_limits(sandbox: SandboxHandle) -> None:
    sandbox.configure(write_limit=0, read_limit=0, global_limit=0)


def seed(api: httpx2.Client, *, users: int, orgs: int = 2) -> tuple[list[str], list[str]]:
    """Create ``orgs`` organizations and ``users`` users, user n a member of org n % orgs; return their ids."""
    org_ids = [
        api.post("/organizations", json={"name": f"Org {n}", "external_id": f"org-{n}"}).json()["id"]
        for n in range(orgs)
    ]
    user_ids = []
    for n in range(users):
        body = {"email": f"User{n}@Example.com", "external_id": f"u{n}", "first_name": f"First{n}"}
        user = api.post("/user_management/users", json=body).json()
        user_ids.append(user["id"])
        role = "admin" if n % 3 == 0 else "member"
        api.post(
            "/user_management/organization_memberships",
            json={"user_id": user["id"], "organization_id": org_ids[n % orgs], "role_slug": role},
        ).raise_for_status()
    return org_ids, user_ids


def client_for(sandbox: SandboxHandle) -> WorkOSClient:
    return WorkOSClient(api_key=sandbox.api_key, base_url=sandbox.url)


async def test_a_snapshot_holds_every_organization_role_user_and_membership(
    sandbox: SandboxHandle, sandbox_api: httpx2.Client, tmp_path: Path
) -> None:
    org_ids, user_ids = seed(sandbox_api, users=250)
    store = JobStore.open(tmp_path)
    snapshot = EnvironmentSnapshot.of(store, base_url=sandbox.url, api_key=sandbox.api_key)
    progress: list[SnapshotProgress] = []
    async with client_for(sandbox) as client:
        info = await snapshot.read(client, users=True, memberships_of=org_ids, on_progress=progress.append)
    assert info.counts == {"organizations": 2, "roles": 2, "users": 250, "memberships": 250}
    assert all(part.complete for part in info.parts)
    assert info.requests == 1 + 1 + 3 + 2 * 2  # orgs, roles, 3 user pages, 2 membership pages per org
    assert [p.objects for p in progress if p.part == "users"] == [100, 200, 250]
    assert snapshot.user(" user7@EXAMPLE.com ") == (
        user_ids[7],
        "user7@example.com",
        "u7",
        pytest.approx(time.time(), abs=60),
        "First7",
        None,
    )
    membership = snapshot.membership(user_ids[3], org_ids[1])
    assert membership is not None and membership[3:] == (("admin",), "active")
    assert snapshot.membership(user_ids[3], org_ids[0]) is None
    assert snapshot.role_slugs() == {"member", "admin"}
    assert snapshot.tables.organizations_with("external_id", "org-1") == [org_ids[1]]
    assert snapshot.tables.organizations_with("name", "Org 0") == [org_ids[0]]
    assert sorted(row[0] for row in snapshot.iter_users()) == sorted(user_ids)
    assert len(list(snapshot.iter_memberships(org_ids[0]))) == 125
    assert environment_key(sandbox.url, sandbox.api_key) == snapshot.env and sandbox.api_key not in snapshot.env


async def test_a_fresh_snapshot_is_not_read_again_and_an_old_one_is_refreshed(
    sandbox: SandboxHandle, sandbox_api: httpx2.Client, tmp_path: Path
) -> None:
    org_ids, user_ids = seed(sandbox_api, users=30)
    snapshot = EnvironmentSnapshot.of(JobStore.open(tmp_path), base_url=sandbox.url, api_key=sandbox.api_key)
    async with client_for(sandbox) as client:
        await snapshot.read(client, users=True, memberships_of=org_ids)
        before = sandbox.stats()["totals"]["requests"]
        await snapshot.read(client, users=True, memberships_of=org_ids)
        assert sandbox.stats()["totals"]["requests"] == before
        sandbox_api.delete(f"/user_management/users/{user_ids[0]}").raise_for_status()
        sandbox_api.post("/user_management/users", json={"email": "late@example.com"}).raise_for_status()
        info = await snapshot.read(client, users=True, memberships_of=org_ids, max_age=0)
    assert info.counts["users"] == 30
    assert snapshot.user("user0@example.com") is None and snapshot.user("late@example.com") is not None


async def test_the_exact_path_looks_up_only_the_emails_asked(
    sandbox: SandboxHandle, sandbox_api: httpx2.Client, tmp_path: Path
) -> None:
    org_ids, user_ids = seed(sandbox_api, users=20)
    snapshot = EnvironmentSnapshot.of(JobStore.open(tmp_path), base_url=sandbox.url, api_key=sandbox.api_key)
    async with client_for(sandbox) as client:
        found = await snapshot.look_up_users(client, ["user1@example.com", "user2@example.com", "nobody@example.com"])
    assert found == 2
    assert snapshot.tables.counts()["users"] == 2 and not snapshot.complete("users")
    assert snapshot.membership(user_ids[1], org_ids[1]) is not None


_READER = """
import sys, anyio
from pathlib import Path
from core.environment import EnvironmentSnapshot
from core.store import JobStore
from core.workos.client import WorkOSClient

async def main() -> None:
    url, key, directory = sys.argv[1:4]
    snapshot = EnvironmentSnapshot.of(JobStore.open(Path(directory)), base_url=url, api_key=key)
    async with WorkOSClient(api_key=key, base_url=url) as client:
        await snapshot.read(client, users=True)

anyio.run(main)
"""


async def test_a_snapshot_killed_midway_goes_on_where_it_stopped(
    sandbox: SandboxHandle, sandbox_api: httpx2.Client, tmp_path: Path
) -> None:
    for n in range(1200):
        sandbox_api.post("/user_management/users", json={"email": f"k{n}@example.com"}).raise_for_status()
    sandbox.configure(latency_ms=40)  # a page every ~40 ms: time to kill mid-read
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    reader = subprocess.Popen([sys.executable, "-c", _READER, sandbox.url, sandbox.api_key, str(tmp_path)], env=env)
    snapshot = EnvironmentSnapshot.of(JobStore.open(tmp_path), base_url=sandbox.url, api_key=sandbox.api_key)
    deadline = time.monotonic() + 60
    try:
        while True:
            part = snapshot.tables.part("users") if (tmp_path / "jobs.sqlite3").exists() else None
            if part is not None and part.pages >= 4:
                break
            assert time.monotonic() < deadline and reader.poll() is None, "the reader never got to page 4"
            time.sleep(0.01)
        os.kill(reader.pid, signal.SIGKILL)
    finally:
        reader.wait()
    cut = snapshot.tables.part("users")
    assert cut is not None and cut.reading and cut.cursor and 4 <= cut.pages < 12
    sandbox.configure(latency_ms=0)
    async with client_for(sandbox) as client:
        info = await snapshot.read(client, users=True)
    assert info.counts["users"] == 1200
    # Only the pages after the cursor were read again (organizations and roles were already complete).
    assert info.requests == 12 - cut.pages
    whole = snapshot.tables.part("users")
    assert whole is not None and not whole.reading and whole.read_at is not None
