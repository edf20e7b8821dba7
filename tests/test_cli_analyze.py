"""``workos-migrate analyze`` (and its alias ``analyze-errors``): terminal output, JSON, exit codes, secrets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from core import ErrorAnalysis
from server.cli import main
from tests.conftest import BCRYPT, FIREBASE, TOTP, CsvWriter, ImportRun

pytestmark = pytest.mark.anyio

WEAK_PASSWORD = "Zq7!xw"
"""A plaintext password WorkOS refuses as too short (the sandbox wants 8 characters)."""


def run(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, [str(arg) for arg in args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
async def failed_job(importer: ImportRun, write_users: CsvWriter) -> str:
    """A job whose every user create failed on 5xx, with one invalid row and one weak plaintext password."""
    rows = [
        {"email": "ada@example.com", "password_hash": BCRYPT, "password_hash_type": "bcrypt", "totp_secret": TOTP},
        {"email": "bob@example.com", "password_hash": FIREBASE, "password_hash_type": "firebase-scrypt"},
        {"email": "weak@example.com", "password": WEAK_PASSWORD},
        {"email": "broken"},
    ]
    importer.sandbox.add_hook("POST", "/user_management/users", 500, count=8)
    result = await importer.run(write_users(rows), concurrency=1, max_outage=0)
    assert (result.failed, result.invalid) == (4, 1)
    return result.job_id


async def test_analyze_shows_top_groups_share_suggestions_and_the_command_to_rerun(
    failed_job: str, importer: ImportRun, tmp_path: Path
) -> None:
    retry = tmp_path / "retry.csv"
    code, out, _ = run("analyze", failed_job, "--checkpoint-dir", importer.checkpoint_dir, "--retry-csv", retry)
    assert code == 0
    assert f"Error analysis of job {failed_job} (completed_with_errors): 4 failed rows" in out
    assert "Retryable:   2 of 4 (50%)" in out
    assert "↻ 2 (50.0%)  user · 500 · outcome_unknown  [retryable]" in out
    assert "✗ 1 (25.0%)  user · 400 · password_strength_error (password_too_short)  [data]" in out
    assert "✗ 1 (25.0%)  validation · email_invalid  [data]" in out
    assert "Suggestions:\n  • Re-run the 2 retryable rows (50% of failures) with the re-run command." in out
    assert f"Retry file:  {retry} (2 retryable rows)" in out
    assert f"To re-run:   workos-migrate execute --csv {retry} " in out


async def test_the_alias_and_json_print_the_same_analysis(failed_job: str, importer: ImportRun) -> None:
    code, out, _ = run("analyze-errors", failed_job, "--checkpoint-dir", importer.checkpoint_dir, "--json")
    assert code == 0
    analysis = ErrorAnalysis.model_validate_json(out)
    assert (analysis.job_id, analysis.failures, analysis.retryable, analysis.exit_code) == (failed_job, 4, 2, 0)


async def test_analyze_exits_1_when_nothing_is_retryable(importer: ImportRun, write_users: CsvWriter) -> None:
    result = await importer.run(write_users([{"email": "broken"}]))
    code, out, _ = run("analyze", result.job_id, "--checkpoint-dir", importer.checkpoint_dir)
    assert code == 1 and "Nothing retryable: see the fixes above." in out


def test_analyze_exits_2_on_unusable_input(tmp_path: Path) -> None:
    code, _, err = run("analyze", "--errors", tmp_path / "missing.jsonl")
    assert code == 2 and "errors file not found" in err
    code, _, err = run("analyze", "job-nope", "--checkpoint-dir", tmp_path)
    assert code == 2 and "no job store" in err
    code, _, err = run("analyze", "--errors", tmp_path / "e.jsonl", "--include-non-retryable")
    assert code == 2 and "--include-non-retryable needs --retry-csv" in err
    (tmp_path / "bad.jsonl").write_text("not json\n")
    code, out, _ = run("analyze", "--errors", tmp_path / "bad.jsonl", "--checkpoint-dir", tmp_path / "none")
    assert code == 2 and "1 unreadable lines" in out


async def test_no_password_hash_or_totp_secret_leaves_the_source_except_into_the_retry_csv(
    failed_job: str, importer: ImportRun, tmp_path: Path
) -> None:
    secrets = (BCRYPT, FIREBASE, TOTP, WEAK_PASSWORD)
    retry, report = tmp_path / "retry.csv", tmp_path / "report.json"
    store = ("--checkpoint-dir", importer.checkpoint_dir)
    errors_file = importer.checkpoint_dir / failed_job / "errors.jsonl"
    _, text, text_err = run("analyze", failed_job, *store, "--retry-csv", retry, "--include-non-retryable")
    _, as_json, json_err = run("analyze", failed_job, *store, "--json", "--report", report)
    _, from_file, file_err = run("analyze-errors", "--errors", errors_file, *store, "--report", tmp_path / "r2.json")
    outputs = [text, text_err, as_json, json_err, from_file, file_err, report.read_text(), errors_file.read_text()]
    outputs.append((tmp_path / "r2.json").read_text())
    for output in outputs:
        for secret in secrets:
            assert secret not in output
    assert json.loads(as_json)["failures"] == 4
    rebuilt = retry.read_text()
    for secret in secrets:
        assert secret in rebuilt, "the retry CSV carries every column of the source, by design"


def test_analyze_of_an_empty_errors_file_says_nothing_failed_and_exits_0(tmp_path: Path) -> None:
    errors, retry = tmp_path / "errors.jsonl", tmp_path / "retry.csv"
    errors.write_text("")
    retry.write_text("email\nstale@example.com\n")
    code, out, _ = run("analyze-errors", "--errors", errors, "--retry-csv", retry, "--checkpoint-dir", tmp_path / "c")
    assert code == 0, out
    assert "0 failed rows" in out and "Nothing failed: there is nothing to retry." in out
    assert not retry.exists(), "a retry file from an earlier analysis would be re-run by a script"


async def test_analyze_of_a_job_without_failures_exits_0(importer: ImportRun, write_users: CsvWriter) -> None:
    result = await importer.run(write_users([{"email": "fine@example.com"}]))
    code, out, _ = run("analyze", result.job_id, "--checkpoint-dir", importer.checkpoint_dir)
    assert code == 0 and "Nothing failed" in out
