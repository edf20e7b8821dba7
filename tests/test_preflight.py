"""The plan's live preflight against the sandbox: every row WorkOS would refuse is a plan error before any write."""

from __future__ import annotations

import time
from pathlib import Path

import httpx2
import pytest
from click.testing import CliRunner
from mcp import Client

from core.orchestrator import MigrationOrchestrator
from core.planner import MigrationPlan, plan
from core.preflight import check_live
from core.workos.sandbox import SandboxHandle
from server.cli import main
from server.mcp import create_server
from tests.conftest import FAST_RATES, REJECTED_KEY, CsvWriter, ImportRun
from tests.mcp_support import call, server_settings, wait_for_workers

pytestmark = pytest.mark.anyio


def written(sandbox: SandboxHandle) -> int:
    routes = sandbox.stats()["routes"]
    return sum(counts["requests"] for route, counts in routes.items() if not route.startswith("GET "))


async def live_plan(importer: ImportRun, path: Path, *, api_key: str | None = None, **values: object) -> MigrationPlan:
    """The plan with its live check, as ``plan --check-live`` makes it (the async door MCP uses)."""
    options = importer.options(path, **values)
    key = api_key or importer.sandbox.api_key
    return await check_live(plan(options, api_key=key), api_key=key, store=importer.store())


def _rows(count: int, **org: str) -> list[dict[str, str]]:
    return [{"email": f"u{n}@example.com", **org} for n in range(count)]


async def test_organizations_that_do_not_exist_are_a_plan_error_by_row(
    importer: ImportRun, write_users: CsvWriter
) -> None:
    path = write_users(_rows(30, org_external_id="acme", org_name="Acme"))
    offline = importer.options(path)
    assert any("must already exist in WorkOS" in w for w in MigrationOrchestrator(offline).plan().warnings)
    made = await live_plan(importer, path)
    assert not made.valid and made.live is not None
    assert made.live.failing_rows == 30 and made.live.organizations_failing == 1
    assert any("30 rows would fail in WorkOS: organization_not_found x30 (rows 2, 3, 4, 5, 6, ...)" in e
               for e in made.errors)  # fmt: skip
    assert made.blocking_errors
    assert written(importer.sandbox) == 0
    creatable = await live_plan(importer, path, create_org_if_missing=True)
    assert creatable.valid and creatable.live is not None and creatable.live.organizations_to_create == 1


async def test_organizations_without_a_name_to_create_them_with_are_refused(
    importer: ImportRun, write_users: CsvWriter
) -> None:
    no_column = write_users(_rows(20, org_external_id="acme"), name="no_name.csv")
    offline = MigrationOrchestrator(importer.options(no_column, create_org_if_missing=True)).plan()
    assert any("no org_name column" in error for error in offline.errors) and not offline.valid
    rows = [*_rows(3, org_external_id="acme", org_name="Acme"), {"email": "x@example.com", "org_external_id": "beta"}]
    some_empty = write_users(rows, name="some.csv")
    made = await live_plan(importer, some_empty, create_org_if_missing=True)
    assert made.live is not None and [i.code for i in made.live.issues] == ["organization_name_missing"]
    assert made.live.issues[0].rows == [5]
    assert written(importer.sandbox) == 0


async def test_a_wrong_organization_option_is_a_plan_error_naming_it(
    importer: ImportRun, write_users: CsvWriter
) -> None:
    made = await live_plan(importer, write_users(_rows(3)), org_id="org_doesnotexist")
    assert any(
        e.startswith("--org-id org_doesnotexist: organization org_doesnotexist does not exist") for e in made.errors
    )


async def test_a_rejected_key_is_a_plan_error_that_says_so(importer: ImportRun, write_users: CsvWriter) -> None:
    made = await live_plan(importer, write_users(_rows(3)), api_key=REJECTED_KEY)
    assert made.live is not None and not made.live.key_valid
    assert any("the API key was rejected by WorkOS (401)" in error for error in made.errors)
    assert REJECTED_KEY not in made.model_dump_json()


@pytest.mark.parametrize("exact", [True, False])
async def test_existing_users_and_memberships_are_counted_and_leave_only_the_writes_left(
    importer: ImportRun, write_users: CsvWriter, monkeypatch: pytest.MonkeyPatch, exact: bool
) -> None:
    rows = [{"email": f"u{n}@example.com", "org_external_id": f"org-{n % 2}", "org_name": f"Org {n % 2}"}
            for n in range(40)]  # fmt: skip
    await importer.run(write_users(rows[:30], name="first.csv"), create_org_if_missing=True)
    if not exact:
        monkeypatch.setattr("core.preflight.EXACT_LOOKUP_USERS", 0)
    before = written(importer.sandbox)
    made = await live_plan(importer, write_users(rows, name="all.csv"), create_org_if_missing=True)
    live = made.live
    assert live is not None and live.users_counted == ("exact" if exact else "snapshot")
    assert (live.users_to_create, live.users_to_adopt, live.memberships_to_create, live.memberships_present) == (
        10,
        30,
        10,
        30,
    )
    assert (live.organizations_existing, live.organizations_to_create, live.writes) == (2, 0, 20)
    assert made.api_calls.writes == 20 and made.valid
    assert written(importer.sandbox) == before


