"""Runs a job: CSV reader -> bounded queue -> ``concurrency`` row tasks -> batched ledger writes.

``prepare_job`` records a job: one streaming pass validates every row (invalid rows go to the ledger as
failed, phase ``validation``) and cuts the file into chunks with their byte offsets. ``run_job`` makes
this process a runner of the job: it claims chunks from the store, seeks to each chunk's offset, skips
rows the ledger already holds (never sending them again), feeds the rest through a bounded queue to the
row pipeline, and records outcomes in batched transactions. A heartbeat shares the cancel flag and any
429 pause with the other runners (``--workers``). ``finish_job`` settles the job's state and writes the
errors files. What happens to one row is ``pipeline``'s business; SQL is ``store``'s.
"""

from __future__ import annotations

import logging
import shlex
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice

import anyio
from anyio.abc import ObjectReceiveStream, ObjectSendStream, Process
from pydantic import BaseModel, Field

from core.csvsource import CsvSource, sha256_file
from core.errorlog import write_errors
from core.errors import AuthenticationError, JobStateError, SourceError, WorkOSError
from core.options import MigrationOptions, check_paths
from core.orgs import OrgResolutionError, OrgResolver, option_org_key
from core.pipeline import RowPipeline
from core.records import Issue, UserRecord, has_error, to_record
from core.rules import CROSS_ROW_CODES
from core.scan import scan
from core.store import (
    RESUMABLE_STATES,
    ChunkSpec,
    Job,
    JobState,
    JobStore,
    RowOutcome,
    RowState,
    new_job_id,
)
from core.workos.client import WorkOSClient
from core.workos.limits import RateLimiter

__all__ = [
    "MigrationResult",
    "RunStats",
    "execute_job",
    "finish_job",
    "job_result",
    "prepare_job",
    "record_job",
    "resume_command",
    "run_job",
    "start_resume",
]

logger = logging.getLogger(__name__)

_FLUSH_SECONDS = 0.25
_FLUSH_ROWS = 500
_HEARTBEAT_SECONDS = 1.0
# A long setup pass beats every this many chunks, so other processes keep seeing its runner alive.
_SETUP_BEAT_CHUNKS = 20


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
    totp_enrolled: int
    retries: int = Field(description="HTTP retries plus writes sent again after an unknown outcome.")
    rate_limited: int = Field(description="Responses answered 429.")
    duration_seconds: float
    rows_per_second: float
    errors_file: str | None = Field(default=None, description="The job's own errors.jsonl.")
    errors_out: str | None = Field(default=None, description="The --errors-out copy, when asked for.")
    resume_command: str | None = Field(default=None, description="How to continue, when rows remain.")
    analyze_command: str | None = Field(default=None, description="How to analyse the failed rows, when some failed.")
    last_error: str | None = None

    @property
    def exit_code(self) -> int:
        """0 when every row succeeded or was skipped, 1 when any failed or remain, 2 when the job failed."""
        if self.state is JobState.FAILED:
            return 2
        return 0 if self.failed == 0 and self.pending == 0 else 1


@dataclass
class RunStats:
    """Live counters of this process's run, for progress bars. The ledger stays the truth."""

    total_rows: int = 0
    already_finished: int = 0
    done: int = 0
    skipped: int = 0
    failed: int = 0
    started_at: float = field(default_factory=time.monotonic)
    first_request_at: float | None = None

    @property
    def finished(self) -> int:
        return self.already_finished + self.done + self.skipped + self.failed

    def count(self, outcome: RowOutcome) -> None:
        if outcome.state is RowState.DONE:
            self.done += 1
        elif outcome.state is RowState.SKIPPED:
            self.skipped += 1
        else:
            self.failed += 1


# -- preparing a job ----------------------------------------------------------------------------------


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
        processes=1,
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


# -- resuming -----------------------------------------------------------------------------------------


