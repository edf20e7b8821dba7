"""Undo against the sandbox: exactly what a job created goes, everything that was there before stays."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from click.testing import CliRunner

from core.pipeline import CREATED_AT_SKEW_SECONDS
from core.store import UndoKind, UndoOutcome, UndoState
from core.supervisor import runner_command
from core.undo import KeepReason, preview_undo, run_undo, undo_result
from core.workos.sandbox import SandboxHandle
from server.cli import main
from tests.conftest import BCRYPT, TOTP, CsvWriter, ImportRun

pytestmark = pytest.mark.anyio


def _comparable(state: dict[str, Any]) -> dict[str, Any]:
    """A sandbox dump without what the tool may not control (the roles list is the sandbox's own)."""
    return {key: value for key, value in state.items() if key != "roles"}


def _deletes(sandbox: SandboxHandle) -> int:
    return sum(counts["requests"] for route, counts in sandbox.stats()["routes"].items() if route.startswith("DELETE"))


def _seed_existing(api: httpx2.Client) -> dict[str, str]:
    """An environment with history: an organization with a member, and a user without memberships."""
    org = api.post("/organizations", json={"name": "Acme", "external_id": "acme"}).json()
    old = api.post("/user_management/users", json={"email": "old@example.com", "first_name": "Old"}).json()
    lone = api.post("/user_management/users", json={"email": "lone@example.com"}).json()
    api.post("/user_management/organization_memberships", json={"user_id": old["id"], "organization_id": org["id"]})
    return {"org": org["id"], "old": old["id"], "lone": lone["id"]}


def _mixed_file(write_users: CsvWriter) -> Path:
    """New users and two adopted ones; an existing organization and a new one; TOTP on a new and an adopted user."""
    rows = [
        {"email": "old@example.com", "org_external_id": "acme", "org_name": "Acme"},  # membership existed
        {"email": "lone@example.com", "org_external_id": "acme", "org_name": "Acme", "totp_secret": TOTP},
        {
            "email": "new1@example.com",
            "org_external_id": "acme",
            "org_name": "Acme",
            "password_hash": BCRYPT,
            "password_hash_type": "bcrypt",
        },
        {"email": "new2@example.com", "org_external_id": "globex", "org_name": "Globex", "totp_secret": TOTP},
        {"email": "new2@example.com", "org_external_id": "acme", "org_name": "Acme"},
        {"email": "new3@example.com", "org_external_id": "globex", "org_name": "Globex"},
    ]
    return write_users(rows)


async def test_undo_of_a_job_that_adopted_users_and_joined_organizations_restores_the_environment(
    importer: ImportRun, sandbox: SandboxHandle, sandbox_api: httpx2.Client, write_users: CsvWriter
) -> None:
    _seed_existing(sandbox_api)
    before = _comparable(sandbox.state())
    result = await importer.run(_mixed_file(write_users), create_org_if_missing=True)
    assert (result.users_created, result.users_adopted, result.memberships_existed) == (3, 2, 1)
    assert sandbox.state()["auth_factors"]

    store = importer.store()
    undone = await run_undo(store, result.job_id, api_key=sandbox.api_key)

    assert undone.state is UndoState.COMPLETED
    assert undone.deleted == {
        UndoKind.MEMBERSHIP: 5,
        UndoKind.FACTOR: 2,
        UndoKind.USER: 3,
        UndoKind.ORGANIZATION: 1,
    }
    assert _comparable(sandbox.state()) == before


async def test_an_undo_during_an_outage_longer_than_max_outage_stops_interrupted_then_goes_on(
    importer: ImportRun, sandbox: SandboxHandle, sandbox_api: httpx2.Client, write_users: CsvWriter
) -> None:
    _seed_existing(sandbox_api)
    before = _comparable(sandbox.state())
    result = await importer.run(_mixed_file(write_users), create_org_if_missing=True, max_outage=1)
    hook = sandbox.add_hook("DELETE", "*", 503)  # WorkOS down for deletes, for good

    with anyio.fail_after(60):
        stopped = await run_undo(importer.store(), result.job_id, api_key=sandbox.api_key)

    assert (stopped.state, stopped.exit_code, stopped.failed) == (UndoState.INTERRUPTED, 2, 0)
    assert stopped.last_error is not None and stopped.last_error.startswith("WorkOS unreachable since ")
    assert stopped.pending == 11 and not stopped.deleted  # nothing recorded done, nothing failed: all left
    sandbox_api.delete(f"/_emulate/hooks/{hook['id']}")
    again = await run_undo(importer.store(), result.job_id, api_key=sandbox.api_key)
    assert (again.state, again.pending, again.failed) == (UndoState.COMPLETED, 0, 0)
    assert _comparable(sandbox.state()) == before


async def test_a_second_undo_deletes_nothing(
    importer: ImportRun, sandbox: SandboxHandle, sandbox_api: httpx2.Client, write_users: CsvWriter
) -> None:
    _seed_existing(sandbox_api)
    result = await importer.run(_mixed_file(write_users), create_org_if_missing=True)
    store = importer.store()
    await run_undo(store, result.job_id, api_key=sandbox.api_key)
    deletes = _deletes(sandbox)

    again = await run_undo(store, result.job_id, api_key=sandbox.api_key)

    assert again.state is UndoState.COMPLETED
    assert _deletes(sandbox) == deletes
    assert sum(again.deleted.values()) == 11 and again.failed == again.pending == 0


async def test_preview_counts_what_undo_deletes_and_keeps_and_sends_no_write(
    importer: ImportRun, sandbox: SandboxHandle, sandbox_api: httpx2.Client, write_users: CsvWriter
) -> None:
    _seed_existing(sandbox_api)
    result = await importer.run(_mixed_file(write_users), create_org_if_missing=True)
    writes = sandbox.stats()["totals"]["writes_applied"]

    preview = await preview_undo(importer.store(), result.job_id, api_key=sandbox.api_key)

    assert preview.delete == {UndoKind.MEMBERSHIP: 5, UndoKind.FACTOR: 2, UndoKind.USER: 3, UndoKind.ORGANIZATION: 1}
    assert preview.kept == {"users_adopted": 2, "memberships_existed": 1, "organizations_found": 1}
    assert (preview.users_checked, preview.users_changed, preview.users_with_other_memberships) == (3, 0, 0)
    assert {example.email for example in preview.to_delete if example.kind is UndoKind.USER} == {
        "new1@example.com",
        "new2@example.com",
        "new3@example.com",
    }
    assert sandbox.stats()["totals"]["writes_applied"] == writes
    assert undo_result(importer.store(), result.job_id) is None


async def test_a_user_changed_since_the_import_is_kept_unless_include_changed(
    importer: ImportRun, sandbox: SandboxHandle, sandbox_api: httpx2.Client, write_users: CsvWriter
) -> None:
    result = await importer.run(write_users([{"email": "a@example.com"}, {"email": "b@example.com"}]))
    store = importer.store()
    user_a = next(row.user_id for row in store.iter_rows(result.job_id) if row.email == "a@example.com")
    await anyio.sleep(CREATED_AT_SKEW_SECONDS + 0.2)  # a change within the allowed clock skew cannot be told apart
    sandbox_api.put(f"/user_management/users/{user_a}", json={"first_name": "Changed"}).raise_for_status()

    preview = await preview_undo(store, result.job_id, api_key=sandbox.api_key)
    assert preview.users_changed == 1
    assert [(e.email, e.reason) for e in preview.to_keep] == [("a@example.com", KeepReason.CHANGED_SINCE_IMPORT)]

    undone = await run_undo(store, result.job_id, api_key=sandbox.api_key)
    assert undone.deleted == {UndoKind.USER: 1}
    assert undone.kept == {KeepReason.CHANGED_SINCE_IMPORT: 1}
    assert undone.state is UndoState.COMPLETED
    assert [user["email"] for user in sandbox.state()["users"]] == ["a@example.com"]

    forced = await run_undo(store, result.job_id, api_key=sandbox.api_key, include_changed=True)
    assert forced.deleted == {UndoKind.USER: 2} and forced.kept == {}
    assert sandbox.state()["users"] == []


async def test_a_created_user_someone_else_added_to_an_organization_is_kept(
    importer: ImportRun, sandbox: SandboxHandle, sandbox_api: httpx2.Client, write_users: CsvWriter
) -> None:
    org = sandbox_api.post("/organizations", json={"name": "Other"}).json()
    result = await importer.run(write_users([{"email": "a@example.com"}]))
    user_id = next(row.user_id for row in importer.store().iter_rows(result.job_id))
    sandbox_api.post(
        "/user_management/organization_memberships", json={"user_id": user_id, "organization_id": org["id"]}
    ).raise_for_status()

    undone = await run_undo(importer.store(), result.job_id, api_key=sandbox.api_key)

    assert undone.kept == {KeepReason.OTHER_MEMBERSHIPS: 1}
    assert [(e.email, e.outcome) for e in undone.kept_examples] == [("a@example.com", UndoOutcome.KEPT)]
    assert len(sandbox.state()["users"]) == 1


async def test_an_organization_the_job_created_is_kept_while_it_has_members(
    importer: ImportRun, sandbox: SandboxHandle, sandbox_api: httpx2.Client, write_users: CsvWriter
) -> None:
    result = await importer.run(
        write_users([{"email": "a@example.com", "org_external_id": "new", "org_name": "New"}]),
        create_org_if_missing=True,
    )
    org_id = sandbox.state()["organizations"][0]["id"]
    outsider = sandbox_api.post("/user_management/users", json={"email": "x@example.com"}).json()
    sandbox_api.post(
        "/user_management/organization_memberships", json={"user_id": outsider["id"], "organization_id": org_id}
    ).raise_for_status()

    undone = await run_undo(importer.store(), result.job_id, api_key=sandbox.api_key)

    assert undone.deleted == {UndoKind.MEMBERSHIP: 1, UndoKind.USER: 1}
    assert undone.kept == {KeepReason.ORGANIZATION_NOT_EMPTY: 1}
    assert [org["id"] for org in sandbox.state()["organizations"]] == [org_id]


# -- the command line and the runner process -----------------------------------------------------------


def _cli(*args: str, input: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)
    return result.exit_code, result.output


def test_cli_undo_dry_run_previews_and_deletes_nothing(
    importer: ImportRun, sandbox: SandboxHandle, sandbox_api: httpx2.Client, write_users: CsvWriter, cli_env: Path
) -> None:
    _seed_existing(sandbox_api)
    result = anyio.run(lambda: importer.run(_mixed_file(write_users), create_org_if_missing=True))
    before = sandbox.state()

    code, output = _cli("undo", result.job_id, "--checkpoint-dir", str(importer.checkpoint_dir), "--dry-run")

    assert code == 0, output
    assert "3  users the job created" in output and "2  users the job adopted" in output
    assert "1  memberships that existed before the job" in output
    assert sandbox.state() == before


def test_cli_undo_without_a_terminal_needs_yes(
    importer: ImportRun, sandbox: SandboxHandle, write_users: CsvWriter, cli_env: Path
) -> None:
    result = anyio.run(lambda: importer.run(write_users([{"email": "a@example.com"}])))
    directory = str(importer.checkpoint_dir)

    code, output = _cli("undo", result.job_id, "--checkpoint-dir", directory)
    assert code == 2 and "--yes" in output
    assert len(sandbox.state()["users"]) == 1

    code, output = _cli("undo", result.job_id, "--checkpoint-dir", directory, "--yes", "--json")
    assert code == 0, output
    assert json.loads(output)["deleted"] == {"user": 1}
    assert sandbox.state()["users"] == []


async def test_undo_killed_midway_and_run_again_ends_the_same(
    importer: ImportRun, sandbox: SandboxHandle, sandbox_api: httpx2.Client, write_users: CsvWriter
) -> None:
    _seed_existing(sandbox_api)
    before = _comparable(sandbox.state())
    rows = [{"email": f"u{i}@example.com", "org_external_id": f"org{i % 3}", "org_name": f"Org {i % 3}"}
            for i in range(120)]  # fmt: skip
    rows.append({"email": "old@example.com", "org_external_id": "acme", "org_name": "Acme"})
    result = await importer.run(write_users(rows), create_org_if_missing=True)
    sandbox.configure(latency_ms=20)  # slow enough that the kill lands midway
    env = {**os.environ, "WORKOS_API_KEY": sandbox.api_key}
    command = runner_command(result.job_id, importer.checkpoint_dir, lead=False, undo=True)
    runner = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    store = importer.store()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        progress = undo_result(store, result.job_id)
        if progress is not None and sum(progress.deleted.values()) >= 30:
            break
        await anyio.sleep(0.05)
    runner.send_signal(signal.SIGKILL)
    runner.wait()
    killed = undo_result(store, result.job_id)
    assert killed is not None and killed.state is UndoState.INTERRUPTED and killed.pending > 0

    sandbox.configure(latency_ms=0)
    undone = await run_undo(store, result.job_id, api_key=sandbox.api_key)

    assert undone.state is UndoState.COMPLETED and undone.pending == 0 and undone.failed == 0
    gone = {kind: undone.deleted.get(kind, 0) + undone.absent.get(kind, 0) for kind in UndoKind}
    assert gone == {UndoKind.MEMBERSHIP: 120, UndoKind.FACTOR: 0, UndoKind.USER: 120, UndoKind.ORGANIZATION: 3}
    assert _comparable(sandbox.state()) == before
