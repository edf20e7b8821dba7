"""Verify against the sandbox: an exact import matches, changes behind the tool's back are named exactly."""

from __future__ import annotations

import csv
import json
import stat
from pathlib import Path

import anyio
import httpx2
import pytest
from click.testing import CliRunner
from mcp import Client

from core.undo import run_undo
from core.verify import DiscrepancyKind, verify_migration
from core.workos.sandbox import SandboxHandle
from server.cli import main
from server.mcp import create_server
from tests.conftest import BCRYPT, CsvWriter, ImportRun, write_rows
from tests.hash_fixtures import bcrypt_hash
from tests.mcp_support import call, server_settings, unfenced

PASSWORD = "correct-horse-battery-9"


def _rows(count: int) -> list[dict[str, str]]:
    return [
        {
            "email": f"u{n}@example.com",
            "external_id": f"ext-{n}",
            "org_external_id": f"org-{n % 3}",
            "org_name": f"Org {n % 3}",
            "role_slugs": "member",
        }
        for n in range(count)
    ]


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def _ids(sandbox: SandboxHandle) -> tuple[dict[str, str], list[dict[str, object]]]:
    state = sandbox.state()
    return {u["email"]: u["id"] for u in state["users"]}, state["organization_memberships"]


def test_verify_names_exactly_what_changed_behind_the_tools_back(
    importer: ImportRun, sandbox: SandboxHandle, sandbox_api: httpx2.Client, write_users: CsvWriter, cli_env: Path
) -> None:
    result = anyio.run(lambda: importer.run(write_users(_rows(12)), create_org_if_missing=True))
    directory = str(importer.checkpoint_dir)
    code, output = _cli("verify", result.job_id, "--checkpoint-dir", directory)
    assert code == 0, output

    users, memberships = _ids(sandbox)
    of = {m["user_id"]: m for m in memberships}
    sandbox_api.delete(f"/user_management/organization_memberships/{of[users['u1@example.com']]['id']}")
    sandbox_api.delete(f"/user_management/users/{users['u2@example.com']}").raise_for_status()
    sandbox_api.put(
        f"/user_management/organization_memberships/{of[users['u3@example.com']]['id']}", json={"role_slug": "admin"}
    ).raise_for_status()
    out = cli_env / "discrepancies.csv"
    code, output = _cli("verify", result.job_id, "--checkpoint-dir", directory, "--discrepancies", str(out),
                        "--report", str(cli_env / "verify.json"))  # fmt: skip

    assert code == 1, output
    with out.open() as handle:
        found = [
            (line["row"], line["email"], line["kind"], line["expected"], line["found"])
            for line in csv.DictReader(handle)
        ]
    assert found == [
        ("3", "u1@example.com", "membership_missing", "active membership", "none"),
        ("4", "u2@example.com", "user_missing", "user", "none"),
        ("5", "u3@example.com", "roles_differ", "member", "admin"),
    ]
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    report = json.loads((cli_env / "verify.json").read_text())
    assert report["by_kind"] == {"membership_missing": 1, "user_missing": 1, "roles_differ": 1}
    assert report["recorded_done_missing"] == 2
    assert "u2@example.com" in output and "roles_differ" in output


def test_verify_names_a_changed_name_and_external_id_and_ignores_names_the_file_leaves_empty(
    importer: ImportRun, sandbox: SandboxHandle, sandbox_api: httpx2.Client, write_users: CsvWriter, cli_env: Path
) -> None:
    rows = [{**row, "first_name": f"Ada{n}", "last_name": "Lovelace"} for n, row in enumerate(_rows(4))]
    rows[3]["first_name"] = rows[3]["last_name"] = ""
    path = write_users(rows)
    result = anyio.run(lambda: importer.run(path, create_org_if_missing=True))
    users, _ = _ids(sandbox)
    sandbox_api.put(
        f"/user_management/users/{users['u1@example.com']}", json={"first_name": "Grace"}
    ).raise_for_status()
    sandbox_api.put(
        f"/user_management/users/{users['u2@example.com']}", json={"external_id": "other"}
    ).raise_for_status()
    sandbox_api.put(f"/user_management/users/{users['u3@example.com']}", json={"first_name": "Any"}).raise_for_status()
    out = cli_env / "discrepancies.csv"
    code, output = _cli("verify", result.job_id, "--checkpoint-dir", str(importer.checkpoint_dir),
                        "--discrepancies", str(out))  # fmt: skip

    assert code == 1, output
    with out.open() as handle:
        found = [(line["row"], line["kind"], line["expected"], line["found"]) for line in csv.DictReader(handle)]
    assert found == [
        ("3", "name_differs", "Ada1 / Lovelace", "Grace / Lovelace"),
        ("4", "external_id_differs", "ext-2", "other"),
    ]