def start_resume(store: JobStore, job_id: str | None, *, retry_failed: bool = False) -> Job:
    """Check that a job can be resumed and prepare it: same file, resumable state, failed rows reopened.

    ``job_id`` None means the latest job. Raises ``JobStateError`` or ``SourceError``.
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
    if retry_failed:
        reopened = store.reopen_failed(job.id)
        logger.info("reopened %d failed rows of job %s", reopened, job.id)
    return store.get_job(job.id)


def resume_command(job: Job) -> str:
    """The command that continues ``job``."""
    return _job_command("resume", job)


def analyze_command(job: Job) -> str:
    """The command that analyses the failed rows of ``job`` (in its own checkpoint directory)."""
    return _job_command("analyze", job)


def _job_command(verb: str, job: Job) -> str:
    directory = job.options.checkpoint_dir
    extra = [] if str(directory) == ".workos-checkpoints" else ["--checkpoint-dir", str(directory)]
    return shlex.join(["workos-migrate", verb, job.id, *extra])


# -- running ------------------------------------------------------------------------------------------


async def run_job(
    store: JobStore,
    job_id: str,
    *,
    api_key: str,
    lead: bool = True,
    stop: anyio.Event | None = None,
    stats: RunStats | None = None,
) -> str | None:
    """Process the job's pending chunks in this process until none is left, or until stopped.

    Returns the fatal error message that stopped the run, or None. The lead runner takes the job
    (``JobStateError`` when another live runner holds it); others join it (``--workers``).
    """
    job = store.get_job(job_id)
    options = job.options
    runner_id = store.start_runner(job_id, lead=lead)
    stop = stop or anyio.Event()
    stats = stats or RunStats()
    stats.total_rows = job.total_rows
    stats.already_finished = store.counts(job_id).finished
    share = options.workers
    limiter = RateLimiter(
        write_rate=options.rate_limit / share,
        read_rate=options.read_rate_limit / share,
        general_rate=options.global_rate_limit / share,
        on_pause=_pause_publisher(store, job_id),
    )
    runner = _Runner(store, job, runner_id, stop, stats, limiter)
    try:
        async with WorkOSClient(
            api_key=api_key, base_url=options.base_url, limiter=limiter, concurrency=options.concurrency
        ) as client:
            return await runner.run(client)
    finally:
        with anyio.CancelScope(shield=True):
            runner.flush()
            runner.publish_counters()
            store.stop_runner(job_id, runner_id)


def _pause_publisher(store: JobStore, job_id: str) -> Callable[[float], None]:
    def publish(until: float) -> None:
        store.publish_pause(job_id, until)

    return publish


class _Runner:
    """One process's share of a job: reader, row tasks, recorder and heartbeat."""

    def __init__(
        self, store: JobStore, job: Job, runner_id: str, stop: anyio.Event, stats: RunStats, limiter: RateLimiter
    ) -> None:
        self.store = store
        self.job = job
        self.runner_id = runner_id
        self.stop = stop
        self.stats = stats
        self.limiter = limiter
        self.fatal: str | None = None
        self.pipeline: RowPipeline | None = None
        self._pending: list[RowOutcome] = []
        self._done_chunks: list[int] = []
        self._chunks: dict[int, list[int]] = {}  # chunk -> [recorded, dispatched or -1 while reading]
        self._last_flush = time.monotonic()
        self._published: dict[str, float] = {}

    async def run(self, client: WorkOSClient) -> str | None:
        options = self.job.options
        orgs = OrgResolver(client, create_if_missing=options.create_org_if_missing)
        try:
            fixed_org = await self._single_org(orgs)
        except AuthenticationError as exc:
            self.fatal = exc.rejection
            return self.fatal
        except (OrgResolutionError, WorkOSError) as exc:
            self.fatal = f"cannot resolve the organization: {exc}"
            return self.fatal
        self.pipeline = pipeline = RowPipeline(
            client=client,
            store=self.store,
            job_id=self.job.id,
            job_created_at=self.job.created_at,
            options=options,
            orgs=orgs,
            fixed_org_id=fixed_org,
        )
        source = CsvSource(self.job.csv_path)
        send, receive = anyio.create_memory_object_stream[tuple[UserRecord, int, bool]](options.concurrency * 2)
        async with anyio.create_task_group() as beating:
            beating.start_soon(self._heartbeat)
            async with anyio.create_task_group() as tasks:
                async with receive:
                    for _ in range(options.concurrency):
                        tasks.start_soon(self._row_task, pipeline, receive.clone())
                await self._read(source, send)
            beating.cancel_scope.cancel()
        return self.fatal

    async def _single_org(self, orgs: OrgResolver) -> str | None:
        options = self.job.options
        key = option_org_key(options.org_id, options.org_external_id, options.org_name)
        return None if key is None else await orgs.resolve(key)

    async def _read(self, source: CsvSource, send: ObjectSendStream[tuple[UserRecord, int, bool]]) -> None:
        async with send:
            while not self.stop.is_set():
                claim = self.store.claim_chunk(self.job.id, self.runner_id)
                if claim is None:
                    return
                spec = claim.spec
                self._chunks[spec.number] = [0, -1]
                dispatched = 0
                for row, _offset, fields in _chunk_rows(source, spec):
                    if row in claim.finished_rows:
                        continue
                    if self.stop.is_set():
                        break
                    await send.send((to_record(row, fields, source.columns), spec.number, claim.claimed_before))
                    dispatched += 1
                if self.stop.is_set():
                    return
                self._chunks[spec.number][1] = dispatched
                self._maybe_chunk_done(spec.number)

    async def _row_task(
        self, pipeline: RowPipeline, receive: ObjectReceiveStream[tuple[UserRecord, int, bool]]
    ) -> None:
        async with receive:
            async for record, chunk, maybe_sent in receive:
                if self.stop.is_set():
                    continue
                if self.stats.first_request_at is None:
                    self.stats.first_request_at = time.monotonic()
                try:
                    outcome = await pipeline.process(record, chunk, maybe_sent=maybe_sent)
                except AuthenticationError as exc:
                    self.fatal = self.fatal or exc.rejection
                    self.stop.set()
                    continue
                self._record(outcome)

    def _record(self, outcome: RowOutcome) -> None:
        self.stats.count(outcome)
        self._pending.append(outcome)
        self._chunks[outcome.chunk][0] += 1
        self._maybe_chunk_done(outcome.chunk)
        if len(self._pending) >= _FLUSH_ROWS or time.monotonic() - self._last_flush >= _FLUSH_SECONDS:
            self.flush()

    def _maybe_chunk_done(self, chunk: int) -> None:
        recorded, dispatched = self._chunks[chunk]
        if recorded == dispatched:
            del self._chunks[chunk]
            self._done_chunks.append(chunk)

    def flush(self) -> None:
        """Write recorded outcomes and finished chunks in one transaction."""
        if self._pending or self._done_chunks:
            self.store.record_rows(self.job.id, self._pending, done_chunks=self._done_chunks)
            self._pending = []
            self._done_chunks = []
        self._last_flush = time.monotonic()

    async def _heartbeat(self) -> None:
        while True:
            await anyio.sleep(_HEARTBEAT_SECONDS)
            self.flush()
            cancel, pause_until = self.store.heartbeat(self.job.id, self.runner_id)
            if cancel:
                self.stop.set()
            if pause_until > time.time():
                self.limiter.pause_until(pause_until)
            self.publish_counters()

    def publish_counters(self) -> None:
        """Add this runner's new retries, resends, 429s and waits to the job's counters."""
        now = {**self.limiter.stats.as_counters(), "resent": float(self.pipeline.resent if self.pipeline else 0)}
        deltas = {key: value - self._published.get(key, 0) for key, value in now.items()}
        self.store.add_counters(self.job.id, {k: v for k, v in deltas.items() if v})
        self._published = now


