"""Error analysis on real runs against the sandbox, on hand-made errors files, and the retry CSV they produce."""

from __future__ import annotations

import csv
import hashlib
import json
import shlex
import shutil
from pathlib import Path
from typing import Any

import pytest

from core.analyze import MAX_GROUPS, ErrorAnalysis, analyze_errors
from core.engine import MigrationResult
from core.errors import JobStateError, OptionsError, SourceError
from core.options import MigrationOptions
from core.store import RowState
from server.render import command_for, suggestion_text
from tests.conftest import BCRYPT, FIREBASE, TOTP, CsvWriter, ImportRun

pytestmark = pytest.mark.anyio

USERS_ROUTE = "POST /user_management/users"
MEMBERSHIPS_ROUTE = "POST /user_management/organization_memberships"
ORGS_ROUTE = "POST /organizations"


def fault(route: str, rate: float) -> dict[str, Any]:
    return {"route": route, "kind": "fail_before", "rate": rate}


def read_csv(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def analyze(importer: ImportRun, job_id: str | None = None, **kwargs: Any) -> ErrorAnalysis:
    return analyze_errors(job_id, checkpoint_dir=importer.checkpoint_dir, **kwargs)


async def run_command(importer: ImportRun, command: str) -> MigrationResult:
    """Run the ``workos-migrate execute`` command the analysis printed, flag for flag, against the sandbox."""
    tokens = shlex.split(command)
    assert tokens[:2] == ["workos-migrate", "execute"]
    values: dict[str, Any] = {}
    rest = iter(tokens[2:])
    for token in rest:
        name = "csv_path" if token == "--csv" else token.removeprefix("--").replace("-", "_")
        values[name] = True if MigrationOptions.model_fields[name].annotation is bool else next(rest)
    assert Path(values.pop("checkpoint_dir")) == importer.checkpoint_dir
    return await importer.run(Path(values.pop("csv_path")), **values)


def org_row(email: str, org: str, **extra: str) -> dict[str, str]:
    return {"email": email, "org_external_id": org, "org_name": org.title(), **extra}


def snapshot(state: dict[str, Any]) -> tuple[list[str], list[tuple[str, str]], list[str]]:
    """Users by email, memberships by (email, organization external id), organizations: sorted, duplicates kept."""
    emails = {user["id"]: user["email"] for user in state["users"]}
    orgs = {org["id"]: org["external_id"] for org in state["organizations"]}
    memberships = [(emails[m["user_id"]], orgs[m["organization_id"]]) for m in state["organization_memberships"]]
    return sorted(emails.values()), sorted(memberships), sorted(orgs.values())


# -- real runs ------------------------------------------------------------------------------------------


async def test_rerunning_the_retry_file_reaches_the_state_of_the_original_csv_minus_invalid_rows(
    importer: ImportRun, write_users: CsvWriter, tmp_path: Path
) -> None:
    rows = []
    for index in range(14):
        extra = {"password_hash": FIREBASE, "password_hash_type": "firebase-scrypt"} if index % 4 == 3 else {}
        extra = extra or {"password_hash": BCRYPT, "password_hash_type": "bcrypt"}
        if index in (5, 6):
            extra["totp_secret"] = TOTP
        rows.append(org_row(f"u{index}@example.com", ("acme", "beta", "gamma")[index % 3], **extra))
        if index < 4:
            rows.append(org_row(f"u{index}@example.com", "delta", **extra))
    rows += [org_row("not-an-email", "acme"), org_row("u1@example.com", "beta")]
    source = write_users(rows)
    importer.sandbox.configure(
        faults=[fault(USERS_ROUTE, 0.85), fault(MEMBERSHIPS_ROUTE, 0.85), fault(ORGS_ROUTE, 0.5)], fault_seed=11
    )
    first = await importer.run(source, create_org_if_missing=True, concurrency=1, max_outage=0)
    assert first.invalid == 2 and first.failed > first.invalid

    retry = tmp_path / "retry.csv"
    analysis = analyze(importer, first.job_id, retry_csv=retry)
    assert analysis.exit_code == 0
    assert analysis.failures == first.failed and analysis.retryable == first.failed - 2
    assert {g.phase for g in analysis.groups if g.retryable} <= {"organization", "user", "membership"}
    assert analysis.retry_file is not None and analysis.retry_file.rows == analysis.retryable
    assert "--create-org-if-missing" in _rerun(analysis)

    importer.sandbox.configure(faults=[])
    second = await run_command(importer, _rerun(analysis))
    assert (second.failed, second.total_rows) == (0, analysis.retryable)

    state = importer.sandbox.state()
    users, memberships, orgs = snapshot(state)
    valid = rows[:-2]
    assert users == sorted({row["email"] for row in valid})
    assert memberships == sorted({(row["email"], row["org_external_id"]) for row in valid})
    assert orgs == ["acme", "beta", "delta", "gamma"]
    digests = {row["email"]: hashlib.sha256(row["password_hash"].encode()).hexdigest() for row in valid}
    assert {user["email"]: user["password_hash_sha256"] for user in state["users"]} == digests
    emails = {user["id"]: user["email"] for user in state["users"]}
    assert sorted(emails[factor["user_id"]] for factor in state["auth_factors"]) == [
        "u5@example.com",
        "u6@example.com",
    ]


async def test_retryable_failures_of_a_fault_run_are_grouped_with_reasons_and_examples(
    importer: ImportRun, write_users: CsvWriter
) -> None:
    source = write_users([org_row(f"u{index}@example.com", "acme") for index in range(20)])
    importer.sandbox.configure(faults=[fault(USERS_ROUTE, 0.8), fault(MEMBERSHIPS_ROUTE, 0.8)], fault_seed=3)
    result = await importer.run(source, create_org_if_missing=True, concurrency=1, max_outage=0)
    failed = {o.row: o for o in importer.store().iter_rows(result.job_id, state=RowState.FAILED)}

    analysis = analyze(importer, result.job_id)
    assert analysis.failures == len(failed) > 0 and analysis.retryable_share == 1.0
    assert analysis.exit_code == 0 and analysis.retry_file is None
    by_phase = {group.phase: group for group in analysis.groups}
    assert sum(group.count for group in analysis.groups) == len(failed)
    assert by_phase["user"].code == "outcome_unknown" and by_phase["user"].status == 500
    assert "adds only the missing membership" in by_phase["membership"].reason
    for group in analysis.groups:
        assert 1 <= len(group.examples) <= 3
        for example in group.examples:
            assert failed[example.row].email == example.email and failed[example.row].error_phase == group.phase
    assert any("--retry-csv retry.csv" in item for item in map(suggestion_text, analysis.suggestions))


async def test_validation_failures_are_not_retryable_and_say_which_column_rule_and_example(
    importer: ImportRun, write_users: CsvWriter, tmp_path: Path
) -> None:
    rows = [
        {"email": "ok@example.com"},
        {"email": "bad@@example.com"},
        {"email": "ok@example.com"},
        {"email": "meta@example.com", "metadata": "{plan: pro}"},
    ]
    result = await importer.run(write_users(rows))
    analysis = analyze(importer, result.job_id, retry_csv=tmp_path / "retry.csv")
    assert analysis.exit_code == 1 and analysis.retryable == 0 and analysis.failures == 3
    assert analysis.retry_file is None and not (tmp_path / "retry.csv").exists()
    assert any("nothing to retry" in warning for warning in analysis.warnings)
    (tmp_path / "retry.csv").write_text("email\nold@example.com\n")
    again = analyze(importer, result.job_id, retry_csv=tmp_path / "retry.csv")
    assert any("from an earlier analysis, was removed" in warning for warning in again.warnings)
    assert not (tmp_path / "retry.csv").exists()
    codes = {group.code: group for group in analysis.groups}
    assert set(codes) == {"email_invalid", "email_duplicate_in_org", "metadata_not_json"}
    metadata = codes["metadata_not_json"]
    assert (metadata.severity, metadata.category, metadata.retryable) == ("error", "data", False)
    assert "column metadata" in metadata.suggestion and '{"plan": "pro"}' in metadata.suggestion
    assert codes["email_invalid"].message == "Row <number>, column email: '<value>' is not a valid email address"


async def test_existing_users_refused_by_the_fail_policy_are_explained_as_policy_not_retried(
    importer: ImportRun, write_users: CsvWriter, tmp_path: Path
) -> None:
    await importer.run(write_users([{"email": "old@example.com"}], name="before.csv"))
    source = write_users([org_row("old@example.com", "acme"), org_row("new@example.com", "acme")])
    result = await importer.run(source, create_org_if_missing=True, on_existing_user="fail")
    assert result.failed == 1

    analysis = analyze(importer, result.job_id, retry_csv=tmp_path / "retry.csv")
    (group,) = analysis.groups
    assert (group.code, group.category, group.severity, group.retryable) == (
        "email_not_available",
        "policy",
        "info",
        False,
    )
    assert "--on-existing-user adopt" in group.suggestion and analysis.exit_code == 1
    assert analysis.by_category == {"policy": 1}

    included = analyze(importer, result.job_id, retry_csv=tmp_path / "retry.csv", include_non_retryable=True)
    assert included.exit_code == 0 and included.retry_file is not None
    assert (included.retry_file.retryable_rows, included.retry_file.non_retryable_rows) == (0, 1)
    assert read_csv(tmp_path / "retry.csv")[1][0] == "old@example.com"
    assert "--on-existing-user adopt" in _rerun(included)
    assert any("adopts the users of the non-retryable rows" in warning for warning in included.warnings)


async def test_each_failed_row_of_a_multi_org_user_is_kept_and_the_rerun_adopts_the_user_under_fail_policy(
    importer: ImportRun, write_users: CsvWriter, tmp_path: Path
) -> None:
    rows = [
        org_row("ada@example.com", "acme"),
        org_row("ada@example.com", "beta"),
        org_row("ada@example.com", "gamma"),
        org_row("bob@example.com", "acme"),
    ]
    source = write_users(rows)
    # Four attempts per row: the first two rows (ada in acme and beta) lose their memberships.
    importer.sandbox.add_hook("POST", "/user_management/organization_memberships", 500, count=8)
    first = await importer.run(source, create_org_if_missing=True, on_existing_user="fail", concurrency=1, max_outage=0)
    assert (first.failed, first.users_created) == (2, 2)

    retry = tmp_path / "retry.csv"
    analysis = analyze(importer, first.job_id, retry_csv=retry)
    assert [group.phase for group in analysis.groups] == ["membership"] and analysis.groups[0].retryable
    assert read_csv(retry) == [list(rows[0]), list(rows[0].values()), list(rows[1].values())]
    assert "--on-existing-user adopt" in _rerun(analysis)
    assert any("--on-existing-user fail" in warning for warning in analysis.warnings)

    refused = await importer.run(retry, create_org_if_missing=True, on_existing_user="fail")
    assert refused.failed == 2, "the first run's policy would refuse the user it created itself"
    second = await run_command(importer, _rerun(analysis))
    assert (second.failed, second.users_adopted, second.users_created, second.memberships_created) == (0, 1, 0, 2)
    users, memberships, _ = snapshot(importer.sandbox.state())
    assert users == ["ada@example.com", "bob@example.com"]
    assert memberships == sorted({(row["email"], row["org_external_id"]) for row in rows})


async def test_retry_csv_keeps_the_header_column_order_and_every_field_of_the_source_rows(
    importer: ImportRun, write_csv: CsvWriter, tmp_path: Path
) -> None:
    header = ["Last_Name", "EMAIL", "password_hash", "department", "password_hash_type", "totp_secret", "metadata"]
    rows = [
        ["Lovelace, Ada", "ada@example.com", BCRYPT, "R&D\nLondon", "bcrypt", TOTP, '{"plan": "pro"}'],
        ["", "oops", "", "", "", "", ""],
        ["Hopper", "grace@example.com", FIREBASE, 'say "hi"', "firebase-scrypt", "", ""],
    ]
    source = write_csv(header, rows, bom=True)
    importer.sandbox.configure(faults=[fault(USERS_ROUTE, 1.0)])
    result = await importer.run(source, max_outage=0)
    assert result.failed == 3

    retry = tmp_path / "retry.csv"
    analysis = analyze(importer, result.job_id, retry_csv=retry)
    assert analysis.retry_file is not None and analysis.retry_file.rows == 2
    assert read_csv(retry) == [header, rows[0], rows[2]]

    with_invalid = analyze(importer, result.job_id, retry_csv=retry, include_non_retryable=True)
    assert with_invalid.retry_file is not None and with_invalid.retry_file.non_retryable_rows == 1
    assert read_csv(retry) == [header, *rows]


async def test_retry_csv_is_refused_when_the_source_changed_since_the_run(
    importer: ImportRun, write_users: CsvWriter, tmp_path: Path
) -> None:
    source = write_users([{"email": "a@example.com"}, {"email": "b@example.com"}])
    importer.sandbox.configure(faults=[fault(USERS_ROUTE, 1.0)])
    result = await importer.run(source, max_outage=0)
    source.write_text(source.read_text().replace("b@example.com", "c@example.com"))

    retry = tmp_path / "retry.csv"
    with pytest.raises(SourceError, match="changed since the job ran"):
        analyze(importer, result.job_id, retry_csv=retry)
    assert not retry.exists() and not list(tmp_path.glob("*.partial"))


async def test_an_errors_file_without_its_job_record_rebuilds_rows_checked_by_email(
    importer: ImportRun, write_users: CsvWriter, tmp_path: Path
) -> None:
    source = write_users([org_row(f"u{index}@example.com", "acme") for index in range(4)])
    importer.sandbox.configure(faults=[fault(USERS_ROUTE, 1.0)])
    result = await importer.run(source, create_org_if_missing=True, max_outage=0)
    assert result.errors_file is not None
    errors = shutil.copy(result.errors_file, tmp_path / "errors.jsonl")
    elsewhere = tmp_path / "no-store"
    retry = tmp_path / "retry.csv"

    with pytest.raises(OptionsError, match="--csv SOURCE"):
        analyze_errors(errors_file=Path(errors), checkpoint_dir=elsewhere, retry_csv=retry)

    analysis = analyze_errors(errors_file=Path(errors), checkpoint_dir=elsewhere, source_csv=source, retry_csv=retry)
    assert analysis.job_id == result.job_id and analysis.job_state is None
    assert analysis.retry_file is not None and analysis.retry_file.rows == 4
    assert _rerun(analysis) == f"workos-migrate execute --csv {retry}"
    warnings = " ".join(analysis.warnings)
    assert "was not found" in warnings and "by email" in warnings and "organization options" in warnings

    shuffled = write_users([org_row(f"u{index}@example.com", "acme") for index in (1, 0, 2, 3)], name="other.csv")
    with pytest.raises(SourceError, match="another email"):
        analyze_errors(errors_file=Path(errors), checkpoint_dir=elsewhere, source_csv=shuffled, retry_csv=retry)


async def test_the_job_errors_file_finds_its_job_in_the_store_above_it(
    importer: ImportRun, write_users: CsvWriter, tmp_path: Path
) -> None:
    source = write_users([org_row("a@example.com", "acme")])
    importer.sandbox.configure(faults=[fault(USERS_ROUTE, 1.0)])
    result = await importer.run(
        source, org_external_id="acme", org_name="Acme", create_org_if_missing=True, max_outage=0
    )
    assert result.errors_file is not None

    analysis = analyze_errors(errors_file=Path(result.errors_file), retry_csv=tmp_path / "retry.csv")
    assert analysis.job_state == "completed_with_errors" and analysis.source_csv == str(source.resolve())
    assert "--org-external-id acme --org-name Acme --create-org-if-missing" in _rerun(analysis)


async def test_the_ledger_and_its_jsonl_and_csv_errors_files_give_the_same_analysis(
    importer: ImportRun, write_users: CsvWriter, tmp_path: Path
) -> None:
    rows = [org_row(f"u{i}@example.com", "acme", role_slugs="admin" if i % 5 else "ghost") for i in range(15)]
    source = write_users([*rows, {"email": "bad"}])
    importer.sandbox.configure(faults=[fault(USERS_ROUTE, 0.8)], fault_seed=5)
    errors_csv = tmp_path / "errors.csv"
    result = await importer.run(source, create_org_if_missing=True, concurrency=1, errors_out=errors_csv, max_outage=0)
    assert result.errors_file is not None

    def shape(analysis: ErrorAnalysis) -> list[tuple[Any, ...]]:
        return [(g.phase, g.status, g.code, g.sub_codes, g.message, g.count, g.retryable) for g in analysis.groups]

    from_ledger = analyze(importer, result.job_id)
    assert {group.code for group in from_ledger.groups} >= {"invalid_role", "outcome_unknown", "email_invalid"}
    role = next(group for group in from_ledger.groups if group.code == "invalid_role")
    assert (role.phase, role.category, role.retryable) == ("role", "configuration", False)
    for path in (Path(result.errors_file), errors_csv):
        from_file = analyze_errors(errors_file=path, checkpoint_dir=importer.checkpoint_dir)
        assert shape(from_file) == shape(from_ledger)
        assert from_file.bad_lines == 0 and from_file.exit_code == from_ledger.exit_code == 0


async def test_rows_without_an_outcome_are_pointed_to_resume(importer: ImportRun, write_users: CsvWriter) -> None:
    source = write_users([{"email": f"u{index}@example.com"} for index in range(3)])
    job = importer.store()
    from core.engine import prepare_job

    prepared = prepare_job(job, importer.options(source))
    analysis = analyze(importer, prepared.id)
    assert analysis.pending_rows == 3 and analysis.failures == 0 and analysis.exit_code == 1
    assert any(f"workos-migrate resume {prepared.id}" in item for item in map(suggestion_text, analysis.suggestions))


# -- hand-made errors files -----------------------------------------------------------------------------


def record(number: int, **fields: Any) -> dict[str, Any]:
    base = {"job_id": "job-x", "row": number, "email": f"u{number}@example.com", "phase": "user", "status": 500}
    return {**base, "code": "outcome_unknown", "message": "user creation kept failing", "retryable": True, **fields}


def write_jsonl(path: Path, lines: list[Any]) -> Path:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def test_bad_lines_are_skipped_counted_and_warned_about_never_fatal(tmp_path: Path) -> None:
    errors = write_jsonl(
        tmp_path / "errors.jsonl",
        [
            record(2),
            "this is not json",
            "[1, 2, 3]",
            record(3, row="three"),
            "",
            record(4, row=-4),
            record(5, phase="validation", code="email_invalid", status=None, retryable=False),
            record(6, sub_codes={"not": "a list"}, message=["odd"]),
            '{"job_id": "job-x", "row": 7, "phase": "us',
        ],
    )
    analysis = analyze_errors(errors_file=errors, checkpoint_dir=tmp_path / "none")
    assert analysis.failures == 3 and analysis.bad_lines == 5 and analysis.retryable == 2
    assert analysis.exit_code == 0
    (warning,) = [w for w in analysis.warnings if "unreadable lines" in w]
    for expected in ("line 2: not JSON", "line 3: not a JSON object", "line 4: no valid row number", "line 9"):
        assert expected in warning


def test_a_file_of_only_bad_lines_is_unusable_input(tmp_path: Path) -> None:
    errors = write_jsonl(tmp_path / "errors.jsonl", ["nope", "{}", '{"row": 0}'])
    analysis = analyze_errors(errors_file=errors, checkpoint_dir=tmp_path / "none")
    assert (analysis.failures, analysis.bad_lines, analysis.exit_code) == (0, 3, 2)


def test_an_empty_errors_file_means_nothing_failed_and_exits_0(tmp_path: Path) -> None:
    errors = write_jsonl(tmp_path / "errors.jsonl", [])
    analysis = analyze_errors(errors_file=errors, checkpoint_dir=tmp_path / "none")
    assert (analysis.failures, analysis.exit_code, analysis.groups) == (0, 0, [])


def test_a_csv_errors_file_with_bad_lines_is_read_like_jsonl(tmp_path: Path) -> None:
    errors = tmp_path / "errors.csv"
    errors.write_text(
        "job_id,row,email,phase,status,code,sub_codes,message,request_id,retryable,attempts,timestamp\n"
        "job-x,2,a@x.com,membership,502,server_error,,bad gateway,req_1,True,4,\n"
        "job-x,3,b@x.com,user,400,user_creation_error,external_id_already_used,taken,req_2,False,1,\n"
        "job-x,4,c@x.com\n"
        "job-x,row,d@x.com,user,500,x,,m,,True,1,\n"
    )
    analysis = analyze_errors(errors_file=errors, checkpoint_dir=tmp_path / "none")
    assert (analysis.failures, analysis.retryable, analysis.bad_lines) == (2, 1, 2)
    codes = {group.code: group for group in analysis.groups}
    assert codes["user_creation_error"].sub_codes == ["external_id_already_used"]
    assert codes["user_creation_error"].category == "data"


def test_records_of_another_job_are_skipped_with_a_warning(tmp_path: Path) -> None:
    errors = write_jsonl(tmp_path / "errors.jsonl", [record(2), record(3, job_id="job-y"), record(4)])
    analysis = analyze_errors(errors_file=errors, checkpoint_dir=tmp_path / "none")
    assert analysis.job_id == "job-x" and analysis.failures == 2
    assert any("1 records of other jobs than job-x" in warning for warning in analysis.warnings)


def test_groups_are_capped_and_later_causes_fold_into_catch_all_groups(tmp_path: Path) -> None:
    lines = [record(index + 2, code=f"code_{index}", status=500 if index % 2 else 422) for index in range(1500)]
    analysis = analyze_errors(errors_file=write_jsonl(tmp_path / "e.jsonl", lines), checkpoint_dir=tmp_path / "n")
    assert MAX_GROUPS <= len(analysis.groups) <= MAX_GROUPS + 2
    assert sum(group.count for group in analysis.groups) == 1500 and analysis.retryable == 750
    other = [group for group in analysis.groups if group.code == "(other causes)"]
    assert {group.retryable for group in other} == {True, False}


def test_rows_of_a_hand_made_file_are_written_once_in_source_order(tmp_path: Path, write_users: CsvWriter) -> None:
    source = write_users([{"email": f"u{row}@example.com", "last_name": f"L{row}"} for row in range(2, 8)])
    errors = write_jsonl(tmp_path / "errors.jsonl", [record(6), record(3), record(6), record(2)])
    retry = tmp_path / "retry.csv"
    analysis = analyze_errors(errors_file=errors, checkpoint_dir=tmp_path / "none", source_csv=source, retry_csv=retry)
    assert analysis.retry_file is not None and analysis.retry_file.rows == 3
    assert [row[0] for row in read_csv(retry)[1:]] == ["u2@example.com", "u3@example.com", "u6@example.com"]


def test_a_row_missing_from_the_source_refuses_the_retry_file(tmp_path: Path, write_users: CsvWriter) -> None:
    source = write_users([{"email": "u2@example.com"}])
    errors = write_jsonl(tmp_path / "errors.jsonl", [record(2), record(9)])
    with pytest.raises(SourceError, match="row 9 is not in"):
        analyze_errors(
            errors_file=errors, checkpoint_dir=tmp_path / "none", source_csv=source, retry_csv=tmp_path / "r.csv"
        )


def test_outputs_may_not_overwrite_inputs_and_unknown_inputs_are_clear_errors(
    tmp_path: Path, write_users: CsvWriter
) -> None:
    errors = write_jsonl(tmp_path / "errors.jsonl", [record(2)])
    with pytest.raises(OptionsError, match="must not overwrite an input"):
        analyze_errors(errors_file=errors, checkpoint_dir=tmp_path, report=errors)
    with pytest.raises(SourceError, match="errors file not found"):
        analyze_errors(errors_file=tmp_path / "missing.jsonl")
    with pytest.raises(JobStateError, match="no job store"):
        analyze_errors("job-x", checkpoint_dir=tmp_path / "empty")


def test_the_report_is_the_analysis_as_json(tmp_path: Path) -> None:
    errors = write_jsonl(tmp_path / "errors.jsonl", [record(2), record(3, status=429, code="request_failed")])
    report = tmp_path / "report.json"
    analysis = analyze_errors(errors_file=errors, checkpoint_dir=tmp_path / "none", report=report)
    assert ErrorAnalysis.model_validate_json(report.read_text()) == analysis
    assert any("lower --rate-limit" in item for item in map(suggestion_text, analysis.suggestions))


def _rerun(analysis: ErrorAnalysis) -> str:
    """The re-run step as the CLI prints it."""
    assert analysis.rerun_step is not None
    return command_for(analysis.rerun_step)
