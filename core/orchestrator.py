"""MigrationOrchestrator: the library's front object, mirroring the orchestrator document's usage.

``MigrationOrchestrator(options).plan()`` returns the ``MigrationPlan``; ``await ...execute()`` records the
job (or picks up the one ``options.resume`` names), runs it to its end and returns the
``MigrationResult``. ``reopen_job`` decides which job a resume continues and which of the options given
with it may change; ``dry_run`` validates a whole run without recording anything. The CLI and the MCP
server call this object or the functions behind it.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from core.engine import MigrationResult, RunStats, execute_job, job_result, prepare_job, start_resume
from core.errors import AuthenticationError, JobStateError, OptionsError
from core.options import MigrationOptions, flag_name
from core.planner import MigrationPlan, plan
from core.preflight import checked_plan
from core.store import RESUMABLE_STATES, Job, JobState, JobStore

__all__ = ["RESUME_MAY_CHANGE", "MigrationOrchestrator", "Reopened", "dry_run", "reopen_job", "resumable"]

RESUME_MAY_CHANGE = (
    "concurrency", "workers", "rate_limit", "read_rate_limit", "global_rate_limit", "max_outage", "errors_out"
)  # fmt: skip
"""Options a resume may change: how fast the job runs and where its failures are copied, never what it writes."""
_NOT_COMPARED = frozenset({"resume", "retry_failed", "retry_transient", "quiet", "yes", "checkpoint_dir", "job_id"})
"""How this command runs, or which job: given with a resume, they are not changes of the job."""
_NEWEST_LOOKED_AT = 1000


@dataclass(frozen=True, slots=True)
class Reopened:
    """The job a resume continues, how it was chosen, and what the resume changed."""

    job: Job
    newest: bool = False
    """True when no id was given and this is the newest job a resume can continue."""
    passed_over: list[Job] = field(default_factory=list)
    """Newer jobs that a resume cannot continue (completed, running, dry runs), newest first."""
    changed: list[str] = field(default_factory=list)
    """The options the resume changed, e.g. ``--concurrency 50 (was 10)``."""


def resumable(job: Job, *, retry_failed: bool = False, transient_failures: bool = False) -> bool:
    """Whether a resume would continue ``job``: rows left to run, or failed rows to send again
    (``transient_failures``: the job has rows that failed for a transient cause, and they are resent)."""
    if job.state is JobState.COMPLETED_WITH_ERRORS:
        return retry_failed or transient_failures
    return job.state in RESUMABLE_STATES


def reopen_job(
    store: JobStore,
    job_id: str | None,
    *,
    retry_failed: bool = False,
    retry_transient: bool = True,
    changes: Mapping[str, Any] | None = None,
) -> Reopened:
    """Check and reopen a job for a resume: the one named, else the newest one a resume can continue.

    ``changes`` are options given with the resume (field names): those in ``RESUME_MAY_CHANGE`` are
    recorded for the job, the rest must equal what the job ran with. Raises ``OptionsError`` naming every
    option that may not change, ``JobStateError`` when no job can be resumed, ``SourceError`` when its CSV
    changed.
    """
    passed_over: list[Job] = []
    if job_id is not None:
        job = store.get_job(job_id)
    else:
        found = None
        for candidate in store.list_jobs(limit=_NEWEST_LOOKED_AT):
            finished = candidate.state is JobState.COMPLETED_WITH_ERRORS
            transient = retry_transient and finished and store.has_retryable_failures(candidate.id)
            if resumable(candidate, retry_failed=retry_failed, transient_failures=transient):
                found = candidate
                break
            passed_over.append(candidate)
        if found is None:
            newest = f" (the newest, {passed_over[0].id}, is {passed_over[0].state.value})" if passed_over else ""
            raise JobStateError(f"no job in {store.directory} can be resumed{newest}")
        job = found
    options, changed = _resume_options(job, changes or {})
    job = start_resume(store, job.id, retry_failed=retry_failed, retry_transient=retry_transient)
    if changed:
        store.update_options(job.id, options)
        job = store.get_job(job.id)
    return Reopened(job, newest=job_id is None, passed_over=passed_over, changed=changed)


def _resume_options(job: Job, changes: Mapping[str, Any]) -> tuple[MigrationOptions, list[str]]:
    recorded = job.options
    update: dict[str, Any] = {}
    changed: list[str] = []
    refused: list[str] = []
    for name in MigrationOptions.model_fields:  # in the flags' order, whatever the order given
        value = changes.get(name)
        if name in _NOT_COMPARED or value is None:
            continue
        if name == "csv_path":
            if Path(value).resolve() != job.csv_path:
                refused.append(f"--csv {value}: job {job.id} reads {job.csv_path}")
            continue
        before = getattr(recorded, name)
        if value == before:
            continue
        if name in RESUME_MAY_CHANGE:
            update[name] = value
            changed.append(f"{flag_name(name)} {_shown(value)} (was {_shown(before)})")
        else:
            refused.append(f"{flag_name(name)} {_shown(value)}: job {job.id} ran with {_shown(before)}")
    if refused:
        may = ", ".join(flag_name(name) for name in RESUME_MAY_CHANGE)
        raise OptionsError(
            [f"Cannot change on resume: {item}" for item in refused]
            + [f"A resume may change only {may}; start a new job (another --job-id) to change the rest"]
        )
    if not update:
        return recorded, []
    return MigrationOptions.build(**{**recorded.model_dump(), **update}), changed


def _shown(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"{value:g}" if isinstance(value, float) else str(value)


def dry_run(options: MigrationOptions) -> MigrationResult:
    """Validate every row as a run would and return its result, recording nothing.

    The setup pass runs against a job store in a temporary directory, removed afterwards, so no job store
    or checkpoint directory is created; invalid rows go to ``--errors-out`` when given (and rows failed).
    """
    with tempfile.TemporaryDirectory(prefix="workos-migrate-dry-run-") as scratch:
        store = JobStore.open(Path(scratch))
        try:
            job = prepare_job(store, options.model_copy(update={"dry_run": True}))
            return job_result(store, job.id)
        finally:
            store.close()


def _snake(name: str) -> str:
    """``csvPath`` -> ``csv_path``; snake_case names stay as they are."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def _options(values: MigrationOptions | Mapping[str, Any]) -> MigrationOptions:
    """Options from a ``MigrationOptions``, or a mapping in this library's names or the document's
    (``csvPath``, ``orgId``, ``concurrency``, ...)."""
    if isinstance(values, MigrationOptions):
        return values
    return MigrationOptions.build(**{_snake(name): value for name, value in values.items()})


