"""The use cases both front doors run, each decided once: confirmations, the plan that runs, what comes next.

The CLI (``server.cli``) and the MCP server (``server.mcp``) used to decide some rules apart and
disagreed (the MCP refused what the CLI allowed, and the reverse). Here each is decided once:
- ``confirmation_reasons``: why a write needs a person's word (live key, more than ``LARGE_IMPORT_ROWS``
  rows, no organization for a file without organization columns, a plan nobody was shown). How the
  question is asked (a prompt, a form, a confirmation code) is each door's business.
- ``keep_plan`` / ``kept_plan`` / ``runnable``: the plan an execution runs, refused when its hash is not
  the one given (without revealing the right one), when it cannot run, or when the file changed since.
- ``job_id_for`` / ``job_for_plan`` / ``record_plan_job``: one job per plan; a second execution of a plan
  finds the first job. ``prepare_run``: the job of a command run in this process (each run its own job).
- ``job_report``: a job's status (counts, whether it runs, the time left, what to do next); ``cancel``: stop
  what runs of a job, its undo or the job itself.
- ``NextAction``: what to do next, as an action and its arguments (option names, never CLI text); the CLI
  renders it as a command, the MCP server as a tool call (``plan_next``, ``status_next``, ``analysis_next``).
Starting and watching processes, and talking to a person, are left to the doors.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from core.analyze import ErrorAnalysis
from core.csvsource import sha256_file
from core.engine import MigrationResult, job_result, prepare_job, record_job
from core.errors import JobStateError, OptionsError, SourceError
from core.options import MigrationOptions
from core.planner import MigrationPlan
from core.steps import Action, NextAction
from core.store import Job, JobCounts, JobState, JobStore, UndoState
from core.undo import UndoResult
from core.verify import DiscrepancyKind, VerifyReport

__all__ = [
    "LARGE_IMPORT_ROWS",
    "LONG_JOB_SECONDS",
    "Action",
    "Cancelled",
    "ConfirmReason",
    "JobReport",
    "NextAction",
    "analysis_next",
    "cancel",
    "confirmation_reasons",
    "job_for_plan",
    "job_id_for",
    "job_report",
    "keep_plan",
    "kept_plan",
    "plan_id_for",
    "plan_next",
    "plan_reasons",
    "prepare_run",
    "record_plan_job",
    "resume_rows",
    "runnable",
    "status_next",
    "undo_next",
    "undo_reasons",
    "verify_next",
]

logger = logging.getLogger(__name__)

LARGE_IMPORT_ROWS = 10_000
"""Above this many rows a write needs a person's word."""
LONG_JOB_SECONDS = 300.0
"""A job with more time than this left is not followed to its end: check back later."""


class ConfirmReason(StrEnum):
    """Why a write needs a person's word."""

    LIVE_KEY = "live_key"  # the key is not a test key: production
    LARGE_IMPORT = "large_import"  # more than LARGE_IMPORT_ROWS rows to send
    NO_ORGANIZATION = "no_organization"  # a file without organization columns and no organization given
    UNSHOWN_PLAN = "unshown_plan"  # the plan was made in the same call that runs it: nobody saw it
    DELETES = "deletes"  # it deletes objects from WorkOS (undo): always confirmed


def confirmation_reasons(
    *, rows: int, key: Literal["test", "live", "none"], no_organization: bool = False, unshown: bool = False
) -> tuple[ConfirmReason, ...]:
    """Every reason a write of ``rows`` rows with a key of kind ``key`` needs confirming, in a fixed order."""
    reasons = []
    if key == "live":
        reasons.append(ConfirmReason.LIVE_KEY)
    if rows > LARGE_IMPORT_ROWS:
        reasons.append(ConfirmReason.LARGE_IMPORT)
    if no_organization:
        reasons.append(ConfirmReason.NO_ORGANIZATION)
    if unshown:
        reasons.append(ConfirmReason.UNSHOWN_PLAN)
    return tuple(reasons)


def plan_reasons(plan: MigrationPlan, *, unshown: bool = False) -> tuple[ConfirmReason, ...]:
    """``confirmation_reasons`` for executing ``plan``."""
    return confirmation_reasons(
        rows=plan.rows, key=plan.target.key, no_organization=plan.mode == "user-only", unshown=unshown
    )