def test_verify_of_a_csv_lists_invalid_rows_apart_and_writes_the_missing_rows(
    importer: ImportRun, sandbox: SandboxHandle, write_users: CsvWriter, cli_env: Path, tmp_path: Path
) -> None:
    rows = _rows(4)
    anyio.run(lambda: importer.run(write_users(rows[:2]), create_org_if_missing=True))
    bigger = write_rows(tmp_path / "bigger.csv", [*rows, {"email": "not-an-email", "org_external_id": "org-0"}])
    missing = tmp_path / "missing.csv"
    code, output = _cli("verify", "--csv", str(bigger), "--missing-csv", str(missing), "--json")

    assert code == 1, output
    report = json.loads(output)
    assert (report["checked"], report["invalid"], report["matching"]) == (4, 1, 2)
    assert report["invalid_examples"][0]["row"] == 6
    assert report["by_kind"] == {"user_missing": 2}
    assert [line["email"] for line in csv.DictReader(missing.open())] == ["u2@example.com", "u3@example.com"]


def test_verify_exits_2_on_unusable_input(cli_env: Path, tmp_path: Path) -> None:
    code, output = _cli("verify", "--csv", str(tmp_path / "nope.csv"))
    assert code == 2 and "nope.csv" in output


def test_after_undo_verify_reports_the_environment_as_before_the_job(
    importer: ImportRun, sandbox: SandboxHandle, write_users: CsvWriter
) -> None:
    result = anyio.run(lambda: importer.run(write_users(_rows(6)), create_org_if_missing=True))
    store = importer.store()
    anyio.run(lambda: run_undo(store, result.job_id, api_key=sandbox.api_key))

    report = anyio.run(lambda: verify_migration(store, api_key=sandbox.api_key, job_id=result.job_id))

    assert report.exit_code == 1
    assert report.by_kind == {DiscrepancyKind.USER_MISSING: 6}
    assert report.recorded_done_missing == 6


def test_login_canaries_prove_bcrypt_and_a_wrong_password_fails_verify(
    importer: ImportRun, sandbox: SandboxHandle, write_users: CsvWriter, cli_env: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    rows = [
        {"email": "alice@example.com", "password_hash": bcrypt_hash(PASSWORD), "password_hash_type": "bcrypt"},
        {"email": "bob@example.com", "password_hash": BCRYPT, "password_hash_type": "bcrypt"},
    ]
    result = anyio.run(lambda: importer.run(write_users(rows)))
    directory = str(importer.checkpoint_dir)
    canaries = write_rows(tmp_path / "canaries.csv", [{"email": "alice@example.com", "password": PASSWORD}])
    code, output = _cli("verify", result.job_id, "--checkpoint-dir", directory, "--login-canary", str(canaries))
    assert code == 2 and "WORKOS_CLIENT_ID" in output

    monkeypatch.setenv("WORKOS_CLIENT_ID", "client_01VERIFYTEST")
    code, output = _cli("verify", result.job_id, "--checkpoint-dir", directory, "--login-canary", str(canaries))
    assert code == 0, output
    assert "proven bcrypt" in output and PASSWORD not in output

    wrong = write_rows(tmp_path / "wrong.csv", [{"email": "bob@example.com", "password": "guess"}])
    code, output = _cli("verify", result.job_id, "--checkpoint-dir", directory, "--login-canary", str(wrong))
    assert code == 1 and "refused the password" in output and "guess" not in output


@pytest.mark.anyio
async def test_verify_migration_over_mcp_is_short_and_says_what_to_call_next(
    sandbox: SandboxHandle, write_users: CsvWriter, tmp_path: Path
) -> None:
    sandbox.configure(write_limit=0, read_limit=0, global_limit=0)
    settings = server_settings(tmp_path, sandbox)
    importer = ImportRun(sandbox, settings.state_dir)
    result = await importer.run(write_users(_rows(4)), create_org_if_missing=True)
    async with Client(create_server(settings), mode="legacy") as client:
        matching = await call(client, "verify_migration", {"job_id": result.job_id})
        user = sandbox.state()["users"][0]
        httpx2.delete(f"{sandbox.url}/user_management/users/{user['id']}",
                      headers={"Authorization": f"Bearer {sandbox.api_key}"}).raise_for_status()  # fmt: skip
        missing = await call(client, "verify_migration", {"job_id": result.job_id, "missing_csv_path": "missing.csv"})
    assert matching["matches"] is True and matching["next"]["tool"] is None
    assert missing["by_kind"] == {"user_missing": 1} and missing["recorded_done_missing"] == 1
    assert unfenced(missing["examples"][0]["email"]) == user["email"]
    assert missing["next"]["tool"] == "plan_migration"
    assert (tmp_path / "missing.csv").is_file()
