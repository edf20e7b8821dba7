"""Undo: take back exactly what a job created, and nothing else.

The ledger says what a job created: memberships (also on users it adopted), TOTP factors, users and
organizations (``core.store``'s actions and ``job_organizations``). Undo deletes them in that order, so a
user is judged once the memberships the job gave it are gone, and an organization once its members are:
- a membership or factor the job created is deleted;
- a user the job created is deleted unless it changed since the import (its ``updated_at`` is newer than
  when the job recorded it; ``include_changed`` deletes it anyway) or it has a membership the job did not
  create (someone else uses it);
- an organization the job created is deleted when it is left empty; one whose create answer was lost is
  deleted only when it is proven the job's own (created after the job sent its create).
Never an adopted user, never a membership that was there before, never an organization the job only joined:
those are not in the worklist at all.

An undo is a job of its own: ``begin_undo`` freezes the worklist in the store on the first run, each item
gets its outcome (``deleted``, ``absent`` when it was already gone, ``kept`` with a reason, ``failed``),
written in batches, so an undo killed midway goes on where it stopped (a delete in flight is sent again and
answers 404: ``absent``), and a second undo deletes nothing. It is paced by the job's rate limiter, stops on
a cancel request, and heartbeats so a dead runner shows as ``interrupted``. ``preview_undo`` reads only.
How a person confirms is each front door's business.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from enum import StrEnum

import anyio
from pydantic import BaseModel, Field

from core.errors import AuthenticationError, JobStateError, NotFound, WorkOSError, WorkOSUnavailable
from core.pipeline import CREATED_AT_SKEW_SECONDS
from core.runloop import migration_errors_alone
from core.store import (
    UNDO_PHASES,
    Job,
    JobStore,
    UndoItem,
    UndoKind,
    UndoOutcome,
    UndoState,
)
from core.workos.breaker import BreakerPolicy, CircuitBreaker
from core.workos.client import WorkOSClient
from core.workos.limits import RateLimiter
from core.workos.models import Organization

__all__ = [
    "EXAMPLES",
    "KeepReason",
    "UndoExample",
    "UndoPreview",
    "UndoProgress",
    "UndoResult",
    "kept_always_text",
    "preview_undo",
    "run_undo",
    "undo_result",
]

logger = logging.getLogger(__name__)

EXAMPLES = 10
"""How many examples of each kind a preview or a result lists."""
_BATCH = 200
_FLUSH_SECONDS = 0.25
_HEARTBEAT_SECONDS = 1.0


class KeepReason(StrEnum):
    """Why undo left an object the job created in place."""

    CHANGED_SINCE_IMPORT = "changed_since_import"  # the user was updated after the job recorded it
    OTHER_MEMBERSHIPS = "other_memberships"  # the user has memberships the job did not create
    ORGANIZATION_NOT_EMPTY = "organization_not_empty"  # the organization still has members
    NOT_CREATED_BY_JOB = "not_created_by_job"  # a lost create's organization turned out to be older than the job


_KEPT_ALWAYS = {
    "users_adopted": "users the job adopted (they existed before it)",
    "users_updated": "users the job updated (they existed before it)",
    "users_skipped": "users the job skipped (they existed before it)",
    "memberships_existed": "memberships that existed before the job",
    "memberships_updated": "memberships that existed before the job (their roles were changed)",
    "organizations_found": "organizations the job joined but did not create",
}


class UndoExample(BaseModel):
    """One object undo deletes or keeps."""

    kind: UndoKind
    object_id: str | None
    row: int | None = Field(description="The first CSV row that made it (None for organizations).")
    email: str | None = Field(description="The user's email (the organization's name for organizations).")
    outcome: UndoOutcome
    reason: str | None = None


class UndoResult(BaseModel):
    """What an undo did, from its own ledger."""

    job_id: str
    state: UndoState
    include_changed: bool
    deleted: dict[UndoKind, int]
    absent: dict[UndoKind, int] = Field(description="Already gone when undo came to them (nothing to delete).")
    kept: dict[str, int] = Field(description="Objects the job created that undo left in place, by reason.")
    failed: int
    pending: int = Field(description="Items without an outcome yet: run undo again to go on.")
    kept_examples: list[UndoExample]
    failed_examples: list[UndoExample]
    duration_seconds: float | None = None
    last_error: str | None = None

    @property
    def exit_code(self) -> int:
        """0 when undo finished with nothing failed, 1 when anything failed or remains, 2 when it stopped on a fatal
        error or for WorkOS being unreachable longer than ``--max-outage``."""
        if self.state in (UndoState.FAILED, UndoState.INTERRUPTED):
            return 2
        return 0 if self.state is UndoState.COMPLETED else 1


class UndoPreview(BaseModel):
    """What an undo of a job would delete and keep, from the ledger and (for users) the environment."""

    job_id: str
    base_url: str
    delete: dict[UndoKind, int] = Field(description="Objects the job created, by kind: what undo would delete.")
    kept: dict[str, int] = Field(description="Objects undo never touches, by why (adopted users, ...).")
    users_checked: int = Field(description="Users the job created whose current state was read for this preview.")
    users_changed: int = Field(description="Of those, changed since the import: kept unless include_changed.")
    users_with_other_memberships: int = Field(description="Of those, with memberships the job did not create: kept.")
    to_delete: list[UndoExample] = Field(description="The first objects undo would delete.")
    to_keep: list[UndoExample] = Field(description="The first users undo would keep, with the reason.")
    previous: UndoResult | None = Field(default=None, description="The earlier undo of this job, if any.")

    @property
    def unchecked_users(self) -> int:
        return self.delete.get(UndoKind.USER, 0) - self.users_checked


class UndoProgress(BaseModel):
    """Items of the undo done so far, and in all."""

    done: int
    total: int


def _example(item: UndoItem, outcome: UndoOutcome | None = None, reason: str | None = None) -> UndoExample:
    return UndoExample(
        kind=item.kind,
        object_id=item.object_id,
        row=item.row,
        email=item.email,
        outcome=outcome or item.outcome,
        reason=reason or item.reason,
    )


def undo_result(store: JobStore, job_id: str) -> UndoResult | None:
    """The undo of ``job_id`` as recorded, or None when it was never undone."""
    record = store.get_undo(job_id)
    if record is None:
        return None
    counts = store.undo_counts(job_id)
    deleted: dict[UndoKind, int] = {}
    absent: dict[UndoKind, int] = {}
    kept: dict[str, int] = {}
    failed = pending = 0
    for (kind, outcome, reason), count in counts.items():
        if outcome is UndoOutcome.DELETED:
            deleted[kind] = deleted.get(kind, 0) + count
        elif outcome is UndoOutcome.ABSENT:
            absent[kind] = absent.get(kind, 0) + count
        elif outcome is UndoOutcome.KEPT:
            key = reason or "kept"
            kept[key] = kept.get(key, 0) + count
        elif outcome is UndoOutcome.FAILED:
            failed += count
        else:
            pending += count
    ended = record.finished_at or record.updated_at
    return UndoResult(
        job_id=job_id,
        state=record.state,
        include_changed=record.include_changed,
        deleted=deleted,
        absent=absent,
        kept=kept,
        failed=failed,
        pending=pending,
        kept_examples=[_example(i) for i in store.undo_examples(job_id, UndoOutcome.KEPT, limit=EXAMPLES)],
        failed_examples=[_example(i) for i in store.undo_examples(job_id, UndoOutcome.FAILED, limit=EXAMPLES)],
        duration_seconds=round(ended - record.started_at, 3) if record.started_at else None,
        last_error=record.last_error,
    )


def _client(job: Job, api_key: str) -> WorkOSClient:
    options = job.options
    limiter = RateLimiter(
        write_rate=options.rate_limit, read_rate=options.read_rate_limit, general_rate=options.global_rate_limit
    )
    return WorkOSClient(
        api_key=api_key,
        base_url=options.base_url,
        limiter=limiter,
        breaker=CircuitBreaker(BreakerPolicy.waiting(options.max_outage)),
        concurrency=options.concurrency,
    )


# -- preview ------------------------------------------------------------------------------------------


async def preview_undo(
    store: JobStore,
    job_id: str,
    *,
    api_key: str,
    check_limit: int | None = None,
    include_changed: bool = False,
    on_progress: Callable[[UndoProgress], None] | None = None,
) -> UndoPreview:
    """What ``run_undo`` would delete and keep; reads only.

    Counts come from the ledger; the users the job created are read from WorkOS (all of them, or the first
    ``check_limit``) to tell which undo would keep because they changed since the import or have memberships
    the job did not create. Raises ``JobStateError`` for an unknown job and the client's ``WorkOSError``.
    """
    job = store.get_job(job_id)
    delete: dict[UndoKind, int] = {}
    to_delete: list[UndoExample] = []
    for kind in UNDO_PHASES:
        count, first = store.undo_sources(job_id, kind, limit=EXAMPLES)
        delete[kind] = count
        to_delete += [_example(item) for item in first[: max(EXAMPLES - len(to_delete), 0)]]
    users_total, users = store.undo_sources(job_id, UndoKind.USER, limit=check_limit)
    to_keep: list[UndoExample] = []
    changed = other = 0
    async with _client(job, api_key) as client:
        judge = _Judge(client, store, job_id, include_changed=True)
        checked = 0
        for start in range(0, len(users), _BATCH):
            batch = users[start : start + _BATCH]
            verdicts = [(item, await judge.user_verdict(item, before_memberships_deleted=True)) for item in batch]
            for item, (outcome, reason) in verdicts:
                if reason == KeepReason.CHANGED_SINCE_IMPORT:
                    changed += 1
                    if not include_changed and len(to_keep) < EXAMPLES:
                        to_keep.append(_example(item, UndoOutcome.KEPT, reason))
                elif reason == KeepReason.OTHER_MEMBERSHIPS:
                    other += 1
                    if len(to_keep) < EXAMPLES:
                        to_keep.append(_example(item, outcome, reason))
            checked += len(batch)
            if on_progress is not None:
                on_progress(UndoProgress(done=checked, total=users_total))
    previous = undo_result(store, job_id)
    kept = {key: value for key, value in store.ledger_actions(job_id).items() if value}
    return UndoPreview(
        job_id=job_id,
        base_url=job.options.base_url,
        delete=delete,
        kept=kept,
        users_checked=len(users),
        users_changed=changed,
        users_with_other_memberships=other,
        to_delete=to_delete,
        to_keep=to_keep,
        previous=previous,
    )


def kept_always_text(key: str) -> str:
    """What a key of ``UndoPreview.kept`` means, for a person."""
    return _KEPT_ALWAYS.get(key, key)


# -- judging one object -------------------------------------------------------------------------------


Verdict = tuple[UndoOutcome, str | None]
"""``(DELETED, None)`` when the object may go (nothing deleted yet), ``(ABSENT, None)``, or ``(KEPT, reason)``."""


class _Judge:
    """Decides, from what WorkOS holds now, whether an object the job created may be deleted."""

    def __init__(self, client: WorkOSClient, store: JobStore, job_id: str, *, include_changed: bool) -> None:
        self._client = client
        self._store = store
        self._job_id = job_id
        self._include_changed = include_changed

    async def user_verdict(self, item: UndoItem, *, before_memberships_deleted: bool = False) -> Verdict:
        assert item.object_id is not None
        user_id = item.object_id
        try:
            user = await self._client.get_user(user_id)
        except NotFound:
            return UndoOutcome.ABSENT, None
        imported = (item.imported_at or 0.0) + CREATED_AT_SKEW_SECONDS
        if user.updated_at.timestamp() > imported and not self._include_changed:
            return UndoOutcome.KEPT, KeepReason.CHANGED_SINCE_IMPORT
        memberships = await self._client.list_memberships(user_id=user_id)
        ours = self._store.job_membership_ids(self._job_id, item.email or "") if before_memberships_deleted else set()
        if any(m.id not in ours for m in memberships):
            return UndoOutcome.KEPT, KeepReason.OTHER_MEMBERSHIPS
        if user.updated_at.timestamp() > imported:
            return UndoOutcome.DELETED, KeepReason.CHANGED_SINCE_IMPORT
        return UndoOutcome.DELETED, None

    async def organization(self, item: UndoItem) -> tuple[str | None, Verdict]:
        """The organization's id and verdict; one whose create answer was lost is found by its lookup key."""
        organization_id = item.object_id
        if item.lookup is not None and item.imported_at is not None:
            # A create was sent; whether it made this organization is told by when it was created.
            sent = item.imported_at - CREATED_AT_SKEW_SECONDS
            candidates = await self._candidates(item.lookup, organization_id)
            if not candidates:
                return organization_id, (UndoOutcome.ABSENT, None)
            ours = [org for org in candidates if org.created_at is not None and org.created_at.timestamp() >= sent]
            if len(ours) != 1:
                return organization_id, (UndoOutcome.KEPT, KeepReason.NOT_CREATED_BY_JOB)
            organization_id = ours[0].id
        if organization_id is None:
            return None, (UndoOutcome.ABSENT, None)
        if await self._client.get_organization(organization_id) is None:
            return organization_id, (UndoOutcome.ABSENT, None)
        if await self._client.any_membership(organization_id=organization_id):
            return organization_id, (UndoOutcome.KEPT, KeepReason.ORGANIZATION_NOT_EMPTY)
        return organization_id, (UndoOutcome.DELETED, None)

    async def _candidates(self, lookup: str, organization_id: str | None) -> list[Organization]:
        if organization_id is not None:
            found = await self._client.get_organization(organization_id)
            return [found] if found is not None else []
        kind, _, value = lookup.partition(":")
        if kind == "ext":
            found = await self._client.get_organization_by_external_id(value)
            return [found] if found is not None else []
        if kind == "name":
            return [org async for org in self._client.list_organizations(search=value) if org.name == value]
        return []