def resume_rows(counts: JobCounts, *, retry_failed: bool) -> int:
    """The rows a resume sends: those without an outcome, and the failed ones (not invalid) with ``retry_failed``."""
    return counts.pending + (counts.failed - counts.invalid if retry_failed else 0)


# -- the plan that runs -------------------------------------------------------------------------------


def plan_id_for(plan: MigrationPlan) -> str:
    """A stable id for a plan: the same file and options give the same id, in any process."""
    digest = hashlib.sha256((plan.csv_sha256 + plan.options.model_dump_json()).encode()).hexdigest()
    return "plan-" + digest[:16]


def keep_plan(store: JobStore, plan: MigrationPlan) -> str:
    """Keep ``plan`` in the store, so any process can execute it; returns its ``plan_id``."""
    plan_id = plan_id_for(plan)
    store.save_plan(
        plan_id, plan.options, plan_hash=plan.plan_hash, csv_sha256=plan.csv_sha256, plan_json=plan.model_dump_json()
    )
    return plan_id


def kept_plan(store: JobStore, plan_id: str, *, plan_hash: str | None = None) -> MigrationPlan:
    """The plan kept under ``plan_id``, refused when ``plan_hash`` is given and is not its hash.

    The refusal does not reveal the right hash: whoever asks with a wrong one has not seen this plan.
    Raises ``JobStateError`` (unknown plan) or ``OptionsError``.
    """
    stored = store.get_plan(plan_id)
    if plan_hash is not None and plan_hash != stored.plan_hash:
        raise OptionsError(
            f"plan_hash is not the hash of plan {plan_id}: the plan shown to the user is not this one. Plan again "
            "and show the user the new plan before executing it"
        )
    return MigrationPlan.model_validate_json(stored.plan_json)


def runnable(plan: MigrationPlan, plan_id: str) -> None:
    """Refuse a plan that cannot run: blocking errors, no valid row, or a file changed since it was made.

    Raises ``OptionsError`` or ``SourceError``.
    """
    blocking = list(plan.blocking_errors)
    if not plan.valid_rows:
        blocking.append("the file has no valid row to import")
    if blocking:
        raise OptionsError(f"plan {plan_id} cannot run: " + "; ".join(blocking) + ". Fix it, then plan again")
    if sha256_file(plan.options.csv_path) != plan.csv_sha256:
        raise SourceError(f"the CSV changed since plan {plan_id} was made: plan again and show the new plan")


def job_id_for(plan_hash: str, options: MigrationOptions) -> str:
    """The job that runs a plan: the name the options give, else one derived from the plan's hash.

    Deriving it makes "one job per plan" hold even when two processes execute the same plan at once: the
    store refuses the second job with the same id.
    """
    return options.job_id or f"job-{plan_hash[:16]}"


def job_for_plan(store: JobStore, job_id: str, plan_hash: str) -> Job | None:
    """The job already recorded for this plan, or None. Raises ``JobStateError`` if another plan took the id."""
    try:
        job = store.get_job(job_id)
    except JobStateError:
        return None
    if job.plan_hash != plan_hash:
        raise JobStateError(f"job {job_id!r} already exists for another plan: choose another job_id and plan again")
    return job


def record_plan_job(
    store: JobStore, options: MigrationOptions, *, csv_sha256: str, plan_hash: str, confirmation: str
) -> tuple[Job, bool]:
    """Record the job of a plan for a worker to prepare and run, and how it was confirmed; one job per plan.

    The job's id is ``job_id_for`` the plan, so when the plan has its job already (an earlier call, or another
    process at the same moment) that job comes back with False and nothing is recorded. Raises
    ``OptionsError``, ``SourceError`` or ``JobStateError`` (another plan took the id).
    """
    options = options.model_copy(update={"job_id": job_id_for(plan_hash, options)})
    job_id = options.job_id or ""
    if (existing := job_for_plan(store, job_id, plan_hash)) is not None:
        return existing, False
    try:
        job = record_job(store, options, csv_sha256=csv_sha256, plan_hash=plan_hash)
    except JobStateError:
        if (existing := job_for_plan(store, job_id, plan_hash)) is None:  # raises when another plan took the id
            raise
        return existing, False
    store.set_confirmation(job.id, confirmation)
    logger.info("job %s recorded for plan %s, confirmed by %s", job.id, plan_hash[:12], confirmation)
    return store.get_job(job.id), True


