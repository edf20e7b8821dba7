"""The run loop: one process's share of a job, from claimed chunks to batched ledger writes.

``run_job`` makes this process a runner of the job: it claims chunks from the store, seeks to each chunk's
offset, skips rows the ledger already holds (never sending them again), feeds the rest through a bounded
queue to ``concurrency`` row tasks running the row pipeline, and records outcomes in batched transactions.
A heartbeat shares the cancel flag and any pause with the other runners (``--workers``). What happens to one
row is ``pipeline``'s business; starting processes is ``supervisor``'s; SQL is ``store``'s.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice

import anyio
from anyio.abc import ObjectReceiveStream, ObjectSendStream

from core.csvsource import CsvSource
from core.environment import PROGRESS_LOG_PAGES, EnvironmentSnapshot, SnapshotProgress, know_for_job
from core.errors import AuthenticationError, MigrationError, SourceError, WorkOSError, WorkOSUnavailable
from core.failures import resent_by_default
from core.orgs import OrgKey, OrgResolutionError, OrgResolver, org_key_from
from core.pipeline import RowPipeline, unreadable_outcome
from core.records import UserRecord, to_record
from core.store import ChunkSpec, Job, JobStore, OrganizationAction, RowOutcome, RowState
from core.watch import EnvironmentWatch, WatchVerdict
from core.workos.breaker import BreakerPolicy, CircuitBreaker
from core.workos.client import WorkOSClient
from core.workos.limits import RateLimiter

__all__ = ["RunEnd", "RunStats", "migration_errors_alone", "run_job"]

logger = logging.getLogger(__name__)

_FLUSH_SECONDS = 0.25
_FLUSH_ROWS = 500
_HEARTBEAT_SECONDS = 1.0


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


async def run_job(
    store: JobStore,
    job_id: str,
    *,
    api_key: str,
    lead: bool = True,
    runner_id: str | None = None,
    stop: anyio.Event | None = None,
    stats: RunStats | None = None,
    breaker: BreakerPolicy | None = None,
    learn: bool = False,
    on_learned: Callable[[], None] | None = None,
) -> RunEnd:
    """Process the job's pending chunks in this process until none is left, or until stopped.

    Returns how the run ended (``RunEnd``): a fatal error, an outage it gave up on, or neither. ``breaker``
    overrides the circuit breaker's policy (tests); its ``max_outage`` is always the job's ``--max-outage``.
    With ``learn`` (the lead runner) it first reads what the rows will find in WorkOS (``know_for_job``),
    behind the same heartbeat, limiter and circuit breaker as the rows, then calls ``on_learned`` (which
    starts the helpers, so none writes before the job knows the environment).
    ``runner_id`` is this process's runner when it already took the job (``execute_job``); otherwise the lead
    runner takes the job (``JobStateError`` when another live runner holds it) and others join it
    (``--workers``). The runner is unregistered on return.
    """
    job = store.get_job(job_id)
    options = job.options
    runner_id = runner_id or store.start_runner(job_id, lead=lead)
    runner: _Runner | None = None
    try:
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
        circuit = CircuitBreaker(
            BreakerPolicy.waiting(options.max_outage, breaker), on_change=_outage_publisher(store, job_id, runner_id)
        )
        known = EnvironmentSnapshot.of(store, base_url=options.base_url, api_key=api_key)
        runner = _Runner(store, job, runner_id, stop, stats, limiter, circuit, known, learn, on_learned)
        with migration_errors_alone():
            async with WorkOSClient(
                api_key=api_key,
                base_url=options.base_url,
                limiter=limiter,
                breaker=circuit,
                concurrency=options.concurrency,
            ) as client:
                return await runner.run(client)
    finally:
        with anyio.CancelScope(shield=True):
            if runner is not None:
                runner.flush()
                runner.known.flush()
                runner.publish_counters()
                if runner.watch.reason:
                    # Those rows failed for the environment, not themselves: pending again, sent on resume.
                    store.reopen_rows(job_id, runner.watch.suspects)
            store.stop_runner(job_id, runner_id)


@contextmanager
def migration_errors_alone() -> Iterator[None]:
    """Let a ``MigrationError`` raised in a task group (a full disk, a damaged store) out as itself, not
    wrapped in an exception group, so each front door shows its one line. Anything else stays as it was."""
    try:
        yield
    except BaseExceptionGroup as group:
        errors = _leaves(group)
        if errors and all(isinstance(error, MigrationError) for error in errors):
            raise errors[0] from None
        raise


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    found: list[BaseException] = []
    for error in group.exceptions:
        found += _leaves(error) if isinstance(error, BaseExceptionGroup) else [error]
    return found


@dataclass(frozen=True, slots=True)
class RunEnd:
    """How one runner's run ended: ``fatal`` when the job cannot go on (a rejected key: the job fails),
    ``interrupted`` when WorkOS was unreachable longer than ``--max-outage`` (the job stops, rows pending)."""

    fatal: str | None = None
    interrupted: str | None = None


def _outage_publisher(store: JobStore, job_id: str, runner_id: str) -> Callable[[float | None], None]:
    def publish(open_since: float | None) -> None:
        if open_since is None:
            store.outage_ended(job_id)
        else:
            store.outage_open(job_id, runner_id, since=open_since)

    return publish


def _pause_publisher(store: JobStore, job_id: str) -> Callable[[float], None]:
    def publish(until: float) -> None:
        store.publish_pause(job_id, until)

    return publish


class _Runner:
    """One process's share of a job: reader, row tasks, recorder and heartbeat."""

    def __init__(
        self,
        store: JobStore,
        job: Job,
        runner_id: str,
        stop: anyio.Event,
        stats: RunStats,
        limiter: RateLimiter,
        breaker: CircuitBreaker,
        known: EnvironmentSnapshot,
        learn: bool = False,
        on_learned: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.known = known
        self.job = job
        self.runner_id = runner_id
        self.stop = stop
        self.stats = stats
        self.limiter = limiter
        self.breaker = breaker
        # Rows in flight when caches are dropped still carry what was cached: they do not confirm anything.
        self.watch = EnvironmentWatch(confirm=job.options.concurrency + 3)
        self.fatal: str | None = None
        self.interrupted: str | None = None
        self.pipeline: RowPipeline | None = None
        self.orgs: OrgResolver | None = None
        self._pending: list[RowOutcome] = []
        self._done_chunks: list[int] = []
        self._chunks: dict[int, list[int]] = {}  # chunk -> [recorded, dispatched or -1 while reading]
        self._last_flush = time.monotonic()
        self._published: dict[str, float] = {}
        self._holding = False  # this runner's circuit is open and it holds while another runner probes
        # Rows of this run that failed for a transient cause; None once their one end-of-run pass began (and
        # with --max-outage 0, which asks for outage answers to fail rows once their attempts are spent).
        self._transient: list[tuple[int, str]] | None = [] if job.options.max_outage else None
        self.learn = learn
        self.on_learned = on_learned

    async def run(self, client: WorkOSClient) -> RunEnd:
        end = RunEnd()
        async with anyio.create_task_group() as beating:
            beating.start_soon(self._heartbeat)
            try:
                end = await self._run(client)
            finally:
                beating.cancel_scope.cancel()
        return end

    async def _run(self, client: WorkOSClient) -> RunEnd:
        options = self.job.options
        self.orgs = orgs = OrgResolver(
            client,
            create_if_missing=options.create_org_if_missing,
            ledger=_OrgLedger(self.store, self.job.id),
            known=self.known,
        )
        try:
            if self.learn:
                await self._learn(client)
                if self.stop.is_set():
                    return RunEnd(fatal=self.fatal, interrupted=self.interrupted)
            if self.on_learned is not None:
                self.on_learned()
            fixed_org = await self._single_org(orgs)
        except AuthenticationError as exc:
            return RunEnd(fatal=exc.rejection)
        except WorkOSUnavailable as exc:
            self._give_up(exc)
            return RunEnd(interrupted=self.interrupted)
        except (OrgResolutionError, WorkOSError) as exc:
            return RunEnd(fatal=f"cannot resolve the organization: {exc}")
        self.pipeline = pipeline = RowPipeline(
            client=client,
            store=self.store,
            job_id=self.job.id,
            job_created_at=self.job.created_at,
            options=options,
            orgs=orgs,
            fixed_org_id=fixed_org,
            known=self.known,
        )
        source = CsvSource(self.job.csv_path)
        while True:
            send, receive = anyio.create_memory_object_stream[tuple[UserRecord, int, bool]](options.concurrency * 2)
            async with anyio.create_task_group() as tasks:
                async with receive:
                    for _ in range(options.concurrency):
                        tasks.start_soon(self._row_task, pipeline, receive.clone())
                await self._read(source, send)
            again = self.watch.take_resolved()
            if not again and self._transient is not None and not self.stop.is_set():
                # Rows whose attempts a bad moment of WorkOS spent (not an outage the breaker held): once more, at
                # the end of the run, as a resume would send them; a single pass, so a row fails at most twice.
                transient, self._transient = self._transient, None
                again = [row for row, _ in transient]
                if self.pipeline is not None:
                    self.pipeline.forget_users(email for _, email in transient)
            if not again or self.stop.is_set():
                break
            # Rows that failed for an environment-level cause a fresh look fixed: once more, as pending rows.
            self.flush()
            self.stats.failed -= self.store.reopen_rows(self.job.id, again)
        return RunEnd(fatal=self.fatal, interrupted=self.interrupted)

    async def _learn(self, client: WorkOSClient) -> None:
        """Read what the rows will find in WorkOS before the first row; a stop request ends the read.

        A rejected key (``AuthenticationError``) and an outage longer than ``--max-outage``
        (``WorkOSUnavailable``) are raised; any other failure to read is logged and the rows go as if nothing
        were known (every write still reconciles its conflicts).
        """
        job_id = self.job.id

        def progress(step: SnapshotProgress) -> None:
            if step.pages % PROGRESS_LOG_PAGES == 0:
                logger.info("job %s: reading %s, %d objects so far", job_id, step.part, step.objects)

        failure: BaseException | None = None
        async with anyio.create_task_group() as reading:

            async def read() -> None:
                nonlocal failure
                try:
                    await know_for_job(self.known, client, self.job.options, on_progress=progress)
                except (AuthenticationError, WorkOSUnavailable) as exc:
                    failure = exc
                except (WorkOSError, SourceError) as exc:
                    logger.warning(
                        "job %s: could not read what WorkOS holds (%s); rows go as if nothing were known", job_id, exc
                    )
                finally:
                    reading.cancel_scope.cancel()

            reading.start_soon(read)
            await self.stop.wait()
            reading.cancel_scope.cancel()
        if failure is not None:
            raise failure

    async def _single_org(self, orgs: OrgResolver) -> str | None:
        options = self.job.options
        key = org_key_from(options.org_id, options.org_external_id, options.org_name)
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
                    dispatched += 1
                    try:
                        record = to_record(row, fields, source.columns)
                    except Exception as exc:  # a row validation let through fails alone
                        self._record(unreadable_outcome(row, spec.number, _email(fields, source), exc))
                        continue
                    await send.send((record, spec.number, claim.claimed_before))
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
                    self._stop()
                    continue
                except WorkOSUnavailable as exc:
                    self._give_up(exc)  # the row stays pending: neither failed nor done
                    continue
                self._record(outcome)

    def _stop(self) -> None:
        """Stop taking rows; rows waiting on an open circuit breaker stay pending instead of waiting on."""
        self.stop.set()
        self.breaker.abandon("the run is stopping while WorkOS is unreachable")

    def _give_up(self, exc: WorkOSUnavailable) -> None:
        """WorkOS was unreachable for longer than --max-outage: stop every runner, keep why (the first time)."""
        if self.interrupted is None and not self.stop.is_set():
            self.interrupted = str(exc)
            logger.error("%s", exc)
            self.store.stop_with_reason(self.job.id, self.interrupted)
        self._stop()

    def _record(self, outcome: RowOutcome) -> None:
        self.stats.count(outcome)
        if (
            outcome.state is RowState.FAILED
            and self._transient is not None
            and resent_by_default(outcome.error_phase, outcome.error_status, outcome.error_code,
                                  outcome.error_sub_codes, outcome.retryable)
        ):  # fmt: skip
            self._transient.append((outcome.row, outcome.email or ""))
        self._pending.append(outcome)
        self._chunks[outcome.chunk][0] += 1
        self._maybe_chunk_done(outcome.chunk)
        verdict = self.watch.observe(outcome)
        if verdict is WatchVerdict.RECHECK:
            logger.warning("the same environment-level failure on many rows in a row: dropping caches, looking again")
            if self.orgs is not None:
                self.orgs.forget()
            if self.pipeline is not None:
                self.pipeline.forget()
        elif verdict is WatchVerdict.STOP and self.interrupted is None and self.watch.reason:
            self.interrupted = self.watch.reason
            logger.error("stopping the job: %s", self.interrupted)
            self.store.stop_with_reason(self.job.id, self.interrupted)
            self._stop()
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
                self._stop()
            if pause_until > time.time():
                self.limiter.pause_until(pause_until)
            self._share_outage()
            self.publish_counters()

    def _share_outage(self) -> None:
        """One runner probes WorkOS for the job while it is down; every other runner holds its requests.

        A runner whose circuit opens first probes for the job (the store's ``outage_open`` says so); every other
        runner, its own circuit open or not, holds (``CircuitBreaker.hold``, renewed at each beat). When the
        prober sees WorkOS answer (or stops), the hold is released and each runner still open probes at once, so
        every runner goes on within a heartbeat instead of at its own probe interval (up to 30 s).
        """
        hold = 3 * _HEARTBEAT_SECONDS  # a late heartbeat must not let the hold lapse
        shared = self.store.outage(self.job.id).open_since is not None
        if not self.breaker.is_open:
            self._holding = False
            if shared:
                self.breaker.hold(hold)  # another runner's circuit is open: wait with it, spend nothing finding out
            else:
                self.breaker.release()
            return
        if self._holding and not shared:
            # The prober saw WorkOS answer, or stopped: probe now, every runner that still sees it down.
            self._holding = False
            self.breaker.release()
            self.breaker.probe_now()
            return
        self._holding = not self.store.outage_open(self.job.id, self.runner_id, since=time.time())
        if self._holding:
            self.breaker.hold(hold)
        else:
            self.breaker.release()

    def publish_counters(self) -> None:
        """Add this runner's new retries, resends, 429s and waits to the job's counters."""
        resent = (self.pipeline.resent if self.pipeline else 0) + (self.orgs.resent if self.orgs else 0)
        now = {**self.limiter.stats.as_counters(), "resent": float(resent)}
        deltas = {key: value - self._published.get(key, 0) for key, value in now.items()}
        self.store.add_counters(self.job.id, {k: v for k, v in deltas.items() if v})
        self._published = now


class _OrgLedger:
    """Records in the job store the organizations a job creates or joins (what undo deletes, or keeps)."""

    def __init__(self, store: JobStore, job_id: str) -> None:
        self._store = store
        self._job_id = job_id

    def sending(self, key: OrgKey) -> None:
        self._store.organization_sending(self._job_id, _lookup(key), external_id=key.external_id, name=key.name)

    def resolved(self, key: OrgKey, organization_id: str, *, created: bool) -> None:
        action = OrganizationAction.CREATED if created else OrganizationAction.FOUND
        self._store.organization_resolved(
            self._job_id,
            _lookup(key),
            organization_id=organization_id,
            external_id=key.external_id,
            name=key.name,
            action=action,
        )


def _lookup(key: OrgKey) -> str:
    kind, value = key.cache_key
    return f"{kind}:{value}"


def _email(fields: list[str], source: CsvSource) -> str | None:
    index = source.columns.email
    return fields[index].strip().lower() or None if index is not None and index < len(fields) else None


def _chunk_rows(source: CsvSource, spec: ChunkSpec) -> Iterator[tuple[int, int, list[str]]]:
    return islice(source.rows(offset=spec.byte_offset, first_row=spec.first_row), spec.row_count)