async def test_unknown_roles_and_policies_the_rows_would_break_are_row_errors(
    importer: ImportRun, write_users: CsvWriter, sandbox_api: httpx2.Client
) -> None:
    org = sandbox_api.post("/organizations", json={"name": "Acme", "external_id": "acme"}).json()
    user = sandbox_api.post("/user_management/users", json={"email": "taken@example.com"}).json()
    sandbox_api.post(
        "/user_management/organization_memberships",
        json={"user_id": user["id"], "organization_id": org["id"], "role_slug": "admin"},
    ).raise_for_status()
    rows = [
        {"email": "ok@example.com", "org_external_id": "acme", "role_slugs": "member"},
        {"email": "bad@example.com", "org_external_id": "acme", "role_slugs": "owner"},
        {"email": "taken@example.com", "org_external_id": "acme", "role_slugs": "member"},
    ]
    path = write_users(rows)
    made = await live_plan(importer, path, on_existing_membership="fail")
    assert made.live is not None
    assert {issue.code: issue.rows for issue in made.live.issues} == {
        "invalid_role": [3], "membership_roles_differ": [4]
    }  # fmt: skip
    kept = await live_plan(importer, path)
    assert kept.live is not None and kept.live.memberships_kept_with_other_roles == 1
    refused = await live_plan(importer, path, on_existing_user="fail")
    assert refused.live is not None and "email_not_available" in {issue.code for issue in refused.live.issues}


async def test_an_ambiguous_organization_name_fails_its_rows(
    importer: ImportRun, write_users: CsvWriter, sandbox_api: httpx2.Client
) -> None:
    for _ in range(2):
        sandbox_api.post("/organizations", json={"name": "Acme"}).raise_for_status()
    made = await live_plan(importer, write_users(_rows(2, org_name="Acme")), create_org_if_missing=True)
    assert made.live is not None and made.live.issues[0].code == "organization_name_ambiguous"


def test_cli_plan_check_live_shows_what_it_found_and_exits_1(
    sandbox: SandboxHandle, cli_env: Path, write_users: CsvWriter
) -> None:
    sandbox.configure(write_limit=0, read_limit=0, global_limit=0)
    path = write_users(_rows(3, org_external_id="acme", org_name="Acme"))
    rates = [f"--{name.replace('_', '-')}={value}" for name, value in FAST_RATES.items()]
    offline = CliRunner().invoke(main, ["plan", "--csv", str(path), *rates])
    assert offline.exit_code == 0 and sandbox.stats()["totals"]["requests"] == 0
    result = CliRunner().invoke(main, ["plan", "--csv", str(path), "--check-live", *rates])
    assert result.exit_code == 1, result.output
    assert "Live check:" in result.output and "organization_not_found x3" in result.output
    assert written(sandbox) == 0


def test_cli_plan_check_live_during_an_outage_gives_up_after_max_outage_with_exit_2(
    sandbox: SandboxHandle, cli_env: Path, monkeypatch: pytest.MonkeyPatch, write_users: CsvWriter
) -> None:
    sandbox.configure(write_limit=0, read_limit=0, global_limit=0)
    sandbox.add_hook("*", "*", 503)  # for good: the check must not wait longer than the job would
    path = write_users(_rows(3, org_external_id="acme", org_name="Acme"))
    rates = [f"--{name.replace('_', '-')}={value}" for name, value in FAST_RATES.items()]
    started = time.monotonic()
    result = CliRunner().invoke(main, ["plan", "--csv", str(path), "--check-live", "--max-outage", "2", *rates])
    assert result.exit_code == 2, result.output
    assert "WorkOS unreachable since" in result.output and "Traceback" not in result.output
    assert time.monotonic() - started < 20
    assert written(sandbox) == 0


async def test_mcp_plan_checks_live_by_default_when_the_server_has_a_key(
    tmp_path: Path, sandbox: SandboxHandle, write_users: CsvWriter
) -> None:
    sandbox.configure(write_limit=0, read_limit=0, global_limit=0)
    settings = server_settings(tmp_path, sandbox)
    path = write_users(_rows(3, org_external_id="acme", org_name="Acme"))
    try:
        async with Client(create_server(settings), mode="legacy") as client:
            checked = await call(client, "plan_migration", {"csv_path": path.name})
            offline = await call(client, "plan_migration", {"csv_path": path.name, "check_live": False})
    finally:
        wait_for_workers(settings.state_dir)
    assert checked["live"]["failing_rows"] == 3 and not checked["valid"]
    assert offline["live"] is None
    assert written(sandbox) == 0
