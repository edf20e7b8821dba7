"""Nothing one row, one disk or one store meets stops a job or reaches a user as a traceback."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import anyio
import pytest
from click.testing import CliRunner
from mcp import Client

from core import runloop
from core.csvsource import CsvSource
from core.engine import execute_job, prepare_job, start_resume
from core.errorlog import iter_records, write_errors
from core.errors import JobStateError, SourceError, StoreError
from core.store import STORE_FILENAME, JobState, JobStore, MembershipAction, RowOutcome, RowState
from core.validation import validate_csv
from core.workos.breaker import BreakerPolicy
from core.workos.client import WorkOSClient
from core.workos.sandbox import SandboxHandle
from server.cli import main
from server.mcp import create_server
from tests.conftest import BCRYPT, ImportRun, write_rows
from tests.mcp_support import server_settings, text

pytestmark = pytest.mark.anyio

SURROGATE_METADATA = '{"a":"\\ud800"}'


def people(count: int, **extra: str) -> list[dict[str, str]]:
    return [{"email": f"u{i}@example.com", **extra} for i in range(count)]


# -- poison rows ------------------------------------------------------------------------------------------


def test_a_lone_surrogate_in_metadata_is_a_validation_error_naming_row_and_column(tmp_path: Path) -> None:
    path = write_rows(tmp_path / "users.csv", [{"email": "a@x.com", "metadata": SURROGATE_METADATA},
                                              {"email": "b@x.com", "metadata": '{"a":"\\u00e9"}'}])  # fmt: skip
    report = validate_csv(path)
    assert [(issue.rows, issue.column, issue.code) for issue in report.issues] == [
        ([2], "metadata", "metadata_invalid_unicode")
    ]
    assert report.issues[0].message.startswith("Row 2, column metadata:")


def test_metadata_nested_5000_levels_is_a_validation_error(tmp_path: Path) -> None:
    nested = '{"a":' * 5000 + '"x"' + "}" * 5000
    report = validate_csv(write_rows(tmp_path / "users.csv", [{"email": "a@x.com", "metadata": nested}]))
    assert [(issue.rows, issue.code) for issue in report.issues] == [([2], "metadata_too_deep")]


@pytest.mark.parametrize(("where", "row", "column"), [("row", 2, "'first_name'"), ("header", 1, "number 2")])
def test_a_field_over_1_mib_is_a_source_error_naming_row_and_column(
    tmp_path: Path, where: str, row: int, column: str
) -> None:
    huge = "x" * ((1 << 20) + 10)
    path = tmp_path / "users.csv"
    path.write_text(f"email,{huge}\na@x.com,b\n" if where == "header" else f"email,first_name\na@x.com,{huge}\n")
    with pytest.raises(SourceError, match=f"Row {row} of .*, column {column}: a field is longer"):
        CsvSource(path)


async def test_a_surrogate_row_fails_validation_and_every_other_row_imports(
    importer: ImportRun, tmp_path: Path, sandbox: SandboxHandle
) -> None:
    rows = people(20)
    rows[7]["metadata"] = SURROGATE_METADATA
    result = await importer.run(write_rows(tmp_path / "users.csv", rows))
    assert (result.succeeded, result.invalid, result.pending) == (19, 1, 0)
    assert len(sandbox.state()["users"]) == 19


async def test_whatever_a_row_raises_fails_that_row_alone_without_its_secrets(
    importer: ImportRun, tmp_path: Path, sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_user = WorkOSClient.create_user

    async def create_or_crash(self: WorkOSClient, **fields: object) -> object:
        if fields["email"] == "u3@example.com":
            raise KeyError(f"surprise {fields['password_hash']}")
        return await create_user(self, **fields)  # type: ignore[arg-type]

    monkeypatch.setattr(WorkOSClient, "create_user", create_or_crash)
    rows = people(12, password_hash=BCRYPT, password_hash_type="bcrypt")
    result = await importer.run(write_rows(tmp_path / "users.csv", rows))
    assert (result.succeeded, result.failed, result.pending, result.state) == (11, 1, 0, JobState.COMPLETED_WITH_ERRORS)
    (failed,) = importer.store().iter_rows(result.job_id, state=RowState.FAILED)
    assert (failed.row, failed.error_phase, failed.error_code) == (5, "user", "unexpected_error")
    assert failed.error_message is not None and "KeyError" in failed.error_message
    assert BCRYPT not in failed.error_message and "[redacted]" in failed.error_message


async def test_a_row_that_cannot_become_a_record_fails_alone(
    importer: ImportRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    to_record = runloop.to_record

    def crash_on_row_4(row: int, fields: list[str], columns: object) -> object:
        if row == 4:
            raise RecursionError("deep secret")
        return to_record(row, fields, columns)  # type: ignore[arg-type]

    monkeypatch.setattr(runloop, "to_record", crash_on_row_4)
    result = await importer.run(write_rows(tmp_path / "users.csv", people(6)))
    assert (result.succeeded, result.failed, result.pending) == (5, 1, 0)
    (failed,) = importer.store().iter_rows(result.job_id, state=RowState.FAILED)
    assert (failed.row, failed.error_phase, failed.error_code) == (4, "read", "unexpected_error")
    assert failed.error_message == "unexpected RecursionError while reading the row"


# -- two runs of one job ----------------------------------------------------------------------------------


async def test_a_second_run_of_a_held_job_is_told_already_running(importer: ImportRun, tmp_path: Path) -> None:
    store = importer.store()
    job = prepare_job(store, importer.options(write_rows(tmp_path / "users.csv", people(3))))
    store.start_runner(job.id, lead=True)  # another run holds the job (this pid is alive)
    with pytest.raises(JobStateError, match="already running"):
        await execute_job(store, job.id, api_key=importer.sandbox.api_key)


def test_the_cli_loser_of_two_resumes_gets_one_line_and_exit_2(
    importer: ImportRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORKOS_API_KEY", importer.sandbox.api_key)
    store = importer.store()
    job = prepare_job(store, importer.options(write_rows(tmp_path / "users.csv", people(3))))
    store.start_runner(job.id, lead=True)
    result = CliRunner().invoke(main, ["resume", job.id, "--checkpoint-dir", str(importer.checkpoint_dir)])
    assert result.exit_code == 2
    assert "already running" in result.output and "Traceback" not in result.output


# -- disks and stores -------------------------------------------------------------------------------------


async def test_a_full_disk_under_the_store_stops_the_run_with_one_store_error(
    importer: ImportRun, tmp_path: Path
) -> None:
    store = importer.store()
    job = prepare_job(store, importer.options(write_rows(tmp_path / "users.csv", people(400))))
    (pages,) = store._db.execute("PRAGMA page_count").fetchone()
    store._db.execute(f"PRAGMA max_page_count = {pages + 2}")  # SQLite's own "database or disk is full"
    with pytest.raises(StoreError, match="the disk is full"):
        await execute_job(store, job.id, api_key=importer.sandbox.api_key)


async def test_an_errors_file_that_cannot_be_written_is_one_store_error(importer: ImportRun, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    path = write_rows(tmp_path / "users.csv", [{"email": "bad@"}, {"email": "a@x.com"}])
    store = importer.store()
    job = prepare_job(store, importer.options(path, errors_out=tmp_path / "out" / "errors.jsonl"))
    (tmp_path / "out").rmdir()
    (tmp_path / "out").write_text("a file where the directory was")
    with pytest.raises(StoreError, match=r"cannot write the errors file .*the ledger keeps every outcome"):
        await execute_job(store, job.id, api_key=importer.sandbox.api_key)
    assert store.get_job(job.id).state is JobState.COMPLETED_WITH_ERRORS


def test_a_damaged_store_is_one_line_and_exit_2(tmp_path: Path) -> None:
    directory = tmp_path / "checkpoints"
    directory.mkdir()
    (directory / STORE_FILENAME).write_bytes(b"this is not a database, it was overwritten" * 100)
    with pytest.raises(StoreError, match="is damaged"):
        JobStore.open(directory)
    result = CliRunner().invoke(main, ["status", "--checkpoint-dir", str(directory)])
    assert result.exit_code == 2 and "is damaged" in result.output and "Traceback" not in result.output


def test_a_damaged_page_found_while_reading_is_a_store_error(tmp_path: Path) -> None:
    store = JobStore.open(tmp_path / "checkpoints")
    with pytest.raises(StoreError):
        store._db.execute("SELECT * FROM no_such_table")
    store.close()


def test_a_store_truncated_to_zero_bytes_is_reported_and_left_alone(tmp_path: Path) -> None:
    directory = tmp_path / "checkpoints"
    JobStore.open(directory).close()
    path = directory / STORE_FILENAME
    path.write_bytes(b"")
    with pytest.raises(StoreError, match=r"is empty \(0 bytes\)"):
        JobStore.open(directory)
    assert path.stat().st_size == 0


def test_a_new_store_is_private_in_a_private_directory(tmp_path: Path) -> None:
    directory = tmp_path / "checkpoints"
    JobStore.open(directory).close()
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE((directory / STORE_FILENAME).stat().st_mode) == 0o600


def test_a_checkpoint_directory_that_is_a_symlink_is_refused(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "checkpoints").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(StoreError, match="symbolic link"):
        JobStore.open(tmp_path / "checkpoints")
    assert not (tmp_path / "elsewhere" / STORE_FILENAME).exists()


async def test_a_broken_store_does_not_stop_the_mcp_server(tmp_path: Path, sandbox: SandboxHandle) -> None:
    settings = server_settings(tmp_path, sandbox)
    settings.state_dir.mkdir(parents=True)
    (settings.state_dir / STORE_FILENAME).write_bytes(b"")
    async with Client(create_server(settings)) as client:
        result = await client.call_tool("list_migrations", {})
    assert result.is_error and "is empty (0 bytes)" in text(result)


def test_sqlite_errors_other_than_constraints_never_leave_the_store_bare(tmp_path: Path) -> None:
    store = JobStore.open(tmp_path / "checkpoints")
    with pytest.raises(StoreError) as raised:
        store._db.execute("PRAGMA no_such_pragma = (")
    assert isinstance(raised.value.__cause__, sqlite3.Error)
    store.close()


# -- waiting on other processes ---------------------------------------------------------------------------


@pytest.mark.parametrize("rows", [1, 0])
async def test_workers_on_a_tiny_job_or_a_resume_with_nothing_left_never_hang(
    importer: ImportRun, tmp_path: Path, rows: int
) -> None:
    path = write_rows(tmp_path / "users.csv", people(max(rows, 1)))
    store = importer.store()
    job = prepare_job(store, importer.options(path, workers=2))
    with anyio.fail_after(60):
        first = await execute_job(store, job.id, api_key=importer.sandbox.api_key)
        assert first.state is JobState.COMPLETED
        if rows == 0:  # a resume with nothing left, workers and all
            store.set_state(job.id, JobState.CANCELLED)
            again = await execute_job(store, job.id, api_key=importer.sandbox.api_key)
            assert again.state is JobState.COMPLETED and again.succeeded == 1


# -- resuming what failed ---------------------------------------------------------------------------------


async def test_resume_sends_rows_that_failed_for_a_transient_cause_again_by_default(
    importer: ImportRun, tmp_path: Path, sandbox: SandboxHandle
) -> None:
    sandbox.add_hook("POST", "/user_management/users", 500, count=8)  # 4 sends each: the first two rows fail
    first = await importer.run(write_rows(tmp_path / "users.csv", people(5)), concurrency=1, max_outage=0)
    assert (first.state, first.failed) == (JobState.COMPLETED_WITH_ERRORS, 2)
    store = importer.store()
    start_resume(store, first.job_id, retry_transient=False)  # --no-retry-transient: left as they are
    kept = await execute_job(store, first.job_id, api_key=sandbox.api_key)
    assert (kept.state, kept.failed) == (JobState.COMPLETED_WITH_ERRORS, 2)
    start_resume(store, first.job_id)
    again = await execute_job(store, first.job_id, api_key=sandbox.api_key)
    assert (again.state, again.succeeded, again.failed) == (JobState.COMPLETED, 5, 0)
    assert len(sandbox.state()["users"]) == 5


async def test_resume_never_sends_a_row_that_needs_a_fix_in_the_file(
    importer: ImportRun, tmp_path: Path, sandbox: SandboxHandle
) -> None:
    sandbox.add_hook(
        "POST", "/user_management/users", 400, body={"message": "Invalid metadata", "code": "invalid_metadata"}, count=1
    )
    first = await importer.run(write_rows(tmp_path / "users.csv", [{"email": "bad@"}, *people(3)]), concurrency=1)
    assert (first.failed, first.invalid) == (2, 1)
    store = importer.store()
    start_resume(store, first.job_id, retry_failed=True)
    again = await execute_job(store, first.job_id, api_key=sandbox.api_key)
    assert (again.failed, again.invalid, again.succeeded) == (2, 1, 2)
    assert sandbox.stats()["routes"]["POST /user_management/users"]["requests"] == 3


# -- private files and exact counters ---------------------------------------------------------------------


def test_a_csv_errors_file_is_private_and_escapes_formula_cells(tmp_path: Path) -> None:
    outcome = RowOutcome(
        row=2, chunk=0, state=RowState.FAILED, email="=HYPERLINK(1)@x.com", error_phase="user",
        error_code="x", error_message="-1+1 @SUM(A1)", retryable=False,
    )  # fmt: skip
    path = tmp_path / "errors.csv"
    write_errors([outcome], path, job_id="job-1")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert "'=HYPERLINK(1)@x.com" in text and "'-1+1 @SUM(A1)" in text
    [(_, record)] = list(iter_records(path, lambda line, why: None))
    assert record["email"] == "=HYPERLINK(1)@x.com" and record["message"] == "-1+1 @SUM(A1)"


async def test_workers_count_a_user_another_runner_created_as_reused_not_adopted(
    importer: ImportRun, tmp_path: Path, sandbox: SandboxHandle
) -> None:
    # Two chunks with the same emails in opposite orders: the two runners meet on the same emails at once.
    emails = [f"u{i}@example.com" for i in range(100)]
    rows = [{"email": email, "org_external_id": "org-a", "org_name": "A"} for email in emails]
    rows += [{"email": email, "org_external_id": "org-b", "org_name": "B"} for email in reversed(emails)]
    sandbox.configure(latency_ms=40)  # slow enough that the helper starts while the lead is in its chunk
    store = importer.store()
    options = importer.options(write_rows(tmp_path / "users.csv", rows), workers=2, chunk_size=100, concurrency=4,
                               create_org_if_missing=True)  # fmt: skip
    job = prepare_job(store, options)
    result = await execute_job(store, job.id, api_key=sandbox.api_key)
    assert (result.state, result.users_created, result.users_adopted) == (JobState.COMPLETED, 100, 0)
    assert result.memberships_created == 200 and len(sandbox.state()["users"]) == 100
    assert stat.S_IMODE((store.job_dir(job.id) / "worker-1.log").stat().st_mode) == 0o600


async def test_a_membership_out_of_attempts_keeps_its_status_and_request_id(
    importer: ImportRun, tmp_path: Path, sandbox: SandboxHandle
) -> None:
    sandbox.add_hook("POST", "/user_management/organization_memberships", 500, count=4)
    rows = [{"email": "a@x.com", "org_external_id": "acme", "org_name": "Acme"}]
    result = await importer.run(write_rows(tmp_path / "users.csv", rows), create_org_if_missing=True, max_outage=0)
    (failed,) = importer.store().iter_rows(result.job_id, state=RowState.FAILED)
    assert (failed.error_phase, failed.error_code, failed.error_status) == ("membership", "outcome_unknown", 500)
    assert failed.request_id is not None and failed.retryable


async def test_an_organization_create_sent_again_counts_as_a_retry(
    importer: ImportRun, tmp_path: Path, sandbox: SandboxHandle
) -> None:
    sandbox.add_hook("POST", "/organizations", 500, count=1)  # refused before it was applied: sent again
    rows = [{"email": "a@x.com", "org_external_id": "acme", "org_name": "Acme"}]
    result = await importer.run(write_rows(tmp_path / "users.csv", rows), create_org_if_missing=True)
    assert (result.succeeded, result.retries) == (1, 1)
    assert sandbox.stats()["routes"]["POST /organizations"]["requests"] == 2


async def test_a_conflict_whose_lookup_finds_no_membership_sends_it_again(
    importer: ImportRun, tmp_path: Path, sandbox: SandboxHandle
) -> None:
    """A lost answer, then "already exists" for a membership the lookup does not find (a list served behind the
    write, or a membership removed in between): the row must not end done without its membership."""
    members = "/user_management/organization_memberships"
    sandbox.add_hook("POST", members, 503, count=1)  # refused before it was applied: outcome unknown
    sandbox.add_hook("POST", members, 409, body={"code": "organization_membership_already_exists",
                                                 "message": "The user is already a member."}, count=1)  # fmt: skip
    rows = [{"email": "a@x.com", "org_external_id": "acme", "org_name": "Acme"}]
    result = await importer.run(write_rows(tmp_path / "users.csv", rows), create_org_if_missing=True)
    (done,) = importer.store().iter_rows(result.job_id, state=RowState.DONE)
    (membership,) = sandbox.state()["organization_memberships"]
    assert (done.membership_id, done.membership_action) == (membership["id"], MembershipAction.CREATED)
    assert result.memberships_created == 1


async def test_a_membership_that_met_four_5xx_in_a_row_is_sent_again_at_the_end_of_the_run(
    importer: ImportRun, tmp_path: Path, sandbox: SandboxHandle
) -> None:
    """What the torture run met under load: the injected 5xx before the write, 4 sends in a row, spent the
    membership's budget (not an outage: the breaker opens at 5). The run's one end-of-run pass sends it again,
    as a resume would, so the run ends complete with the membership counted once."""
    sandbox.add_hook("POST", "/user_management/organization_memberships", 500, count=4)
    rows = [{"email": "a@x.com", "org_external_id": "acme", "org_name": "Acme"}]
    result = await importer.run(write_rows(tmp_path / "users.csv", rows), create_org_if_missing=True)
    assert (result.state, result.succeeded, result.failed) == (JobState.COMPLETED, 1, 0)
    assert (result.users_created, result.memberships_created) == (1, 1)
    assert len(sandbox.state()["organization_memberships"]) == 1


async def test_a_row_that_fails_transiently_twice_is_recorded_failed_once_and_left_to_resume(
    importer: ImportRun, tmp_path: Path, sandbox: SandboxHandle
) -> None:
    sandbox.add_hook("POST", "/user_management/organization_memberships", 500, count=8)  # both passes
    rows = [{"email": "a@x.com", "org_external_id": "acme", "org_name": "Acme"}]
    store = importer.store()
    job = prepare_job(store, importer.options(write_rows(tmp_path / "users.csv", rows), create_org_if_missing=True))
    # A breaker slower to open than these 8 answers: they stay the row's failures (the default opens at 5).
    first = await execute_job(store, job.id, api_key=sandbox.api_key, breaker=BreakerPolicy(threshold=100))
    (failed,) = importer.store().iter_rows(first.job_id, state=RowState.FAILED)
    assert (first.failed, failed.error_phase, failed.error_code, failed.retryable) == (
        1,
        "membership",
        "outcome_unknown",
        True,
    )
    assert sandbox.state()["organization_memberships"] == []
    start_resume(store, first.job_id)
    again = await execute_job(store, first.job_id, api_key=sandbox.api_key)
    assert (again.state, again.succeeded, again.failed) == (JobState.COMPLETED, 1, 0)
    assert (again.users_created, again.memberships_created) == (1, 1)
    assert len(sandbox.state()["organization_memberships"]) == 1