class MigrationOrchestrator:
    """Plan and run one migration described by ``options``.

    Example (the orchestrator document's, in Python)::

        orchestrator = MigrationOrchestrator({"csvPath": "users.csv", "orgId": "org_123", "quiet": True, "yes": True})
        plan = orchestrator.plan()
        if not plan.valid:
            print("Invalid plan:", plan.validation.errors)
        result = anyio.run(orchestrator.execute)
        print(f"{result.summary.successes} successes, {result.summary.failures} failures in {result.duration}ms")
    """

    def __init__(self, options: MigrationOptions | Mapping[str, Any], *, api_key: str | None = None) -> None:
        self.options = _options(options)
        self._api_key = api_key or os.environ.get("WORKOS_API_KEY") or os.environ.get("WORKOS_SECRET_KEY")

    def plan(self, *, check_live: bool = False) -> MigrationPlan:
        """Plan the migration (no API call, no write). Raises ``SourceError`` or ``OptionsError`` when unusable.

        ``check_live`` also checks the target environment, read-only (``core.preflight``)."""
        if check_live:
            return checked_plan(self.options, api_key=self._api_key)
        return plan(self.options, api_key=self._api_key)

    def prepare(self, store: JobStore, *, plan_hash: str | None = None) -> Job:
        """Record the job (or check and reopen the one to resume) without sending anything."""
        if self.options.resume is not None:
            return self.reopen(store).job
        return prepare_job(store, self.options, plan_hash=plan_hash)

    def reopen(self, store: JobStore) -> Reopened:
        """Reopen the job ``options.resume`` names (True: the newest resumable one, or ``--job-id``'s),
        applying the options given with it that a resume may change (see ``reopen_job``)."""
        options = self.options
        job_id = options.resume if isinstance(options.resume, str) else options.job_id
        changes = {name: getattr(options, name) for name in options.model_fields_set}
        return reopen_job(
            store, job_id, retry_failed=options.retry_failed, retry_transient=options.retry_transient, changes=changes
        )

    async def execute(
        self,
        *,
        stop: anyio.Event | None = None,
        stats: RunStats | None = None,
    ) -> MigrationResult:
        """Run the migration to its end (or until ``stop``) and return what happened.

        A dry run records nothing (see ``dry_run``). Raises ``AuthenticationError`` without a key (except
        for a dry run), and the ``prepare`` errors.
        """
        if self.options.dry_run and self.options.resume is None:
            return dry_run(self.options)
        if not self._api_key:
            raise AuthenticationError("No WorkOS API key: set WORKOS_API_KEY (or WORKOS_SECRET_KEY)")
        store = JobStore.open(self.options.checkpoint_dir)
        try:
            job = self.prepare(store, plan_hash=None if self.options.resume else self.plan().plan_hash)
            return await execute_job(store, job.id, api_key=self._api_key, stop=stop, stats=stats)
        finally:
            store.close()
