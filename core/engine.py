"""Runs a job from start to end: the lead runner's share, its ``--workers`` helpers, then settling.

The engine's parts live in one module each: ``preparation`` (record a job, the validating and chunking
pass, the checks before a resume), ``runloop`` (one process's share: chunks, row tasks, batched ledger
writes, heartbeats), ``supervisor`` (the one place that starts and watches runner processes) and ``settle``
(the final state, the errors files and the ``MigrationResult``). ``execute_job`` joins them; the names the
front doors use are re-exported here.
"""

from __future__ import annotations

import logging
import subprocess

import anyio

from core.preparation import prepare_job, record_job, start_resume
from core.runloop import RunEnd, RunStats, migration_errors_alone, run_job
from core.settle import MigrationResult, finish_job, job_result
from core.store import JobStore
from core.supervisor import start_runner, wait_for
from core.workos.breaker import BreakerPolicy

__all__ = [
    "MigrationResult",
    "RunStats",
    "execute_job",
    "finish_job",
    "job_result",
    "prepare_job",
    "record_job",
    "run_job",
    "start_resume",
]

logger = logging.getLogger(__name__)


async def execute_job(
    store: JobStore,
    job_id: str,
    *,
    api_key: str,
    stop: anyio.Event | None = None,
    stats: RunStats | None = None,
    breaker: BreakerPolicy | None = None,
) -> MigrationResult:
    """Run a job to its end as the lead runner and settle it.

    The lead takes the job first (``JobStateError`` "already running" when another live runner holds it),
    so nothing waits for a state another process must reach. It reads what the rows will find in WorkOS
    (``run_job``'s ``learn``); with ``--workers N`` it then starts ``N - 1`` helper runners (only when chunks
    remain), runs its own share, waits for the helpers (a stop request
    reaches them through the store's cancel flag, and ``wait_for`` bounds the wait), and settles the job.
    """
    stop = stop or anyio.Event()
    job = store.get_job(job_id)
    runner_id = store.start_runner(job_id, lead=True)
    store.clear_outage_reason(job_id)
    helpers: list[subprocess.Popen[bytes]] = []
    end = RunEnd()

    async def propagate_stop() -> None:
        await stop.wait()
        store.request_cancel(job_id)

    def start_helpers() -> None:
        if job.options.workers > 1 and store.pending_chunks(job_id):
            for number in range(1, job.options.workers):
                log = store.job_dir(job_id) / f"worker-{number}.log"
                helpers.append(start_runner(job_id, store.directory, lead=False, api_key=api_key, log_path=log))

    try:
        with migration_errors_alone():
            async with anyio.create_task_group() as watching:
                watching.start_soon(propagate_stop)
                end = await run_job(
                    store,
                    job_id,
                    api_key=api_key,
                    runner_id=runner_id,
                    stop=stop,
                    stats=stats,
                    breaker=breaker,
                    learn=True,
                    on_learned=start_helpers,
                )
                await wait_for(helpers, stop=stop)
                watching.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            store.stop_runner(job_id, runner_id)  # run_job does it too; this covers a failure before it ran
            if any(helper.poll() is None for helper in helpers):
                stop.set()
                store.request_cancel(job_id)
                await wait_for(helpers, stop=stop)
    return finish_job(store, job_id, fatal=end.fatal, stopped=stop.is_set())
