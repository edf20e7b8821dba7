"""MigrationOrchestrator: the library's front object, mirroring the orchestrator document's usage.

``MigrationOrchestrator(options).plan()`` returns the ``MigrationPlan``; ``await ...execute()`` records the
job (or picks up the one ``options.resume`` names), runs it to its end and returns the
``MigrationResult``. The CLI and the MCP server call this object or the functions behind it.
"""

from __future__ import annotations

import os

import anyio

from core.engine import MigrationResult, RunStats, execute_job, job_result, prepare_job, start_resume
from core.errors import AuthenticationError
from core.options import MigrationOptions
from core.planner import MigrationPlan, plan
from core.store import Job, JobStore

__all__ = ["MigrationOrchestrator"]


class MigrationOrchestrator:
    """Plan and run one migration described by ``options``.

    Example::

        orchestrator = MigrationOrchestrator(MigrationOptions.build(csv_path="users.csv", org_id="org_123"))
        result = orchestrator.plan()
        if not result.valid:
            print(result.errors)
        outcome = anyio.run(orchestrator.execute)
        print(outcome.succeeded, outcome.failed)
    """

    def __init__(self, options: MigrationOptions, *, api_key: str | None = None) -> None:
        self.options = options
        self._api_key = api_key or os.environ.get("WORKOS_API_KEY") or os.environ.get("WORKOS_SECRET_KEY")

    def plan(self) -> MigrationPlan:
        """Plan the migration (no API call, no write). Raises ``SourceError`` or ``OptionsError`` when unusable."""
        return plan(self.options, api_key=self._api_key)

    def prepare(self, store: JobStore, *, plan_hash: str | None = None) -> Job:
        """Record the job (or check and reopen the one to resume) without sending anything."""
        if self.options.resume is not None:
            job_id = self.options.resume if isinstance(self.options.resume, str) else None
            return start_resume(store, job_id, retry_failed=self.options.retry_failed)
        return prepare_job(store, self.options, plan_hash=plan_hash)

    async def execute(
        self,
        *,
        stop: anyio.Event | None = None,
        stats: RunStats | None = None,
    ) -> MigrationResult:
        """Run the migration to its end (or until ``stop``) and return what happened.

        Raises ``AuthenticationError`` without a key (except for a dry run), and the ``prepare`` errors.
        """
        store = JobStore.open(self.options.checkpoint_dir)
        job = self.prepare(store, plan_hash=None if self.options.resume else self.plan().plan_hash)
        if job.options.dry_run:
            return job_result(store, job.id)
        if not self._api_key:
            raise AuthenticationError("No WorkOS API key: set WORKOS_API_KEY (or WORKOS_SECRET_KEY)")
        return await execute_job(store, job.id, api_key=self._api_key, stop=stop, stats=stats)
