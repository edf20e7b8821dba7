"""The use cases both front doors call (core.app): recording a job, its status and next step, cancelling; and
what the CLI's cancel says with them. On a real job store in a temporary directory; no WorkOS is needed, since
nothing here sends a row.
"""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from core import app
from core.options import MigrationOptions
from core.planner import plan
from core.steps import Action
from core.store import JobState, JobStore, UndoState
from server.cli import main
from tests.conftest import write_rows


def _options(tmp_path: Path, **extra: object) -> MigrationOptions:
    rows = [{"email": f"u{n}@example.com", "org_external_id": "acme", "org_name": "Acme"} for n in range(3)]
    path = write_rows(tmp_path / "users.csv", rows)
    return MigrationOptions.build(csv_path=path, checkpoint_dir=tmp_path / "state", create_org_if_missing=True, **extra)


def test_a_plan_has_one_job_and_a_command_run_has_a_job_each_time(tmp_path: Path) -> None:
    options = _options(tmp_path)
    made = plan(options)
    store = JobStore.open(options.checkpoint_dir)
    first, recorded = app.record_plan_job(
        store, options, csv_sha256=made.csv_sha256, plan_hash=made.plan_hash, confirmation="elicitation"
    )
    again, recorded_again = app.record_plan_job(
        store, options, csv_sha256=made.csv_sha256, plan_hash=made.plan_hash, confirmation="code"
    )
    assert (recorded, recorded_again) == (True, False)
    assert again.id == first.id == app.job_id_for(made.plan_hash, options)
    assert (again.confirmation, again.state) == ("elicitation", JobState.PREPARING)

    runs = [app.prepare_run(store, options, plan_hash=made.plan_hash, confirmation="yes") for _ in range(2)]
    assert len({run.id for run in runs} | {first.id}) == 3
    assert [(run.confirmation, run.state, run.total_rows) for run in runs] == [("yes", JobState.CREATED, 3)] * 2


def test_the_status_of_a_job_no_worker_runs_says_to_resume_it(tmp_path: Path) -> None:
    options = _options(tmp_path)
    store = JobStore.open(options.checkpoint_dir)
    job = app.prepare_run(store, options, plan_hash=None, confirmation="prompt")
    report = app.job_report(store, job.id, running=False)
    assert (report.job.id, report.result.pending, report.running, report.seconds_left) == (job.id, 3, False, None)
    assert report.next.action is Action.RESUME and report.next.arguments == {"job_id": job.id}
    assert app.job_report(store, job.id, running=True).next.action is Action.FOLLOW


def test_cancel_stops_the_undo_when_one_runs_and_else_the_job(tmp_path: Path) -> None:
    options = _options(tmp_path)
    store = JobStore.open(options.checkpoint_dir)
    job = app.prepare_run(store, options, plan_hash=None, confirmation="prompt")

    store.begin_undo(job.id, include_changed=False, confirmation="yes")  # this process runs the undo
    cancelled = app.cancel(store, job.id)
    undo = store.get_undo(job.id)
    assert cancelled.undo and undo is not None and undo.cancel_requested
    assert not cancelled.job.cancel_requested  # the job itself is not what runs

    store.finish_undo(job.id, UndoState.CANCELLED)
    cancelled = app.cancel(store, job.id)
    assert not cancelled.undo and cancelled.job.cancel_requested


def test_the_cli_cancel_says_which_it_stopped(tmp_path: Path) -> None:
    options = _options(tmp_path)
    store = JobStore.open(options.checkpoint_dir)
    job = app.prepare_run(store, options, plan_hash=None, confirmation="prompt")
    store.begin_undo(job.id, include_changed=False, confirmation="yes")
    cancel = ["cancel", job.id, "--checkpoint-dir", str(options.checkpoint_dir)]
    undoing = CliRunner().invoke(main, cancel)
    store.finish_undo(job.id, UndoState.CANCELLED)
    idle = CliRunner().invoke(main, cancel)
    assert undoing.exit_code == idle.exit_code == 0
    assert undoing.output == f"Cancel requested for the undo of {job.id}: it stops after the deletes in flight.\n"
    assert idle.output == f"{job.id} is not running (created); it will not start again until resumed.\n"
