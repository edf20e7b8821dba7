"""Preparing a job: record it, validate every row, cut the file into chunks; and checking a job before a resume.

``prepare_job`` records a job and runs its setup pass: the planner's ``scan`` validates every row (invalid
rows go to the ledger as failed, phase ``validation``) and a second pass cuts the file into chunks with the
byte offset where each starts. ``record_job`` records one without the pass (the detached lead runner does it
through ``start_resume``). Running the rows is ``runloop``'s business; SQL is ``store``'s.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from core.csvsource import CsvSource, sha256_file
from core.errorlog import write_errors
from core.errors import JobStateError, SourceError
from core.failures import classify, resent_by_default
from core.options import MigrationOptions, check_paths
from core.records import Issue, has_error
from core.rules import CROSS_ROW_CODES
from core.scan import scan
from core.store import (
    RESUMABLE_STATES,
    ChunkSpec,
    FailureRow,
    Job,
    JobState,
    JobStore,
    RowOutcome,
    RowState,
    new_job_id,
)

__all__ = ["prepare_job", "record_job", "start_resume"]

logger = logging.getLogger(__name__)

_FLUSH_ROWS = 500
# A long setup pass beats every this many chunks, so other processes keep seeing its runner alive.
_SETUP_BEAT_CHUNKS = 20


def prepare_job(store: JobStore, options: MigrationOptions, *, plan_hash: str | None = None) -> Job:
    """Record a new job: validate every row, record invalid ones, and cut the file into chunks.

    A dry run (``options.dry_run``) records only the job itself, with state ``dry_run``; invalid rows
    go to ``--errors-out`` when given. Raises ``SourceError``, ``OptionsError`` or ``JobStateError``.
    """
    check_paths(options)
    source = CsvSource(options.csv_path)
    job_id, options = _create_job(
        store,
        options,
        csv_sha256=sha256_file(options.csv_path),
        plan_hash=plan_hash,
        state=JobState.DRY_RUN if options.dry_run else JobState.PREPARING,
    )
    if options.dry_run:
        _setup_pass(store, job_id, options, source)
    else:
        _prepare_holding_the_job(store, job_id, options, source)
    return store.get_job(job_id)


def record_job(store: JobStore, options: MigrationOptions, *, csv_sha256: str, plan_hash: str | None = None) -> Job:
    """Record a new job in state ``preparing`` without reading the file, for a front door that must return at once.

    The validating and chunking pass is left to ``start_resume``, which the detached lead runner calls first;
    it refuses when the file's sha256 is no longer ``csv_sha256`` (the one the plan saw). Raises
    ``SourceError``, ``OptionsError`` or ``JobStateError``.
    """
    check_paths(options)
    job_id, _ = _create_job(store, options, csv_sha256=csv_sha256, plan_hash=plan_hash, state=JobState.PREPARING)
    return store.get_job(job_id)


def _create_job(
    store: JobStore, options: MigrationOptions, *, csv_sha256: str, plan_hash: str | None, state: JobState
) -> tuple[str, MigrationOptions]:
    job_id = options.job_id or new_job_id()
    options = options.model_copy(update={"job_id": job_id, "resume": None, "retry_failed": False})
    store.create_job(job_id, options, csv_sha256=csv_sha256, plan_hash=plan_hash, state=state)
    return job_id, options


def _prepare_holding_the_job(store: JobStore, job_id: str, options: MigrationOptions, source: CsvSource) -> None:
    """Redo the setup pass as the job's lead runner, so no other process prepares or runs it meanwhile.

    Raises ``JobStateError`` when another live process holds the job.
    """
    runner_id = store.start_runner(job_id, lead=True, clear_cancel=False)
    try:
        store.discard_setup(job_id)
        _setup_pass(store, job_id, options, source, beat=lambda: store.heartbeat(job_id, runner_id))
    finally:
        store.stop_runner(job_id, runner_id)


def _setup_pass(
    store: JobStore,
    job_id: str,
    options: MigrationOptions,
    source: CsvSource,
    *,
    beat: Callable[[], object] | None = None,
) -> None:
    """Validate every row with the planner's scan and cut the file into chunks at their byte offsets.

    The scan keeps 8-byte keys per row for the cross-row rules, so memory stays flat in the row count (a
    dict per row would cost about 150 bytes). Rows with per-row errors are recorded as they come; the few
    with cross-row errors are known only at the scan's end and are recorded during the chunking pass.
    """
    sink = _InvalidRows(store, job_id, options)
    seen = 0
    cross_row: dict[int, list[Issue]] = {}

    def on_row(row: int, fields: list[str], issues: list[Issue] | None) -> None:
        nonlocal seen
        if has_error(issues):
            assert issues is not None
            sink.add(_invalid_outcome(row, seen // options.chunk_size, fields, source, issues))
        seen += 1

    def on_issue(issue: Issue) -> None:
        if issue.code in CROSS_ROW_CODES:
            cross_row.setdefault(issue.row, []).append(issue)

    scan(
        source,
        single_org=options.single_org,
        require_membership=options.require_membership,
        on_row=on_row,
        on_issue=on_issue,
    )
    chunks: list[ChunkSpec] = []
    total = chunk_first = chunk_offset = chunk_rows = 0
    for row, offset, fields in source.rows():
        if chunk_rows == 0:
            chunk_first, chunk_offset = row, offset
        if row in cross_row:
            sink.add(_invalid_outcome(row, len(chunks), fields, source, cross_row.pop(row)))
        chunk_rows += 1
        total += 1
        if chunk_rows == options.chunk_size:
            chunks.append(ChunkSpec(len(chunks), chunk_first, chunk_offset, chunk_rows))
            chunk_rows = 0
            if beat is not None and len(chunks) % _SETUP_BEAT_CHUNKS == 0:
                beat()
    if chunk_rows:
        chunks.append(ChunkSpec(len(chunks), chunk_first, chunk_offset, chunk_rows))
    sink.close()
    if not options.dry_run:
        store.add_chunks(job_id, chunks)
    store.finish_setup(job_id, total_rows=total, invalid_rows=sink.count, chunk_count=len(chunks))
    if not options.dry_run:
        store.set_state(job_id, JobState.CREATED)


class _InvalidRows:
    """Where a setup pass puts invalid rows: the ledger in batches, or for a dry run (which writes nothing
    to the store) ``--errors-out`` when given."""

    def __init__(self, store: JobStore, job_id: str, options: MigrationOptions) -> None:
        self._store = store
        self._job_id = job_id
        self._dry_run_errors = options.errors_out if options.dry_run else None
        self._dry_run = options.dry_run
        self._rows: list[RowOutcome] = []
        self.count = 0

    def add(self, outcome: RowOutcome) -> None:
        self.count += 1
        if self._dry_run and self._dry_run_errors is None:
            return
        self._rows.append(outcome)
        if not self._dry_run and len(self._rows) >= _FLUSH_ROWS:
            self._store.record_rows(self._job_id, self._rows)
            self._rows = []

    def close(self) -> None:
        if not self._dry_run:
            self._store.record_rows(self._job_id, self._rows)
        elif self._dry_run_errors is not None:
            rows = sorted(self._rows, key=lambda outcome: outcome.row)
            write_errors(rows, self._dry_run_errors, job_id=self._job_id, keep_empty=False)
        self._rows = []


def _invalid_outcome(row: int, chunk: int, fields: list[str], source: CsvSource, issues: list[Issue]) -> RowOutcome:
    errors = [issue for issue in issues if issue.severity == "error"]
    email_index = source.columns.email
    email = fields[email_index].strip().lower() if email_index is not None and email_index < len(fields) else None
    return RowOutcome(
        row=row,
        chunk=chunk,
        state=RowState.FAILED,
        email=email or None,
        error_phase="validation",
        error_code=errors[0].code,
        error_sub_codes=",".join(issue.code for issue in errors[1:]) or None,
        error_message="; ".join(issue.message for issue in errors),
        retryable=False,
        attempts=0,
    )


def start_resume(
    store: JobStore, job_id: str | None, *, retry_failed: bool = False, retry_transient: bool = True
) -> Job:
    """Check that a job can be resumed and prepare it: same file, resumable state, failed rows reopened.

    ``retry_transient`` (the default) reopens rows that failed for a transient cause (5xx, timeouts, unknown
    outcomes, connection errors, 429s); ``retry_failed`` also those an option or the WorkOS environment caused.
    A row that needs a fix in the file (validation and other data failures) is never reopened: the file
    cannot change under a job. ``job_id`` None means the latest job. Raises ``JobStateError`` or ``SourceError``.
    """
    job = store.get_job(job_id) if job_id else store.latest_job()
    if job is None:
        raise JobStateError(f"no job to resume in {store.directory}")
    if job.state is JobState.RUNNING:
        raise JobStateError(f"job {job.id!r} is already running ({job.live_runners} live runner(s))")
    if job.state not in RESUMABLE_STATES and not (retry_failed and job.state is JobState.COMPLETED_WITH_ERRORS):
        raise JobStateError(f"job {job.id!r} is {job.state.value}: nothing to resume")
    if not job.csv_path.is_file():
        raise SourceError(f"the job's CSV {job.csv_path} is missing: put it back to resume")
    if sha256_file(job.csv_path) != job.csv_sha256:
        raise SourceError(
            f"the CSV {job.csv_path} changed since job {job.id!r} began (sha256 differs); row numbers no longer "
            "mean the same rows. Restore the original file, or start a new job with the new file"
        )
    if job.state is JobState.PREPARING:
        _prepare_holding_the_job(store, job.id, job.options, CsvSource(job.csv_path))
    if retry_failed or retry_transient:
        rows = [failure[0] for failure in store.iter_failures(job.id) if _resend(failure, retry_failed=retry_failed)]
        reopened = store.reopen_rows(job.id, rows)
        logger.info("reopened %d failed rows of job %s", reopened, job.id)
    return store.get_job(job.id)


def _resend(failure: FailureRow, *, retry_failed: bool) -> bool:
    """Whether a resume sends a failed row again: transient causes always, others with ``retry_failed``,
    never one that needs a fix in the file."""
    _row, _email, phase, status, code, sub_codes, _message, retryable = failure
    if phase == "validation":
        return False
    recorded = None if retryable is None else bool(retryable)
    if resent_by_default(phase, status, code, sub_codes, recorded):
        return True
    subs = tuple(filter(None, (sub_codes or "").split(",")))
    return retry_failed and classify(phase or "unknown", status, code or "unknown", subs, recorded).category != "data"