def prepare_run(store: JobStore, options: MigrationOptions, *, plan_hash: str | None, confirmation: str) -> Job:
    """Record and prepare (validate, chunk) the job of a run in this process, and how it was confirmed.

    Each run is a job of its own, unlike ``record_plan_job``'s one job per plan: running a command again is
    the documented way to import what a first run left (it adopts the users that run created). Raises
    ``OptionsError``, ``SourceError`` or ``JobStateError``.
    """
    job = prepare_job(store, options, plan_hash=plan_hash)
    store.set_confirmation(job.id, confirmation)
    return store.get_job(job.id)


# -- following and stopping a job ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JobReport:
    """A job as it stands: its record, its result so far, whether a worker runs it, and what to do next."""

    job: Job
    result: MigrationResult
    running: bool
    seconds_left: float | None
    next: NextAction


def job_report(store: JobStore, job_id: str, *, running: bool) -> JobReport:
    """The status of ``job_id``; ``running`` is the door's word on whether a worker of it lives (the CLI asks the
    store's heartbeats, the MCP server its worker processes too). Raises ``JobStateError`` for an unknown id."""
    job = store.get_job(job_id)
    result = job_result(store, job_id)
    rate = result.rows_per_second
    left = round(result.pending / rate, 1) if running and rate > 0 and result.pending else None
    return JobReport(job, result, running, left, status_next(job, result, running=running, seconds_left=left))


@dataclass(frozen=True, slots=True)
class Cancelled:
    """What a cancel asked to stop: the job's undo (``undo``), or the job itself."""

    job: Job
    undo: bool


def cancel(store: JobStore, job_id: str) -> Cancelled:
    """Ask what runs of a job to stop after what it has in flight: its undo when one runs, else the job.

    Either stays resumable. A worker that has not taken the job yet (it is still validating the file) stops as
    soon as it would. Raises ``JobStateError`` for an unknown id.
    """
    undo = store.get_undo(job_id)
    if undo is not None and undo.state is UndoState.RUNNING:
        store.request_undo_cancel(job_id)
        logger.info("job %s: undo cancel requested", job_id)
        return Cancelled(store.get_job(job_id), undo=True)
    job = store.request_cancel(job_id)
    logger.info("job %s: cancel requested", job_id)
    return Cancelled(job, undo=False)


# -- what comes next --------------------------------------------------------------------------------


def plan_next(plan: MigrationPlan, plan_id: str) -> NextAction:
    """After planning: fix the file, or execute once the user agreed."""
    if plan.blocking_errors or not plan.valid_rows:
        return NextAction(action=Action.FIX_DATA, why="the plan cannot run: fix what its errors say, then plan again")
    if plan.invalid_rows and any(issue.fixable for issue in plan.issues if issue.severity == "error"):
        return NextAction(
            action=Action.FIX,
            arguments={"csv_path": str(plan.options.csv_path)},
            why=(
                f"{plan.invalid_rows:,} rows have errors and would be recorded as failed without being sent; some are "
                "fixable: fix them and plan the fixed copy, or execute as it is if the user wants to"
            ),
        )
    return NextAction(
        action=Action.EXECUTE,
        arguments={"plan_id": plan_id},
        why="show the plan to the user and execute it only once they agree",
    )


