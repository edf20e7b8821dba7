"""A job runner process: ``python -m core.runner JOB_ID --checkpoint-dir DIR [--lead | --undo]``.

The lead runner finishes the setup pass of a job recorded without one (``record_job``), takes the job,
starts the helper runners ``--workers`` asks for, runs its share and settles the job; a helper only runs its
share. The MCP server starts the lead detached, so a migration outlives the assistant's session; a lead
with ``--workers N`` starts ``N - 1`` helpers. ``--undo`` runs (or goes on with) the job's undo instead
(``core.undo``; ``--include-changed`` as the command's). The API key comes from the environment (``WORKOS_API_KEY``
or ``WORKOS_SECRET_KEY``), never from the command line. Logs go to stderr; nothing here talks to a terminal.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

import anyio

from core.engine import execute_job, run_job, start_resume
from core.errors import MigrationError
from core.platform import watch_stop_signals
from core.store import JobState, JobStore
from core.undo import run_undo

__all__ = ["api_key_from_env", "main"]

logger = logging.getLogger(__name__)


def api_key_from_env() -> str | None:
    """The WorkOS key from the environment, if any."""
    return os.environ.get("WORKOS_API_KEY") or os.environ.get("WORKOS_SECRET_KEY") or None


async def _run(
    job_id: str,
    checkpoint_dir: Path,
    *,
    lead: bool,
    api_key: str,
    undo: bool | None = None,
    confirmation: str | None = None,
) -> int:
    """Run the job (as its lead or a helper) or, when ``undo`` is not None, its undo (``undo``: include changed
    users)."""
    store = JobStore.open(checkpoint_dir)
    stop = anyio.Event()
    async with anyio.create_task_group() as tasks:

        def on_signal(name: str) -> None:
            logger.info("received %s: finishing rows in flight, then stopping", name)
            stop.set()

        tasks.start_soon(watch_stop_signals, on_signal)
        if undo is not None:
            undone = await run_undo(
                store, job_id, api_key=api_key, include_changed=undo, confirmation=confirmation, stop=stop
            )
            logger.info("undo of %s %s: %s", job_id, undone.state.value, undone.model_dump_json())
            code = undone.exit_code
        elif lead:
            _finish_setup(store, job_id)
            if store.get_job(job_id).cancel_requested:
                # Cancelled before this runner took the job (taking it clears the flag): stop at once.
                stop.set()
            result = await execute_job(store, job_id, api_key=api_key, stop=stop)
            logger.info("job %s %s: %s", job_id, result.state.value, result.model_dump_json())
            code = result.exit_code
        else:
            end = await run_job(store, job_id, api_key=api_key, lead=False, stop=stop)
            code = 2 if end.fatal or end.interrupted else 0
        tasks.cancel_scope.cancel()
    return code


def _finish_setup(store: JobStore, job_id: str) -> None:
    """Run the validating and chunking pass of a job recorded without it (``record_job``), once.

    A refusal (the file changed since the plan, or went missing) is kept as the job's last error so that
    status shows why the job never started.
    """
    if store.get_job(job_id).state is not JobState.PREPARING:
        return
    try:
        start_resume(store, job_id)
    except MigrationError as exc:
        store.set_state(job_id, JobState.PREPARING, last_error=str(exc))
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.runner", description=__doc__.splitlines()[0])
    parser.add_argument("job_id")
    parser.add_argument("--checkpoint-dir", type=Path, required=True)
    parser.add_argument("--lead", action="store_true", help="take the job, start helpers and settle it")
    parser.add_argument("--undo", action="store_true", help="run the job's undo instead")
    parser.add_argument("--include-changed", action="store_true", help="undo: delete users changed since the import")
    parser.add_argument("--confirmation", help="undo: how the person confirmed it (recorded with the undo)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")
    # One line per HTTP request would make a runner's log as long as the file; failures are in the ledger.
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    api_key = api_key_from_env()
    if not api_key:
        logger.error("no WorkOS API key: set WORKOS_API_KEY (or WORKOS_SECRET_KEY)")
        return 2
    try:
        undo = args.include_changed if args.undo else None
        return anyio.run(
            lambda: _run(
                args.job_id,
                args.checkpoint_dir,
                lead=args.lead,
                api_key=api_key,
                undo=undo,
                confirmation=args.confirmation,
            )
        )
    except MigrationError as exc:
        logger.error("%s", exc)
        return 2


if __name__ == "__main__":
    sys.exit(main())