def _chunk_rows(source: CsvSource, spec: ChunkSpec) -> Iterator[tuple[int, int, list[str]]]:
    return islice(source.rows(offset=spec.byte_offset, first_row=spec.first_row), spec.row_count)


async def execute_job(
    store: JobStore,
    job_id: str,
    *,
    api_key: str,
    stop: anyio.Event | None = None,
    stats: RunStats | None = None,
) -> MigrationResult:
    """Run a job to its end as the lead runner and settle it.

    With ``--workers N`` the lead starts ``N - 1`` helper processes (``python -m core.runner``), which
    join the job with ``run_job(..., lead=False)``; the API key reaches them
    through the environment, never the command line. The lead runs its own share, waits for them, then
    settles the job with ``finish_job``.
    """
    stop = stop or anyio.Event()
    job = store.get_job(job_id)
    helpers: list[Process] = []
    fatal: str | None = None

    async def lead() -> None:
        nonlocal fatal
        fatal = await run_job(store, job_id, api_key=api_key, stop=stop, stats=stats)

    async def propagate_stop() -> None:
        await stop.wait()
        store.request_cancel(job_id)

    try:
        async with anyio.create_task_group() as watching:
            watching.start_soon(propagate_stop)
            async with anyio.create_task_group() as work:
                work.start_soon(lead)
                if job.options.workers > 1:
                    # Helpers join only once the lead holds the job.
                    await _wait_until_running(store, job_id)
                    log_dir = store.job_dir(job_id)
                    log_dir.mkdir(parents=True, exist_ok=True)
                    command = _helper_command(store, job_id)
                    for number in range(1, job.options.workers):
                        with (log_dir / f"worker-{number}.log").open("ab") as log:
                            helper = await anyio.open_process(command, stdout=log, stderr=log)
                        helpers.append(helper)
                        work.start_soon(helper.wait)
            watching.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            for helper in helpers:
                await helper.wait()
    return finish_job(store, job_id, fatal=fatal, stopped=stop.is_set())


