"""Jobs for the MCP server: start one in a detached worker process, follow it, list them.

A job started here runs in ``python -m core.runner JOB_ID --lead``, detached by ``core.supervisor``, with stdin from
/dev/null and its output in ``runner.log`` in the job's directory, so it outlives the MCP server and the
assistant's session. Its pid is kept in ``runner.pid`` next to the log, which tells any server process
whether the worker still lives while it validates and chunks the file (before it registers as a runner).
Everything else is read from and written to the job store; the key reaches the worker through its
environment only. How a row is imported is ``core.engine``'s business.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import NamedTuple

import anyio

from core.app import job_report, record_plan_job
from core.engine import job_result, start_resume
from core.errors import JobStateError, OptionsError
from core.options import MigrationOptions
from core.store import Job, JobState, JobStore, UndoState
from core.supervisor import reap, runner_alive, start_runner
from server.models import ErrorSample, JobStatus, JobSummary, NextCall

__all__ = [
    "Cursor",
    "follow",
    "job_status",
    "launch",
    "list_statuses",
    "resume_job",
    "start_job",
    "worker_running",
]

logger = logging.getLogger(__name__)

_PID_FILE = "runner.pid"
_LOG_FILE = "runner.log"
_POLL_SECONDS = 1.0
_LIVENESS_SECONDS = 0.1


# -- worker processes ---------------------------------------------------------------------------------


def _pid_file(store: JobStore, job_id: str) -> Path:
    return store.job_dir(job_id) / _PID_FILE


def _worker_pid(store: JobStore, job_id: str) -> int | None:
    try:
        return int(_pid_file(store, job_id).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def _worker_alive(store: JobStore, job: Job) -> bool:
    if job.live_runners:
        return True
    pid = _worker_pid(store, job.id)
    return pid is not None and runner_alive(pid, job.id)


def worker_running(store: JobStore, job_id: str) -> bool:
    """True while a worker of the job lives: a runner beating in the store, or a worker started by a server."""
    reap()
    return _worker_alive(store, store.get_job(job_id))


def launch(store: JobStore, job_id: str, *, api_key: str) -> int:
    """Start the detached lead runner of ``job_id`` and return its pid; the key goes in its environment only."""
    log_path = store.job_dir(job_id) / _LOG_FILE
    process = start_runner(job_id, store.directory, lead=True, api_key=api_key, log_path=log_path, detached=True)
    _pid_file(store, job_id).write_text(f"{process.pid}\n")
    logger.info("job %s: started worker pid %d", job_id, process.pid)
    return process.pid


_UNDO_PID_FILE = "undo.pid"


def start_undo(store: JobStore, job_id: str, *, include_changed: bool, confirmation: str, api_key: str) -> int:
    """Start the detached runner of ``job_id``'s undo and return its pid; the key goes in its environment only."""
    log_path = store.job_dir(job_id) / "undo.log"
    process = start_runner(
        job_id,
        store.directory,
        lead=False,
        api_key=api_key,
        log_path=log_path,
        detached=True,
        undo=True,
        extra=[*(["--include-changed"] if include_changed else []), "--confirmation", confirmation],
    )
    store.job_dir(job_id).joinpath(_UNDO_PID_FILE).write_text(f"{process.pid}\n")
    logger.info("job %s: started undo worker pid %d", job_id, process.pid)
    return process.pid


def undo_running(store: JobStore, job_id: str) -> bool:
    """True while the job's undo runs: its runner beats in the store, or the worker started for it still lives."""
    undo = store.get_undo(job_id)
    if undo is not None and undo.state is UndoState.RUNNING:
        return True
    reap()
    pid_file = store.job_dir(job_id) / _UNDO_PID_FILE
    try:
        pid = int(pid_file.read_text().strip())
        started = pid_file.stat().st_mtime
    except (OSError, ValueError):
        return False
    # A worker started after the undo's last record has not taken it yet; one that recorded since has finished.
    return (undo is None or undo.updated_at < started) and runner_alive(pid, job_id)


def start_job(
    store: JobStore,
    options: MigrationOptions,
    *,
    csv_sha256: str,
    plan_hash: str,
    confirmation: str,
    api_key: str,
) -> tuple[JobStatus, bool]:
    """Record the job of a plan (``core.app.record_plan_job``: one job per plan) and start its worker.

    When the plan has its job already, that job's status comes back and nothing is started. Returns the status
    and whether a worker was started. The worker validates and chunks the file itself and refuses if its
    sha256 is no longer ``csv_sha256``. Raises ``OptionsError``, ``SourceError`` or ``JobStateError``.
    """
    job, recorded = record_plan_job(
        store, options, csv_sha256=csv_sha256, plan_hash=plan_hash, confirmation=confirmation
    )
    if recorded:
        launch(store, job.id, api_key=api_key)
    return job_status(store, job.id), recorded