# -- running ------------------------------------------------------------------------------------------


async def run_undo(
    store: JobStore,
    job_id: str,
    *,
    api_key: str,
    include_changed: bool = False,
    confirmation: str | None = None,
    stop: anyio.Event | None = None,
    on_progress: Callable[[UndoProgress], None] | None = None,
) -> UndoResult:
    """Run (or go on with) the undo of ``job_id`` until every item has an outcome, or until stopped.

    Raises ``JobStateError`` for an unknown job, or when another live process runs its undo, and when the job
    itself is running (undo a job only once it stopped).
    """
    job = store.get_job(job_id)
    if job.live_runners:
        raise JobStateError(f"job {job_id!r} is running: cancel it and let it stop before undoing it")
    store.begin_undo(job_id, include_changed=include_changed, confirmation=confirmation)
    runner = _UndoRunner(store, job, include_changed=include_changed, stop=stop or anyio.Event())
    state = UndoState.COMPLETED
    error: str | None = None
    try:
        with migration_errors_alone():
            async with _client(job, api_key) as client:
                await runner.run(client, on_progress)
    except AuthenticationError as exc:
        state, error = UndoState.FAILED, exc.rejection
    except WorkOSUnavailable as exc:
        # WorkOS down longer than the job's --max-outage: what is left stays pending for the next undo.
        state, error = UndoState.INTERRUPTED, str(exc)
    except BaseException:
        state = UndoState.INTERRUPTED  # whatever stopped this run, the items without an outcome are left
        raise
    finally:
        with anyio.CancelScope(shield=True):
            runner.flush()
            if runner.stop.is_set() and error is None and state is not UndoState.INTERRUPTED:
                state = UndoState.CANCELLED
            elif error is None and runner.failed:
                state = UndoState.COMPLETED_WITH_ERRORS
            store.finish_undo(job_id, state, last_error=error)
    result = undo_result(store, job_id)
    assert result is not None
    return result