def _helper_command(store: JobStore, job_id: str) -> list[str]:
    # Imported here: core.runner imports this module.
    from core.runner import runner_command

    return runner_command(job_id, store.directory, lead=False)


async def _wait_until_running(store: JobStore, job_id: str) -> None:
    while store.get_job(job_id).state is not JobState.RUNNING:
        await anyio.sleep(0.05)


# -- finishing ----------------------------------------------------------------------------------------


def finish_job(store: JobStore, job_id: str, *, fatal: str | None = None, stopped: bool = False) -> MigrationResult:
    """Settle the job's state after its runners stopped, write errors.jsonl (and --errors-out), summarise."""
    job = store.get_job(job_id)
    if job.state is not JobState.DRY_RUN:
        if fatal:
            state = JobState.FAILED
        elif store.pending_chunks(job_id) == 0:
            state = JobState.COMPLETED if store.counts(job_id).failed == 0 else JobState.COMPLETED_WITH_ERRORS
        elif stopped or job.cancel_requested:
            state = JobState.CANCELLED
        else:
            state = JobState.INTERRUPTED
        store.set_state(job_id, state, last_error=fatal)
        errors_file = store.job_dir(job_id) / "errors.jsonl"
        write_errors(store.iter_rows(job_id, state=RowState.FAILED), errors_file, job_id=job_id)
        if job.options.errors_out is not None:
            failed = store.iter_rows(job_id, state=RowState.FAILED)
            write_errors(failed, job.options.errors_out, job_id=job_id, keep_empty=False)
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
        totp_enrolled=counts.totp_enrolled,
        retries=int(job.counters.get("retries", 0) + job.counters.get("resent", 0)),
        rate_limited=int(job.counters.get("rate_limited", 0)),
        duration_seconds=round(duration, 3),
        rows_per_second=round(processed / duration, 2) if duration > 0 else 0.0,
        errors_file=str(errors_file) if errors_file.exists() else None,
        errors_out=str(job.options.errors_out) if job.options.errors_out else None,
        resume_command=resume_command(job) if pending and job.state in RESUMABLE_STATES else None,
        analyze_command=analyze_command(job) if counts.failed and not dry else None,
        last_error=job.last_error,
    )
