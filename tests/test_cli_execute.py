"""The CLI's execute, resume, status, cancel and jobs commands against the loopback sandbox."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio
import httpx2
import pytest
from click.testing import CliRunner

from core.engine import prepare_job
from core.errors import JobStateError
from core.options import MigrationOptions
from core.store import JobState, JobStore
from core.workos.sandbox import SandboxHandle
from server.cli import main
from server.progress import Counts, follow
from tests.conftest import FAST_RATES, write_rows

RATES = [f"--{name.replace('_', '-')}={value}" for name, value in FAST_RATES.items()]


@pytest.fixture
def env(sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    sandbox.configure(write_limit=0, read_limit=0, global_limit=0)
    monkeypatch.chdir(tmp_path)
    values = {"WORKOS_BASE_URL": sandbox.url, "WORKOS_API_KEY": sandbox.api_key}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def users(tmp_path: Path, count: int, *, name: str = "users.csv", org: bool = True) -> Path:
    extra = {"org_external_id": "acme", "org_name": "Acme"} if org else {}
    return write_rows(tmp_path / name, [{"email": f"u{i}@example.com", **extra} for i in range(count)])


def invoke(*args: str, input: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)
    return result.exit_code, result.output


def test_execute_imports_and_prints_the_summary(env: dict[str, str], tmp_path: Path, sandbox: SandboxHandle) -> None:
    code, output = invoke("execute", "--csv", str(users(tmp_path, 5)), "--create-org-if-missing", *RATES)
    assert code == 0, output
    assert "✓ Migration completed" in output
    assert "5 total, 5 succeeded" in output and "5 created" in output
    assert len(sandbox.state()["users"]) == 5


def test_execute_is_the_default_command(env: dict[str, str], tmp_path: Path) -> None:
    code, output = invoke("--csv", str(users(tmp_path, 2)), "--create-org-if-missing", "--json", *RATES)
    assert code == 0, output
    assert json.loads(output)["users_created"] == 2


def test_plan_flag_of_execute_shows_the_plan_and_sends_nothing(
    env: dict[str, str], tmp_path: Path, sandbox: SandboxHandle
) -> None:
    code, output = invoke("--csv", str(users(tmp_path, 2)), "--plan")
    assert code == 0 and "MIGRATION PLAN" in output
    assert sandbox.stats()["totals"]["requests"] == 0


def test_failed_rows_exit_1_and_point_at_the_errors_and_analysis(env: dict[str, str], tmp_path: Path) -> None:
    path = write_rows(tmp_path / "u.csv", [{"email": "ok@example.com"}, {"email": "broken"}])
    code, output = invoke("execute", "--csv", str(path), "--errors-out", "errors.jsonl", *RATES)
    assert code == 1
    assert "Errors:       errors.jsonl" in output and "workos-migrate analyze" in output
    assert json.loads((tmp_path / "errors.jsonl").read_text())["row"] == 3


def test_errors_out_exists_only_when_rows_failed(env: dict[str, str], tmp_path: Path) -> None:
    stale = tmp_path / "errors.jsonl"
    stale.write_text('{"row": 2, "code": "from_an_earlier_run"}\n')
    code, output = invoke("execute", "--csv", str(users(tmp_path, 2, org=False)), "--errors-out", str(stale), *RATES)
    assert code == 0, output
    assert not stale.exists(), "a script tests [ -f errors.jsonl ] to know whether anything failed"
    code, output = invoke(
        "execute", "--csv", str(users(tmp_path, 2, org=False)), "--dry-run", "--errors-out", "e.jsonl"
    )
    assert code == 0 and not (tmp_path / "e.jsonl").exists()


def test_every_row_failing_is_exit_1_not_0(env: dict[str, str], tmp_path: Path) -> None:
    path = write_rows(
        tmp_path / "u.csv", [{"email": f"u{i}@example.com", "org_external_id": "ghost"} for i in range(4)]
    )
    code, output = invoke("execute", "--csv", str(path), *RATES)
    assert code == 1 and "0 succeeded" in output


def test_missing_key_is_fatal_before_anything_is_recorded(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WORKOS_API_KEY")
    code, output = invoke("execute", "--csv", str(users(tmp_path, 2)))
    assert code == 2 and "WORKOS_API_KEY" in output
    assert not (tmp_path / ".workos-checkpoints").exists()


def test_bad_options_are_fatal(env: dict[str, str], tmp_path: Path) -> None:
    code, output = invoke("execute", "--csv", str(users(tmp_path, 2)), "--concurrency", "0")
    assert code == 2 and "--concurrency must be between 1 and 100" in output


def test_large_import_needs_yes_without_a_terminal(env: dict[str, str], tmp_path: Path, sandbox: SandboxHandle) -> None:
    path = users(tmp_path, 10_001, org=False)
    code, output = invoke("execute", "--csv", str(path))
    assert code == 2
    assert "Large import detected: 10,001 rows" in output and "--yes" in output
    assert sandbox.stats()["totals"]["requests"] == 0
    code, output = invoke("execute", "--csv", str(path), "--dry-run")
    assert code == 0 and "Dry run" in output


def test_large_import_prompt_can_be_declined(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox: SandboxHandle
) -> None:
    monkeypatch.setattr("server.cli._stdin_is_terminal", lambda: True)
    code, output = invoke("execute", "--csv", str(users(tmp_path, 10_001)), input="n\n")
    assert code == 1 and "Proceed with import?" in output and "nothing was sent" in output
    assert sandbox.stats()["totals"]["requests"] == 0


def test_missing_organization_prompt_applies_the_typed_id(
    env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    sandbox_api: httpx2.Client,
    sandbox: SandboxHandle,
) -> None:
    org = sandbox_api.post("/organizations", json={"name": "Typed", "external_id": "typed"}).json()
    monkeypatch.setattr("server.cli._stdin_is_terminal", lambda: True)
    code, output = invoke("execute", "--csv", str(users(tmp_path, 3, org=False)), *RATES, input=f"{org['id']}\n")
    assert code == 0, output
    assert "Enter organization ID" in output
    assert len(sandbox.state()["organization_memberships"]) == 3


def test_status_jobs_cancel_and_resume_work_on_the_same_store(
    env: dict[str, str], tmp_path: Path, sandbox: SandboxHandle
) -> None:
    options = MigrationOptions.build(csv_path=users(tmp_path, 5), create_org_if_missing=True, **FAST_RATES)
    job = prepare_job(JobStore.open(Path(".workos-checkpoints")), options)
    code, output = invoke("status", "--json")
    assert code == 0 and json.loads(output)["state"] == "created"
    code, output = invoke("jobs")
    assert job.id in output and "created" in output
    code, output = invoke("cancel", job.id)
    assert code == 0 and "not running" in output
    code, output = invoke("resume", job.id)
    assert code == 0, output
    assert "5 succeeded" in output
    code, output = invoke("resume", job.id)
    assert code == 2 and "nothing to resume" in output
    code, output = invoke("status", "nope")
    assert code == 2 and "no job 'nope'" in output


def test_sigint_stops_after_rows_in_flight_and_resume_finishes(
    env: dict[str, str], tmp_path: Path, sandbox: SandboxHandle
) -> None:
    sandbox.configure(latency_ms=20)
    path = users(tmp_path, 400)
    command = [sys.executable, "-m", "server.cli", "execute", "--csv", str(path), "--create-org-if-missing",
               "--job-id", "interrupt-me", "--concurrency", "2", *RATES]  # fmt: skip
    child = subprocess.Popen(command, env={**os.environ, **env}, cwd=tmp_path, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)  # fmt: skip
    store = JobStore.open(tmp_path / ".workos-checkpoints")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if store.counts("interrupt-me").finished >= 10:
                break
        except JobStateError:  # not recorded yet
            pass
        time.sleep(0.05)
    child.send_signal(signal.SIGINT)
    output, _ = child.communicate(timeout=60)
    assert child.returncode == 130, output  # 128 + SIGINT, as shells expect of Ctrl-C
    assert "Stopping: finishing rows in flight" in output
    assert "Resume:       workos-migrate resume interrupt-me" in output
    assert store.get_job("interrupt-me").state is JobState.CANCELLED
    sandbox.configure(latency_ms=0)
    code, output = invoke("resume")
    assert code == 0, output
    assert "400 succeeded" in output
    assert len(sandbox.state()["users"]) == 400


def test_execute_resume_flag_continues_the_latest_job(env: dict[str, str], tmp_path: Path) -> None:
    path = users(tmp_path, 4)
    options = MigrationOptions.build(csv_path=path, create_org_if_missing=True, **FAST_RATES)
    job = prepare_job(JobStore.open(Path(".workos-checkpoints")), options)
    code, output = invoke("--csv", str(path), "--resume")
    assert code == 0, output
    assert f"Job:          {job.id} (completed)" in output


async def _follow_briefly(counts: Counts) -> None:
    with anyio.move_on_after(0.2):
        await follow(lambda: counts, quiet=False)


def test_progress_without_a_terminal_prints_plain_periodic_lines(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("server.progress._PLAIN_EVERY_SECONDS", 0.05)
    anyio.run(_follow_briefly, (500, 1000, 3, 0))
    lines = capsys.readouterr().err.splitlines()
    assert lines and lines[0].startswith("[progress] 500/1,000 rows (50.0%)")
    assert "failed 3" in lines[0] and "ETA" in lines[0]


def _job(tmp_path: Path, count: int = 4, **values: object) -> str:
    options = MigrationOptions.build(
        csv_path=users(tmp_path, count), create_org_if_missing=True, **FAST_RATES, **values
    )
    return prepare_job(JobStore.open(Path(".workos-checkpoints")), options).id


def test_resume_applies_the_pace_options_given_with_it_and_says_so(env: dict[str, str], tmp_path: Path) -> None:
    job_id = _job(tmp_path)
    code, output = invoke("--csv", str(tmp_path / "users.csv"), "--resume", job_id, "--concurrency", "50",
                          "--errors-out", "e.jsonl")  # fmt: skip
    assert code == 0, output
    assert f"Resuming job {job_id}" in output
    assert "Changed from now on: --concurrency 50 (was 10), --errors-out e.jsonl (was none)" in output
    options = JobStore.open(Path(".workos-checkpoints")).get_job(job_id).options
    assert (options.concurrency, options.errors_out) == (50, Path("e.jsonl"))


def test_resume_command_takes_the_pace_flags_too(env: dict[str, str], tmp_path: Path) -> None:
    job_id = _job(tmp_path)
    code, output = invoke("resume", job_id, "--workers", "1", "--rate-limit", "4000", "--quiet")
    assert code == 0, output
    assert "Changed from now on: --rate-limit 4000 (was 5000)" in output


def test_resume_refuses_options_a_job_cannot_change_and_names_them(
    env: dict[str, str], tmp_path: Path, sandbox: SandboxHandle
) -> None:
    job_id = _job(tmp_path)
    other = users(tmp_path, 2, name="other.csv")
    code, output = invoke("--csv", str(other), "--resume", job_id, "--org-id", "org_X", "--on-existing-user", "skip")
    assert code == 2
    assert f"Cannot change on resume: --csv {other}: job {job_id} reads {tmp_path / 'users.csv'}" in output
    assert f"Cannot change on resume: --org-id org_X: job {job_id} ran with none" in output
    assert f"Cannot change on resume: --on-existing-user skip: job {job_id} ran with adopt" in output
    assert "A resume may change only --concurrency, --workers, --rate-limit" in output
    assert sandbox.stats()["totals"]["requests"] == 0
    assert JobStore.open(Path(".workos-checkpoints")).get_job(job_id).state is JobState.CREATED


def test_bare_resume_picks_the_newest_resumable_job_and_says_which(env: dict[str, str], tmp_path: Path) -> None:
    waiting = _job(tmp_path, job_id="waiting")
    (tmp_path / "b").mkdir()
    assert invoke("execute", "--csv", str(users(tmp_path / "b", 2)), "--create-org-if-missing", "--job-id", "done",
                  *RATES)[0] == 0  # fmt: skip
    code, output = invoke("resume")
    assert code == 0, output
    assert f"Resuming job {waiting} (created, 4 rows" in output
    assert "the newest job that can be resumed (newer: done completed)" in output
    code, output = invoke("--csv", str(tmp_path / "users.csv"), "--resume")
    assert code == 2 and "no job in .workos-checkpoints can be resumed (the newest, done, is completed)" in output


def test_the_analyze_line_names_the_checkpoint_dir_it_needs(env: dict[str, str], tmp_path: Path) -> None:
    path = write_rows(tmp_path / "u.csv", [{"email": "ok@example.com"}, {"email": "broken"}])
    code, output = invoke("execute", "--csv", str(path), "--checkpoint-dir", "elsewhere", "--job-id", "j", *RATES)
    assert code == 1
    assert "Analyze:      workos-migrate analyze j --checkpoint-dir elsewhere" in output
    assert invoke("analyze", "j", "--checkpoint-dir", "elsewhere")[0] == 1  # the printed command works


def test_dry_run_status_and_jobs_leave_the_disk_as_they_found_it(env: dict[str, str], tmp_path: Path) -> None:
    path = users(tmp_path, 3)
    before = sorted(tmp_path.rglob("*"))
    code, output = invoke("execute", "--csv", str(path), "--dry-run")
    assert code == 0 and "Dry run" in output
    assert invoke("jobs") == (0, "No jobs.\n")
    code, output = invoke("status")
    assert code == 2 and "No jobs in .workos-checkpoints" in output
    assert invoke("resume")[0] == 2
    assert invoke("jobs", "--json") == (0, "[]\n")
    assert sorted(tmp_path.rglob("*")) == before


def test_no_arguments_print_the_help_and_exit_0() -> None:
    done = subprocess.run([sys.executable, "-m", "server.cli"], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Usage: ") and "Commands:" in done.stdout and "execute" in done.stdout


def test_ctrl_c_before_the_import_exits_130_without_a_traceback(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox: SandboxHandle
) -> None:
    def interrupted(self: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("core.orchestrator.MigrationOrchestrator.plan", interrupted)
    code, output = invoke("plan", "--csv", str(users(tmp_path, 2)))
    assert code == 130 and "Interrupted." in output and "Traceback" not in output
    monkeypatch.undo()
    monkeypatch.setattr("server.cli._stdin_is_terminal", lambda: True)
    code, output = invoke(
        "execute", "--csv", str(users(tmp_path, 2, org=False)), input=""
    )  # EOF = Ctrl-D/C at a prompt
    assert code == 130 and "nothing was sent" in output
    assert sandbox.stats()["totals"]["requests"] == 0


def test_the_pre_import_summary_says_plainly_when_there_is_no_key_or_nothing_to_send(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WORKOS_API_KEY")
    path = write_rows(tmp_path / "u.csv", [{"email": "broken"}, {"email": "also broken"}])
    code, output = invoke("execute", "--csv", str(path), "--dry-run")
    assert code == 1, output
    assert "Target:       " in output and "(no API key set)" in output
    assert "Estimate:     nothing to send (no API call needed)" in output
    assert "none key" not in output and "bound by none" not in output
