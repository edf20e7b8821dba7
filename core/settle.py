"""Settling a job once its runners stopped, and what a job did, read from the ledger.

``finish_job`` decides the final state (completed, with errors, cancelled, interrupted, failed), writes
``errors.jsonl`` (and ``--errors-out``) and returns the ``MigrationResult`` that backs the CLI summary, its
``--json`` and the MCP tools. ``job_result`` reads the same result at any time, while the job runs too.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from core.errorlog import write_errors
from core.errors import StoreError
from core.steps import NextAction, analyze_step, resume_step
from core.store import RESUMABLE_STATES, JobState, JobStore, RowState

__all__ = ["MigrationResult", "RunSummary", "finish_job", "job_result"]


class RunSummary(BaseModel):
    """The orchestrator document's ``result.summary``: how many rows succeeded and failed."""

    total: int
    successes: int = Field(description="Rows whose user (and membership) now exist.")
    failures: int = Field(description="Rows that failed, invalid rows included.")
    skipped: int
    pending: int


class MigrationResult(BaseModel):
    """What a run did, from the ledger. The same object backs the CLI summary, ``--json`` and MCP."""

    job_id: str
    state: JobState
    dry_run: bool = False
    total_rows: int = Field(description="Data rows in the CSV.")
    succeeded: int = Field(description="Rows whose user (and membership) now exist.")
    skipped: int = Field(description="Rows left alone because the user existed (--on-existing-user skip).")
    failed: int = Field(description="Rows that failed, invalid rows included.")
    invalid: int = Field(description="Rows that failed validation and were never sent.")
    pending: int = Field(description="Rows without an outcome yet (resume to finish them).")
    users_created: int
    users_adopted: int
    users_updated: int
    memberships_created: int
    memberships_existed: int
    memberships_updated: int = Field(
        default=0, description="Memberships whose roles were set (--on-existing-membership update)."
    )
    totp_enrolled: int
    retries: int = Field(description="HTTP retries plus writes sent again after an unknown outcome.")
    rate_limited: int = Field(description="Responses answered 429.")
    duration_seconds: float
    rows_per_second: float
    errors_file: str | None = Field(default=None, description="The job's own errors.jsonl.")
    errors_out: str | None = Field(default=None, description="The --errors-out copy, when asked for.")
    resume_step: NextAction | None = Field(default=None, description="How to continue, when rows remain.")
    analyze_step: NextAction | None = Field(
        default=None, description="How to analyse the failed rows, when some failed."
    )
    last_error: str | None = None
    circuit: Literal["closed", "open"] = Field(
        default="closed",
        description="open while a runner's circuit breaker holds every request because WorkOS looks down.",
    )
    outage_since: float | None = Field(
        default=None, description="When the current outage began (Unix time), while the circuit is open."
    )
    outage_seconds: float = Field(
        default=0.0, description="Seconds WorkOS was unreachable during this job; no row failed for them."
    )

    @property
    def summary(self) -> RunSummary:
        """The counts under the orchestrator document's names (``result.summary.successes``, ``.failures``)."""
        return RunSummary(
            total=self.total_rows,
            successes=self.succeeded,
            failures=self.failed,
            skipped=self.skipped,
            pending=self.pending,
        )

    @property
    def duration(self) -> int:
        """The run's duration in milliseconds, as the orchestrator document's ``result.duration``."""
        return round(self.duration_seconds * 1000)

    @property
    def exit_code(self) -> int:
        """0 when every row succeeded or was skipped, 1 when any failed or remain, 2 when the job failed or
        stopped for a reason outside its rows (interrupted: WorkOS unreachable longer than --max-outage)."""
        if self.state in (JobState.FAILED, JobState.INTERRUPTED):
            return 2
        return 0 if self.failed == 0 and self.pending == 0 else 1


def finish_job(store: JobStore, job_id: str, *, fatal: str | None = None, stopped: bool = False) -> MigrationResult:
    """Settle the job's state after its runners stopped, write errors.jsonl (and --errors-out), summarise."""
    job = store.get_job(job_id)
    if job.state is not JobState.DRY_RUN:
        gave_up = store.outage(job_id).reason
        if fatal:
            state = JobState.FAILED
        elif store.pending_chunks(job_id) == 0:
            state = JobState.COMPLETED if store.counts(job_id).failed == 0 else JobState.COMPLETED_WITH_ERRORS
        elif gave_up:
            state, fatal = JobState.INTERRUPTED, gave_up
        elif stopped or job.cancel_requested:
            state = JobState.CANCELLED
        else:
            state = JobState.INTERRUPTED
        store.set_state(job_id, state, last_error=fatal)
        targets = [store.job_dir(job_id) / "errors.jsonl", *filter(None, [job.options.errors_out])]
        for target in targets:
            try:
                keep_empty = target == targets[0]  # the job's own file always exists; --errors-out only with rows
                write_errors(
                    store.iter_rows(job_id, state=RowState.FAILED), target, job_id=job_id, keep_empty=keep_empty
                )
            except OSError as exc:
                raise StoreError(
                    f"cannot write the errors file {target}: {exc.strerror or exc}; the ledger keeps every outcome:"
                    f" free space (or fix the path), then `workos-migrate analyze {job_id}` reads them from it"
                ) from exc
    return job_result(store, job_id)


def job_result(store: JobStore, job_id: str) -> MigrationResult:
    """The result of a job as the ledger has it now (works while it runs, too)."""
    job = store.get_job(job_id)
    counts = store.counts(job_id)
    end = job.finished_at or job.updated_at
    duration = max(end - (job.started_at or job.created_at), 0.0)
    processed = counts.finished - counts.invalid
    errors_file = store.job_dir(job_id) / "errors.jsonl"
    dry = job.state is JobState.DRY_RUN
    outage = store.outage(job_id)
    pending = 0 if dry else counts.pending
    return MigrationResult(
        job_id=job.id,
        state=job.state,
        dry_run=dry,
        total_rows=job.total_rows,
        succeeded=(job.total_rows - job.invalid_rows) if dry else counts.done,
        skipped=counts.skipped,
        failed=job.invalid_rows if dry else counts.failed,
        invalid=job.invalid_rows,
        pending=pending,
        users_created=counts.users_created,
        users_adopted=counts.users_adopted,
        users_updated=counts.users_updated,
        memberships_created=counts.memberships_created,
        memberships_existed=counts.memberships_existed,
        memberships_updated=counts.memberships_updated,
        totp_enrolled=counts.totp_enrolled,
        retries=int(job.counters.get("retries", 0) + job.counters.get("resent", 0)),
        rate_limited=int(job.counters.get("rate_limited", 0)),
        duration_seconds=round(duration, 3),
        rows_per_second=round(processed / duration, 2) if duration > 0 else 0.0,
        errors_file=str(errors_file) if errors_file.exists() else None,
        errors_out=str(job.options.errors_out) if job.options.errors_out else None,
        resume_step=resume_step(job) if pending and job.state in RESUMABLE_STATES else None,
        analyze_step=analyze_step(job) if counts.failed and not dry else None,
        last_error=job.last_error,
        circuit="open" if outage.open_since is not None else "closed",
        outage_since=outage.open_since,
        outage_seconds=outage.seconds,
    )