class _UndoRunner:
    """One process's run of an undo: the phases in order, deletes in parallel, outcomes in batches."""

    def __init__(self, store: JobStore, job: Job, *, include_changed: bool, stop: anyio.Event) -> None:
        self.store = store
        self.job = job
        self.include_changed = include_changed
        self.stop = stop
        self.failed = 0
        self._pending: list[UndoItem] = []
        self._last_flush = time.monotonic()
        self._done = 0

    async def run(self, client: WorkOSClient, on_progress: Callable[[UndoProgress], None] | None) -> None:
        judge = _Judge(client, self.store, self.job.id, include_changed=self.include_changed)
        counts = self.store.undo_counts(self.job.id)
        total = sum(counts.values())
        self._done = total - sum(n for (_, outcome, _), n in counts.items() if outcome is UndoOutcome.PENDING)

        def progress() -> None:
            if on_progress is not None:
                on_progress(UndoProgress(done=self._done, total=total))

        async with anyio.create_task_group() as beating:
            beating.start_soon(self._heartbeat)
            for kind in UNDO_PHASES:
                if self.stop.is_set():
                    break
                await self._phase(client, judge, kind, progress)
                self.flush()
            beating.cancel_scope.cancel()

    async def _phase(self, client: WorkOSClient, judge: _Judge, kind: UndoKind, progress: Callable[[], None]) -> None:
        slots = anyio.Semaphore(self.job.options.concurrency)
        after = 0
        while not self.stop.is_set():
            batch = self.store.pending_undo_items(self.job.id, kind, after_id=after, limit=_BATCH)
            if not batch:
                return
            after = batch[-1].id
            async with anyio.create_task_group() as tasks:
                for item in batch:
                    if self.stop.is_set():
                        break
                    await slots.acquire()
                    tasks.start_soon(self._one, client, judge, item, slots, progress)

    async def _one(
        self,
        client: WorkOSClient,
        judge: _Judge,
        item: UndoItem,
        slots: anyio.Semaphore,
        progress: Callable[[], None],
    ) -> None:
        try:
            outcome = await self._undo(client, judge, item)
        except AuthenticationError:
            self.stop.set()
            raise
        except WorkOSError as exc:
            self.failed += 1
            outcome = item._replace(outcome=UndoOutcome.FAILED, error_code=exc.code or type(exc).__name__,
                                    error_message=exc.message)  # fmt: skip
        finally:
            slots.release()
        self._record(outcome)
        progress()

    async def _undo(self, client: WorkOSClient, judge: _Judge, item: UndoItem) -> UndoItem:
        if item.kind is UndoKind.MEMBERSHIP:
            assert item.object_id is not None
            return await self._delete(item, lambda: client.delete_membership(item.object_id or ""))
        if item.kind is UndoKind.FACTOR:
            return await self._delete(item, lambda: client.delete_auth_factor(item.object_id or ""))
        if item.kind is UndoKind.USER:
            outcome, reason = await judge.user_verdict(item)
            if outcome is not UndoOutcome.DELETED:
                return item._replace(outcome=outcome, reason=reason)
            return await self._delete(item._replace(reason=reason), lambda: client.delete_user(item.object_id or ""))
        organization_id, (outcome, reason) = await judge.organization(item)
        item = item._replace(object_id=organization_id)
        if outcome is not UndoOutcome.DELETED or organization_id is None:
            return item._replace(outcome=outcome, reason=reason)
        return await self._delete(item, lambda: client.delete_organization(organization_id))

    async def _delete(self, item: UndoItem, delete: Callable[[], Awaitable[None]]) -> UndoItem:
        """Delete; a 404 means it is gone already (deleted by someone, or by a run whose answer was lost)."""
        try:
            await delete()
        except NotFound:
            return item._replace(outcome=UndoOutcome.ABSENT)
        return item._replace(outcome=UndoOutcome.DELETED)

    def _record(self, item: UndoItem) -> None:
        self._done += 1
        self._pending.append(item)
        if len(self._pending) >= _BATCH or time.monotonic() - self._last_flush >= _FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            self.store.record_undo_items(self.job.id, self._pending)
            self._pending = []
        self._last_flush = time.monotonic()

    async def _heartbeat(self) -> None:
        while True:
            await anyio.sleep(_HEARTBEAT_SECONDS)
            self.flush()
            if self.store.undo_heartbeat(self.job.id):
                self.stop.set()
