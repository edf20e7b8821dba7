"""End-to-end import runs against the loopback sandbox with a real job store: one outcome per row."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx2
import pytest

from core.orgs import OrgKey, OrgResolver
from core.store import JobState, RowState
from core.workos.client import WorkOSClient
from tests.conftest import BCRYPT, TOTP, CsvWriter, ImportRun

pytestmark = pytest.mark.anyio


def memberships(state: dict[str, Any]) -> set[tuple[str, str]]:
    """(email, organization external id or name) of every active membership in a sandbox state."""
    emails = {user["id"]: user["email"] for user in state["users"]}
    orgs = {org["id"]: org["external_id"] or org["name"] for org in state["organizations"]}
    return {
        (emails[m["user_id"]], orgs[m["organization_id"]])
        for m in state["organization_memberships"]
        if m["status"] == "active"
    }


def roles(state: dict[str, Any]) -> dict[str, list[str]]:
    emails = {user["id"]: user["email"] for user in state["users"]}
    return {emails[m["user_id"]]: [r["slug"] for r in m["roles"]] for m in state["organization_memberships"]}


def seed_user(api: httpx2.Client, email: str, **fields: Any) -> dict[str, Any]:
    response = api.post("/user_management/users", json={"email": email, **fields})
    response.raise_for_status()
    return response.json()


def seed_org(api: httpx2.Client, name: str, external_id: str | None = None) -> dict[str, Any]:
    response = api.post("/organizations", json={"name": name, "external_id": external_id})
    response.raise_for_status()
    return response.json()


def failures(importer: ImportRun, job_id: str) -> dict[int, tuple[str | None, str | None]]:
    return {o.row: (o.error_phase, o.error_code) for o in importer.store().iter_rows(job_id, state=RowState.FAILED)}


ACME = {"org_external_id": "acme", "org_name": "Acme"}
BETA = {"org_external_id": "beta", "org_name": "Beta"}


async def test_multi_org_user_gets_one_user_and_every_membership(importer: ImportRun, write_users: CsvWriter) -> None:
    rows = [
        {"email": "ada@example.com", **ACME},
        {"email": "ADA@example.com ", **BETA},
        {"email": "bob@example.com", **ACME},
    ]
    result = await importer.run(write_users(rows), create_org_if_missing=True)
    assert (result.failed, result.succeeded, result.users_created, result.memberships_created) == (0, 3, 2, 3)
    assert result.exit_code == 0 and result.state is JobState.COMPLETED
    state = importer.sandbox.state()
    assert sorted(u["email"] for u in state["users"]) == ["ada@example.com", "bob@example.com"]
    assert memberships(state) == {("ada@example.com", "acme"), ("ada@example.com", "beta"), ("bob@example.com", "acme")}
    assert sorted(o["external_id"] for o in state["organizations"]) == ["acme", "beta"]


async def test_many_rows_of_one_user_across_orgs_create_the_user_once(
    importer: ImportRun, write_users: CsvWriter
) -> None:
    rows = [{"email": "multi@example.com", "org_external_id": f"org-{i}", "org_name": f"Org {i}"} for i in range(12)]
    result = await importer.run(write_users(rows), create_org_if_missing=True, concurrency=12)
    assert (result.users_created, result.memberships_created, result.failed) == (1, 12, 0)
    stats = importer.sandbox.stats()["routes"]["POST /user_management/users"]
    assert stats["requests"] == 1


async def test_pre_existing_user_is_adopted_and_still_gets_its_membership(
    importer: ImportRun, write_users: CsvWriter, sandbox_api: httpx2.Client
) -> None:
    existing = seed_user(sandbox_api, "old@example.com", first_name="Old")
    result = await importer.run(write_users([{"email": "old@example.com", "first_name": "New", **ACME}]),
                                create_org_if_missing=True)  # fmt: skip
    assert (result.users_adopted, result.users_created, result.memberships_created) == (1, 0, 1)
    state = importer.sandbox.state()
    assert [u["id"] for u in state["users"]] == [existing["id"]]
    assert state["users"][0]["first_name"] == "Old"
    [row] = importer.store().iter_rows(result.job_id)
    assert row.user_id == existing["id"] and row.user_action == "adopted"


async def test_on_existing_user_update_rewrites_the_fields(
    importer: ImportRun, write_users: CsvWriter, sandbox_api: httpx2.Client
) -> None:
    seed_user(sandbox_api, "old@example.com", first_name="Old")
    result = await importer.run(write_users([{"email": "old@example.com", "first_name": "New"}]),
                                on_existing_user="update")  # fmt: skip
    assert result.users_updated == 1
    assert importer.sandbox.state()["users"][0]["first_name"] == "New"


async def test_on_existing_user_skip_leaves_user_and_memberships_alone(
    importer: ImportRun, write_users: CsvWriter, sandbox_api: httpx2.Client
) -> None:
    seed_user(sandbox_api, "old@example.com")
    rows = [{"email": "old@example.com", **ACME}, {"email": "old@example.com", **BETA}, {"email": "n@example.com"}]
    result = await importer.run(write_users(rows), create_org_if_missing=True, on_existing_user="skip")
    assert (result.skipped, result.succeeded, result.failed, result.exit_code) == (2, 1, 0, 0)
    assert memberships(importer.sandbox.state()) == set()


async def test_on_existing_user_fail_reports_the_row_as_a_policy_not_a_retry(
    importer: ImportRun, write_users: CsvWriter, sandbox_api: httpx2.Client
) -> None:
    seed_user(sandbox_api, "old@example.com")
    result = await importer.run(write_users([{"email": "old@example.com"}, {"email": "new@example.com"}]),
                                on_existing_user="fail")  # fmt: skip
    assert (result.failed, result.succeeded, result.exit_code) == (1, 1, 1)
    [failed] = importer.store().iter_rows(result.job_id, state=RowState.FAILED)
    assert (failed.error_phase, failed.error_code, failed.retryable) == ("user", "email_not_available", False)


async def test_rerun_of_the_same_file_creates_nothing_and_repairs_missing_memberships(
    importer: ImportRun, write_users: CsvWriter, sandbox_api: httpx2.Client
) -> None:
    rows = [{"email": f"u{i}@example.com", **(ACME if i % 2 else BETA)} for i in range(20)]
    path = write_users(rows)
    first = await importer.run(path, create_org_if_missing=True)
    assert first.users_created == 20
    # Someone removed one membership between the runs: the re-run must put it back.
    state = importer.sandbox.state()
    sandbox_api.delete(f"/user_management/organization_memberships/{state['organization_memberships'][0]['id']}")
    second = await importer.run(path, create_org_if_missing=True)
    assert (second.users_created, second.users_adopted, second.failed) == (0, 20, 0)
    assert (second.memberships_created, second.memberships_existed) == (1, 19)
    after = importer.sandbox.state()
    assert len(after["users"]) == 20 and len(after["organizations"]) == 2
    assert memberships(after) == memberships(state)


async def test_existing_membership_counts_as_present_not_failed(
    importer: ImportRun, write_users: CsvWriter, sandbox_api: httpx2.Client
) -> None:
    user = seed_user(sandbox_api, "old@example.com")
    org = seed_org(sandbox_api, "Acme", "acme")
    sandbox_api.post(
        "/user_management/organization_memberships", json={"user_id": user["id"], "organization_id": org["id"]}
    )
    result = await importer.run(write_users([{"email": "old@example.com", "org_external_id": "acme"}]))
    assert (result.memberships_existed, result.failed) == (1, 0)


async def test_multiple_roles_fall_back_to_one_with_a_warning(importer: ImportRun, write_users: CsvWriter) -> None:
    result = await importer.run(
        write_users([{"email": "r@example.com", **ACME, "role_slugs": '["admin", "member"]'}]),
        create_org_if_missing=True,
    )
    assert result.failed == 0
    assert roles(importer.sandbox.state()) == {"r@example.com": ["admin"]}
    [row] = importer.store().iter_rows(result.job_id)
    assert row.warning and "only 'admin'" in row.warning


async def test_multiple_roles_are_all_assigned_when_the_environment_allows(
    importer: ImportRun, write_users: CsvWriter
) -> None:
    importer.sandbox.configure(multiple_roles_enabled=True)
    await importer.run(write_users([{"email": "r@example.com", **ACME, "role_slugs": "admin,member"}]),
                       create_org_if_missing=True)  # fmt: skip
    assert roles(importer.sandbox.state()) == {"r@example.com": ["admin", "member"]}


async def test_unknown_role_fails_the_row_in_the_role_phase(importer: ImportRun, write_users: CsvWriter) -> None:
    result = await importer.run(write_users([{"email": "r@example.com", **ACME, "role_slugs": "owner"}]),
                                create_org_if_missing=True)  # fmt: skip
    assert failures(importer, result.job_id) == {2: ("role", "invalid_role")}


async def test_totp_is_enrolled_once_and_skipped_when_a_factor_exists(
    importer: ImportRun, write_users: CsvWriter
) -> None:
    path = write_users([{"email": "t@example.com", "totp_secret": TOTP}])
    first = await importer.run(path)
    second = await importer.run(path)
    assert (first.totp_enrolled, second.totp_enrolled) == (1, 0)
    assert len(importer.sandbox.state()["auth_factors"]) == 1


async def test_password_hash_and_stringified_metadata_reach_workos(importer: ImportRun, write_users: CsvWriter) -> None:
    rows = [{"email": "h@example.com", "password_hash": BCRYPT, "password_hash_type": "bcrypt",
             "metadata": json.dumps({"plan": "pro", "seats": 3, "beta": True})}]  # fmt: skip
    result = await importer.run(write_users(rows))
    assert result.failed == 0
    [user] = importer.sandbox.state()["users"]
    assert user["password_hash_type"] == "bcrypt"
    assert user["metadata"] == {"plan": "pro", "seats": "3", "beta": "true"}


async def test_invalid_rows_are_recorded_and_never_sent(importer: ImportRun, write_users: CsvWriter) -> None:
    rows = [{"email": "ok@example.com"}, {"email": "not-an-email"}, {"email": "", "first_name": "Nomail"},
            {"email": "ok2@example.com"}]  # fmt: skip
    result = await importer.run(write_users(rows))
    assert (result.invalid, result.failed, result.succeeded, result.exit_code) == (2, 2, 2, 1)
    assert {row: phase for row, (phase, _) in failures(importer, result.job_id).items()} == {
        3: "validation",
        4: "validation",
    }
    assert importer.sandbox.stats()["routes"]["POST /user_management/users"]["requests"] == 2


async def test_rows_without_organization_in_a_multi_org_file_import_the_user_alone(
    importer: ImportRun, write_users: CsvWriter
) -> None:
    rows = [{"email": "a@example.com", **ACME}, {"email": "solo@example.com"}]
    result = await importer.run(write_users(rows), create_org_if_missing=True)
    assert (result.failed, result.succeeded) == (0, 2)
    assert memberships(importer.sandbox.state()) == {("a@example.com", "acme")}


async def test_missing_organization_without_create_fails_each_row_with_one_lookup(
    importer: ImportRun, write_users: CsvWriter
) -> None:
    rows = [{"email": f"u{i}@example.com", "org_external_id": "ghost"} for i in range(30)]
    result = await importer.run(write_users(rows))
    assert {code for _, code in failures(importer, result.job_id).values()} == {"organization_not_found"}
    assert importer.sandbox.stats()["routes"]["GET /organizations/external_id/{external_id:path}"]["requests"] == 1
    assert importer.sandbox.state()["users"] == []


async def test_org_name_alone_resolves_by_exact_name_and_refuses_ambiguity(
    importer: ImportRun, write_users: CsvWriter, sandbox_api: httpx2.Client
) -> None:
    seed_org(sandbox_api, "Acme")
    seed_org(sandbox_api, "Acme Two")
    seed_org(sandbox_api, "Twin")
    seed_org(sandbox_api, "Twin")
    rows = [{"email": "a@example.com", "org_name": "Acme"}, {"email": "b@example.com", "org_name": "Twin"}]
    result = await importer.run(write_users(rows))
    assert memberships(importer.sandbox.state()) == {("a@example.com", "Acme")}
    assert failures(importer, result.job_id) == {3: ("organization", "organization_name_ambiguous")}


async def test_org_created_when_missing_always_carries_its_external_id(
    importer: ImportRun, write_users: CsvWriter
) -> None:
    importer.sandbox.configure(faults=[{"route": "POST /organizations", "kind": "fail_after", "rate": 1.0}])
    rows = [{"email": f"u{i}@example.com", **ACME} for i in range(5)]
    result = await importer.run(write_users(rows), create_org_if_missing=True)
    assert result.failed == 0
    [org] = importer.sandbox.state()["organizations"]
    assert (org["external_id"], org["name"]) == ("acme", "Acme")


async def test_single_org_option_puts_every_row_in_that_organization(
    importer: ImportRun, write_users: CsvWriter, sandbox_api: httpx2.Client
) -> None:
    org = seed_org(sandbox_api, "Target", "target")
    rows = [{"email": "a@example.com", **ACME}, {"email": "b@example.com"}]
    result = await importer.run(write_users(rows), org_id=org["id"])
    assert result.failed == 0
    assert memberships(importer.sandbox.state()) == {("a@example.com", "target"), ("b@example.com", "target")}


async def test_unknown_single_org_stops_the_job_before_any_user_is_sent(
    importer: ImportRun, write_users: CsvWriter
) -> None:
    result = await importer.run(write_users([{"email": "a@example.com"}]), org_id="org_01NOPE")
    assert result.state is JobState.FAILED and result.exit_code == 2
    assert result.last_error and "org_01NOPE" in result.last_error
    assert importer.sandbox.state()["users"] == []
    assert result.resume_step is not None


async def test_single_org_created_from_external_id_and_name(importer: ImportRun, write_users: CsvWriter) -> None:
    rows = [{"email": "a@example.com"}]
    await importer.run(write_users(rows), org_external_id="ext-1", org_name="New Org", create_org_if_missing=True)
    [org] = importer.sandbox.state()["organizations"]
    assert (org["external_id"], org["name"]) == ("ext-1", "New Org")


async def test_require_membership_removes_only_a_user_this_row_created_and_nobody_else_uses(
    importer: ImportRun, write_users: CsvWriter, sandbox_api: httpx2.Client
) -> None:
    seed_user(sandbox_api, "old@example.com")
    rows = [
        {"email": "shared@example.com", **ACME},
        {"email": "shared@example.com", **BETA, "role_slugs": "owner"},
        {"email": "lonely@example.com", **ACME, "role_slugs": "owner"},
        {"email": "old@example.com", **ACME, "role_slugs": "owner"},
    ]
    result = await importer.run(write_users(rows), create_org_if_missing=True, require_membership=True, concurrency=1)
    assert set(failures(importer, result.job_id)) == {3, 4, 5}
    emails = sorted(u["email"] for u in importer.sandbox.state()["users"])
    assert emails == ["old@example.com", "shared@example.com"]


async def test_unknown_outcomes_are_reconciled_without_duplicates_or_false_failures(
    importer: ImportRun, write_users: CsvWriter
) -> None:
    importer.sandbox.configure(
        faults=[
            {"route": "POST /user_management/users", "kind": "fail_before", "rate": 0.2},
            {"route": "POST /user_management/users", "kind": "fail_after", "rate": 0.4},
            {"route": "POST /user_management/users", "kind": "drop_after", "rate": 0.3},
            {"route": "POST /user_management/organization_memberships", "kind": "fail_after", "rate": 0.5},
            {"route": "POST /user_management/organization_memberships", "kind": "drop_after", "rate": 0.3},
        ],
        fault_seed=11,
    )
    rows = [{"email": f"u{i}@example.com", **(ACME if i % 3 else BETA)} for i in range(40)]
    # The breaker off: faults this dense would be an outage, and this test is about each row's reconciling.
    result = await importer.run(write_users(rows), create_org_if_missing=True, max_outage=0)
    state = importer.sandbox.state()
    assert len({u["email"] for u in state["users"]}) == len(state["users"])
    assert len(state["organization_memberships"]) == len(memberships(state))
    done = {o.row for o in importer.store().iter_rows(result.job_id, state=RowState.DONE)}
    failed = failures(importer, result.job_id)
    assert len(done) + len(failed) == 40
    assert all(code == "outcome_unknown" for _, code in failed.values())
    assert result.users_created == len(state["users"])
    assert len(done) >= 30
    assert result.retries > 0


async def test_dry_run_sends_nothing_and_records_only_the_dry_run(
    importer: ImportRun, write_users: CsvWriter, tmp_path: Path
) -> None:
    errors = tmp_path / "dry-errors.jsonl"
    rows = [{"email": "a@example.com", **ACME}, {"email": "broken"}]
    result = await importer.run(write_users(rows), dry_run=True, errors_out=errors, create_org_if_missing=True)
    assert result.dry_run and result.state is JobState.DRY_RUN
    assert (result.succeeded, result.invalid) == (1, 1)
    assert importer.sandbox.stats()["totals"]["requests"] == 0
    assert list(importer.store().iter_rows(result.job_id)) == []
    assert [json.loads(line)["row"] for line in errors.read_text().splitlines()] == [3]


async def test_errors_files_hold_every_field_and_no_secret(
    importer: ImportRun, write_users: CsvWriter, tmp_path: Path
) -> None:
    secret_password = "Sup3r-Secret-Passw0rd!"
    rows = [
        {"email": "h@example.com", "password_hash": BCRYPT, "password_hash_type": "bcrypt", "totp_secret": TOTP,
         "org_external_id": "ghost"},
        {"email": "p@example.com", "password": secret_password, "org_external_id": "ghost"},
        {"email": "bad", "password_hash": BCRYPT, "password_hash_type": "bcrypt"},
    ]  # fmt: skip
    jsonl, as_csv = tmp_path / "errors.jsonl", tmp_path / "errors.csv"
    result = await importer.run(write_users(rows), errors_out=jsonl)
    await importer.run(write_users(rows, name="again.csv"), errors_out=as_csv)
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [r["row"] for r in records] == [2, 3, 4]
    assert set(records[0]) == {
        "job_id", "row", "email", "phase", "status", "code", "sub_codes", "message", "request_id", "retryable",
        "attempts", "timestamp",
    }  # fmt: skip
    assert records[0]["job_id"] == result.job_id
    assert records[2]["phase"] == "validation"
    assert as_csv.read_text().splitlines()[0].startswith("job_id,row,email,phase")
    job_errors = Path(result.errors_file or "")
    for text in (jsonl.read_text(), as_csv.read_text(), job_errors.read_text()):
        for secret in (BCRYPT, TOTP, secret_password, importer.sandbox.api_key):
            assert secret not in text


async def test_org_cache_is_bounded_and_evicts_the_least_recently_used(
    importer: ImportRun, sandbox_api: httpx2.Client
) -> None:
    for name in ("a", "b", "c"):
        seed_org(sandbox_api, name.upper(), name)
    async with WorkOSClient(api_key=importer.sandbox.api_key, base_url=importer.sandbox.url) as client:
        resolver = OrgResolver(client, create_if_missing=False, cache_size=2)
        for external_id in ("a", "b", "a", "c", "a", "b"):
            await resolver.resolve(OrgKey(external_id=external_id))
    # a, b looked up; a hit; c evicts b; a hit; b looked up again.
    assert (resolver.lookups, resolver.cache_hits) == (4, 2)


async def test_cross_row_duplicates_are_recorded_with_their_email_and_never_sent(
    importer: ImportRun, write_users: CsvWriter
) -> None:
    rows = [
        {"email": "a@example.com", **ACME, "external_id": "ext-1"},
        {"email": "a@example.com", **ACME},
        {"email": "b@example.com", **ACME, "external_id": "ext-1"},
        {"email": "c@example.com", **BETA},
    ]
    result = await importer.run(write_users(rows), create_org_if_missing=True, chunk_size=100)
    failed = {o.row: (o.email, o.error_code) for o in importer.store().iter_rows(result.job_id, state=RowState.FAILED)}
    assert failed == {3: ("a@example.com", "email_duplicate_in_org"), 4: ("b@example.com", "external_id_shared")}
    assert (result.invalid, result.succeeded) == (2, 2)
    assert sorted(u["email"] for u in importer.sandbox.state()["users"]) == ["a@example.com", "c@example.com"]
