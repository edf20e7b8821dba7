"""The CLI: plan and validate outputs (text and JSON) and exit codes 0/1/2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from core import MigrationPlan, ValidationReport
from server.cli import main
from tests.conftest import BCRYPT, ORG_A, ORG_B, CsvWriter


def run(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, [str(arg) for arg in args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def good(write_users: CsvWriter) -> Path:
    return write_users(
        [
            {"email": "a@x.com", "org_id": ORG_A, "password_hash": BCRYPT, "password_hash_type": "bcrypt"},
            {"email": "a@x.com", "org_id": ORG_B, "password_hash": BCRYPT, "password_hash_type": "bcrypt"},
        ]
    )


@pytest.fixture
def bad(write_users: CsvWriter) -> Path:
    return write_users(
        [{"email": "a@x.com", "email_verified": "yes"}, {"email": "oops", "email_verified": "maybe"}], name="bad.csv"
    )


def test_plan_prints_the_boxed_plan_and_exits_0_when_valid(good: Path) -> None:
    code, out, _ = run("plan", "--csv", good, "--checkpoint-dir", good.parent / "c")
    assert code == 0
    assert "MIGRATION PLAN" in out and "╔" in out
    for text in ("Total rows:       2 (2 valid, 0 invalid)", "Users:            1", "Mode:             multi-org"):
        assert text in out
    assert "Memberships:      2 (1 user in several organizations)" in out
    assert "Estimated time:" in out and "bottleneck:" in out
    assert "✓ Plan is valid" in out
    assert f"To execute: workos-migrate execute --csv {good} --checkpoint-dir {good.parent / 'c'}" in out


def test_plan_json_is_the_migration_plan_model(good: Path) -> None:
    code, out, _ = run("plan", "--csv", good, "--json", "--concurrency", "20")
    assert code == 0
    plan = MigrationPlan.model_validate_json(out)
    assert plan.valid and plan.concurrency == 20 and plan.users == 1


def test_plan_exits_1_with_the_errors_when_rows_are_invalid(bad: Path) -> None:
    code, out, _ = run("plan", "--csv", bad)
    assert code == 1
    assert "❌ Plan is invalid:" in out and "email_invalid" in out


def test_the_plan_footer_names_what_to_fix(good: Path, write_users: CsvWriter, bad: Path) -> None:
    loners = write_users([{"email": "a@x.com"}], name="loners.csv")
    code, out, _ = run("plan", "--csv", loners, "--require-membership")
    assert code == 1 and out.splitlines()[-2] == "Fix the options, then plan again."
    code, out, _ = run("plan", "--csv", bad)
    assert code == 1
    assert (
        out.splitlines()[-2] == "Fix the rows above (workos-migrate validate --auto-fix fixes some), then plan again."
    )
    code, out, _ = run("plan", "--csv", bad, "--require-membership")
    assert out.splitlines()[-2].startswith("Fix the options and the rows above")


def test_a_file_with_old_mac_line_endings_is_told_about_line_endings_not_quotes(tmp_path: Path) -> None:
    path = tmp_path / "mac.csv"
    path.write_bytes(b"email,first_name\ra@x.com,Ann\rb@x.com,Bo\r")
    for command in ("plan", "validate"):
        code, _, err = run(command, "--csv", path)
        assert code == 2
        assert "bare carriage return (CR: old Mac line endings)" in err and "LF or CRLF" in err
        assert "quote" not in err


def test_configuration_errors_are_bullets_and_exit_2(good: Path) -> None:
    code, _, err = run("plan", "--csv", good, "--org-id", "org_1", "--org-external-id", "e", "--concurrency", "0")
    assert code == 2
    assert err.startswith("❌ Configuration errors:\n")
    assert "  • Cannot specify both --org-id and --org-external-id" in err
    assert "  • --concurrency must be between 1 and 100 (got 0)" in err


def test_missing_csv_exits_2(tmp_path: Path) -> None:
    code, _, err = run("plan", "--csv", tmp_path / "nope.csv")
    assert code == 2 and "CSV file not found" in err


def test_unusable_csv_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(b"name\nAlice\n")
    assert run("plan", "--csv", path)[0] == 2
    assert run("validate", "--csv", path)[0] == 2


def test_resume_takes_an_optional_job_id(good: Path) -> None:
    code, out, _ = run("execute", "--plan", "--csv", good, "--resume", "--json")
    assert code == 0 and json.loads(out)["options"]["resume"] is True
    code, out, _ = run("execute", "--plan", "--csv", good, "--resume", "job-7", "--json")
    assert json.loads(out)["options"]["resume"] == "job-7"


def test_plan_help_lists_only_flags_that_change_the_plan() -> None:
    code, out, _ = run("plan", "--help")
    assert code == 0
    for flag in ("--dry-run", "--quiet", "--yes", "--resume", "--retry-failed"):
        assert flag not in out
    for flag in ("--csv", "--org-id", "--concurrency", "--workers", "--rate-limit", "--errors-out", "--job-id"):
        assert flag in out
    assert run("plan", "--csv", "x.csv", "--dry-run")[0] == 2
    assert "--dry-run" in run("execute", "--help")[1]


def test_every_orchestrator_flag_is_accepted(good: Path, tmp_path: Path) -> None:
    code, out, _ = run(
        "execute", "--plan", "--csv", good, "--org-external-id", "acme", "--org-name", "Acme",
        "--create-org-if-missing",
        "--concurrency", "20", "--workers", "2", "--chunk-size", "500", "--rate-limit", "40",
        "--on-existing-user", "update", "--require-membership", "--dry-run", "--quiet",
        "--errors-out", tmp_path / "e.jsonl", "--job-id", "j1", "--checkpoint-dir", tmp_path / "c", "-y", "--json",
    )  # fmt: skip
    options = json.loads(out)["options"]
    assert code == 1  # the file names two organizations per user: duplicates once all rows join "acme"
    assert options["org_external_id"] == "acme" and options["workers"] == 2 and options["yes"] is True


def test_validate_exits_0_without_errors(good: Path) -> None:
    code, out, _ = run("validate", "--csv", good)
    assert code == 0 and "✓ No errors" in out


def test_validate_auto_fix_writes_a_fixed_copy_and_a_report(bad: Path, tmp_path: Path) -> None:
    fixed, report = tmp_path / "fixed.csv", tmp_path / "report.json"
    code, out, _ = run("validate", "--csv", bad, "--auto-fix", "--fixed-csv", fixed, "--report", report)
    assert code == 1
    assert f"Fixed copy: {fixed} (2 rows changed)" in out
    assert "❌ The fixed copy still has 1 errors" in out
    assert fixed.read_bytes().decode().splitlines() == ["email,email_verified", "a@x.com,true", "oops,"]
    data = json.loads(report.read_text())
    assert [issue["code"] for issue in data["issues"]] == [
        "email_verified_format",
        "email_invalid",
        "email_verified_invalid",
    ]
    assert ValidationReport.model_validate(data["summary"]).error_count == 2


def test_validate_auto_fix_exits_0_when_the_fixed_copy_has_no_error_left(
    write_users: CsvWriter, tmp_path: Path
) -> None:
    path = write_users([{"email": "a@x.com", "email_verified": "maybe"}, {"email": "b@x.com", "email_verified": "yes"}])
    assert run("validate", "--csv", path)[0] == 1
    fixed = tmp_path / "fixed.csv"
    code, out, _ = run("validate", "--csv", path, "--auto-fix", "--fixed-csv", fixed)
    assert code == 0, out
    assert "❌ 1 errors in 1 rows" in out and f"✓ The fixed copy has no errors: import {fixed}" in out
    code, out, _ = run("validate", "--csv", path, "--auto-fix", "--fixed-csv", fixed, "--json")
    assert ValidationReport.model_validate_json(out).fixed_error_count == 0


def test_validate_json_and_option_errors(bad: Path, tmp_path: Path) -> None:
    code, out, _ = run("validate", "--csv", bad, "--json")
    assert code == 1 and ValidationReport.model_validate_json(out).invalid_rows == 1
    code, _, err = run("validate", "--csv", bad, "--auto-fix")
    assert code == 2 and "--auto-fix needs --fixed-csv" in err
    code, _, err = run("validate", "--csv", bad, "--auto-fix", "--fixed-csv", bad)
    assert code == 2 and "must not overwrite the input CSV" in err


def test_fixed_copy_keeps_row_numbers_and_column_order(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text('metadata,email\n\n"{""n"": 1}",a@x.com\n\nb@x.com,\n')
    fixed = tmp_path / "out.csv"
    code, _, _ = run("validate", "--csv", source, "--auto-fix", "--fixed-csv", fixed)
    assert code == 1
    assert fixed.read_bytes().decode().split("\r\n") == [
        "metadata,email",
        "",
        '"{""n"": ""1""}",a@x.com',
        "",
        "b@x.com,",
        "",
    ]


def test_validate_single_org_flags_duplicates_across_org_columns(good: Path) -> None:
    assert run("validate", "--csv", good)[0] == 0
    code, out, _ = run("validate", "--csv", good, "--single-org")
    assert code == 1 and "email_duplicate_in_org" in out and "org_columns_ignored" in out


def test_report_and_plan_json_never_hold_a_password_hash_or_totp_secret(write_users: CsvWriter, tmp_path: Path) -> None:
    secrets = {"password": "Pa55-word-secret", "password_hash": BCRYPT[:-3] + "!!!", "totp_secret": "zz-totp-0!x"}
    path = write_users([{"email": "a@x.com", "password_hash_type": "bcrypt", **secrets}])
    report = tmp_path / "report.json"
    assert run("validate", "--csv", path, "--report", report)[0] == 1
    _, plan_json, _ = run("plan", "--csv", path, "--json")
    for text in (report.read_text(), plan_json):
        for value in secrets.values():
            assert value not in text and value[:10] not in text