def resume_job(
    store: JobStore,
    job_id: str,
    *,
    retry_failed: bool,
    confirmation: str,
    api_key: str,
    retry_transient: bool = True,
) -> tuple[JobStatus, bool]:
    """Resume ``job_id`` in a new worker, or leave it be when a worker already runs it.

    Rows that failed for a transient cause are sent again unless ``retry_transient`` is False; ``retry_failed``
    also sends those an option or the environment caused; rows that need a file fix never are.

    Returns the status and whether a worker was started. Raises ``JobStateError`` (unknown job, nothing to
    resume) or ``SourceError`` (the file is missing or changed).
    """
    if worker_running(store, job_id):
        return job_status(store, job_id), False
    job = store.get_job(job_id)
    transient = retry_transient and store.has_retryable_failures(job_id)
    if job.state is JobState.COMPLETED_WITH_ERRORS and not retry_failed and not transient:
        raise JobStateError(
            f"job {job_id!r} is completed with errors: every row has an outcome. Call analyze_errors to see which "
            "failures a retry can fix, then resume_migration with retry_failed=true to send those rows again"
        )
    if job.state is not JobState.PREPARING:
        # A job still preparing has its checks and setup pass done by the worker itself.
        start_resume(store, job_id, retry_failed=retry_failed, retry_transient=retry_transient)
    history = f"{job.confirmation}; resume: {confirmation}" if job.confirmation else confirmation
    store.set_confirmation(job_id, history)
    # The worker honours a cancel flag it finds before taking the job, so an earlier cancel must not stop it.
    store.clear_cancel(job_id)
    logger.info("job %s resumed (retry_failed=%s), confirmed by %s", job_id, retry_failed, confirmation)
    launch(store, job_id, api_key=api_key)
    return job_status(store, job_id), True


# -- status -------------------------------------------------------------------------------------------


class Cursor(NamedTuple):
    """What a caller has seen of a job: the newest failure's record time, the counts and the state."""

    failures_at: float
    counts: tuple[int, int, int, int]
    state: str

    def token(self) -> str:
        return f"{self.failures_at!r}/{'/'.join(map(str, self.counts))}/{self.state}"

    @classmethod
    def parse(cls, token: str) -> Cursor:
        """Raises ``OptionsError`` for a string that is not a cursor this server gave."""
        try:
            at, *counts, state = token.split("/")
            done, skipped, failed, pending = (int(count) for count in counts)
            return cls(float(at), (done, skipped, failed, pending), state)
        except ValueError:
            raise OptionsError("since must be the cursor of an earlier get_migration_status result") from None


def job_status(store: JobStore, job_id: str, *, since: str | None = None, errors: int = 5) -> JobStatus:
    """The job's status from the store; with ``since`` (a cursor), only the failures recorded after it.

    Raises ``JobStateError`` for an unknown id and ``OptionsError`` for a bad cursor.
    """
    reap()
    seen = Cursor.parse(since) if since else None
    report = job_report(store, job_id, running=_worker_alive(store, store.get_job(job_id)))
    job, result = report.job, report.result
    finished = result.total_rows - result.pending
    new_failures, samples = store.failures_since(job_id, seen.failures_at if seen else 0.0, limit=errors)
    newest = max((sample.recorded_at or 0.0 for sample in samples), default=seen.failures_at if seen else 0.0)
    cursor = Cursor(newest, (result.succeeded, result.skipped, result.failed, result.pending), job.state.value)
    return JobStatus(
        job_id=job.id,
        state=job.state,
        file=job.csv_path.name,
        worker_running=report.running,
        cancel_requested=job.cancel_requested,
        total_rows=result.total_rows,
        succeeded=result.succeeded,
        skipped=result.skipped,
        failed=result.failed,
        invalid=result.invalid,
        pending=result.pending,
        percent=round(100 * finished / result.total_rows, 1) if result.total_rows else 0.0,
        rows_per_second=result.rows_per_second,
        eta_seconds=report.seconds_left,
        retries=result.retries,
        rate_limited=result.rate_limited,
        circuit=result.circuit,
        outage_since=result.outage_since,
        outage_seconds=result.outage_seconds,
        last_error=job.last_error,
        new_failures=new_failures,
        new_errors=[ErrorSample.of(outcome) for outcome in samples],
        unchanged=seen is not None and seen == cursor,
        cursor=cursor.token(),
        next=NextCall.of(report.next),
    )


def list_statuses(store: JobStore, *, limit: int) -> list[JobSummary]:
    """The newest jobs, newest first, with their counts."""
    summaries = []
    for job in store.list_jobs(limit=limit):
        result = job_result(store, job.id)
        summaries.append(
            JobSummary(
                job_id=job.id,
                state=job.state,
                file=job.csv_path.name,
                succeeded=result.succeeded,
                failed=result.failed,
                pending=result.pending,
                total_rows=result.total_rows,
            )
        )
    return summaries


async def follow(
    store: JobStore,
    job_id: str,
    *,
    seconds: float,
    on_progress: Callable[[JobStatus], Awaitable[None]],
    since: str | None = None,
    poll: float = _POLL_SECONDS,
) -> JobStatus:
    """Wait up to ``seconds`` for the job's worker to stop, reporting the status about every ``poll`` seconds.

    Between reports only the worker's liveness is checked (cheap), so the wait ends soon after the job does.
    Counting a large ledger takes a while (about 1 s for a million rows), so reports are spaced to at least
    five times that, leaving the job's store to the job. A job with more than ``core.app.LONG_JOB_SECONDS``
    left is not waited for: the answer says to check back later instead.
    """
    deadline = time.monotonic() + seconds
    started = time.monotonic()
    status = job_status(store, job_id, since=since)
    cost = time.monotonic() - started
    while status.worker_running and status.next.tool is not None and "wait_seconds" in status.next.arguments:
        if deadline - time.monotonic() <= 0:
            break
        await on_progress(status)
        report_at = min(time.monotonic() + max(poll, 5 * cost), deadline)
        while (pause := report_at - time.monotonic()) > 0 and worker_running(store, job_id):
            await anyio.sleep(min(_LIVENESS_SECONDS, pause))
        started = time.monotonic()
        status = job_status(store, job_id, since=since)
        cost = time.monotonic() - started
    return status