def status_next(job: Job, result: MigrationResult, *, running: bool, seconds_left: float | None) -> NextAction:
    """After a status: follow, check later, resume, analyse, or nothing."""
    job_id = {"job_id": job.id}
    if running:
        if seconds_left is not None and seconds_left > LONG_JOB_SECONDS:
            return NextAction(
                action=Action.CHECK_LATER,
                arguments=job_id,
                why=(
                    "the job runs in its own process for a while yet: tell the user how long, stop following it, "
                    "and look again when they ask"
                ),
            )
        why = "the worker is validating and chunking the file" if job.state is JobState.PREPARING else "running"
        return NextAction(action=Action.FOLLOW, arguments=job_id, why=why)
    if job.state in (JobState.PREPARING, JobState.CREATED):
        if job.last_error:
            return NextAction(
                action=Action.FIX_DATA, why="the worker refused to start (see last_error): fix it, then plan again"
            )
        return NextAction(action=Action.RESUME, arguments=job_id, why="no worker runs this job yet")
    if job.state is JobState.INTERRUPTED and job.last_error:
        return NextAction(
            action=Action.RESUME,
            arguments=job_id,
            why="it stopped for a cause outside its rows (last_error: WorkOS unreachable, or the environment "
            "changed); every unfinished row is pending: resume once the cause is gone",
        )
    if job.state is JobState.INTERRUPTED:
        return NextAction(action=Action.RESUME, arguments=job_id, why="its worker stopped; resume where it stopped")
    if job.state is JobState.CANCELLED:
        return NextAction(action=Action.RESUME, arguments=job_id, why=f"cancelled with {result.pending:,} rows pending")
    if job.state is JobState.FAILED:
        return NextAction(
            action=Action.RESUME, arguments=job_id, why="stopped by a fatal error (last_error): fix it first"
        )
    if job.state is JobState.COMPLETED_WITH_ERRORS:
        if result.failed == result.invalid:
            why = f"{result.invalid:,} rows are invalid in the file and were never sent: see how to fix each"
        else:
            why = f"{result.failed:,} rows failed: group them and see which a retry fixes"
        return NextAction(action=Action.ANALYZE, arguments=job_id, why=why)
    return NextAction(action=Action.NOTHING, why="every row has its outcome")


def analysis_next(analysis: ErrorAnalysis, job_id: str) -> NextAction:
    """After an analysis: retry the retryable rows in place, or fix the data."""
    if analysis.retryable:
        return NextAction(
            action=Action.RESUME,
            arguments={"job_id": job_id, "retry_failed": True},
            why=(
                f"{analysis.retryable:,} failed rows are retryable; with the user's agreement send them again "
                "(rows already imported are never sent twice)"
            ),
        )
    if analysis.failures:
        return NextAction(
            action=Action.FIX_DATA, why="no failure is fixed by a retry alone: fix the data, then plan again"
        )
    return NextAction(action=Action.NOTHING, why="nothing failed")


# -- undo and verify ----------------------------------------------------------------------------------


def undo_reasons(*, key: Literal["test", "live", "none"]) -> tuple[ConfirmReason, ...]:
    """Why an undo needs a person's word: always, since it deletes; a live key says so too."""
    return (ConfirmReason.LIVE_KEY, ConfirmReason.DELETES) if key == "live" else (ConfirmReason.DELETES,)


def undo_next(result: UndoResult) -> NextAction:
    """After an undo was started or looked at: follow it, go on with it, or verify what is left."""
    job_id = {"job_id": result.job_id}
    if result.state is UndoState.RUNNING:
        return NextAction(action=Action.UNDO, arguments=job_id, why="the undo runs in its own process: look again")
    if result.state is UndoState.FAILED:
        return NextAction(action=Action.FIX_DATA, why=f"the undo stopped: {result.last_error or 'see last_error'}")
    if result.pending or result.failed:
        return NextAction(
            action=Action.UNDO,
            arguments=job_id,
            why=f"{result.pending + result.failed:,} objects are left: with the user's agreement, undo again to go on",
        )
    return NextAction(
        action=Action.VERIFY, arguments=job_id, why="the undo is done: verify shows what the environment holds now"
    )


def verify_next(report: VerifyReport) -> NextAction:
    """After a verify: nothing, resume the job (with retry), or import the rows that are missing again."""
    if report.matches:
        return NextAction(action=Action.NOTHING, why="WorkOS matches the file")
    if report.job_id is not None and report.pending:
        return NextAction(
            action=Action.RESUME,
            arguments={"job_id": report.job_id, "retry_failed": True},
            why="the job has rows it has not imported yet: with the user's agreement, resume it with retry",
        )
    if report.missing_csv is not None:
        return NextAction(
            action=Action.PLAN,
            arguments={"csv_path": report.missing_csv},
            why="rows are missing from WorkOS: plan the file of those rows and import it once the user agrees",
        )
    if report.job_id is not None and report.by_kind.get(DiscrepancyKind.FAILED_BUT_PRESENT):
        return NextAction(
            action=Action.RESUME,
            arguments={"job_id": report.job_id, "retry_failed": True},
            why="rows recorded failed are present in WorkOS: a resume with retry records them as done",
        )
    return NextAction(
        action=Action.FIX_DATA,
        why="WorkOS differs from the file (see the discrepancies; verify with missing_csv_path writes the missing "
        "rows): decide with the user what to change",
    )
