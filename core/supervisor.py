"""The one place that starts and watches runner processes (``python -m core.runner``).

A job's processes are of two kinds: the detached lead that the MCP server starts (it outlives the server
and the assistant's session) and the ``--workers`` helpers a lead starts and waits for. Both start here, with
the API key in their environment only and their output in a log file; liveness is asked of psutil through
``core.platform`` (a reused pid or a zombie is not taken for a runner); every wait has a deadline and obeys
a stop request. The processes' work is ``runloop``'s; the store's heartbeats tell other hosts.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import anyio

from core.platform import child_popen_options, command_line, detached_popen_options, request_stop

__all__ = ["STOP_GRACE_SECONDS", "reap", "runner_alive", "runner_command", "start_runner", "wait_for"]

logger = logging.getLogger(__name__)

# How long a runner asked to stop may take to finish its rows in flight before it is told again, then killed.
STOP_GRACE_SECONDS = 60.0
_POLL_SECONDS = 0.1
# The processes this one started: polling them reaps them, so a finished runner never lingers as a zombie.
_children: dict[int, subprocess.Popen[bytes]] = {}


def runner_command(job_id: str, checkpoint_dir: Path, *, lead: bool, undo: bool = False) -> list[str]:
    """The command line of a runner process for ``job_id`` (``undo``: the runner of the job's undo)."""
    command = [sys.executable, "-m", "core.runner", job_id, "--checkpoint-dir", str(checkpoint_dir.resolve())]
    if undo:
        return [*command, "--undo"]
    return [*command, "--lead"] if lead else command


def start_runner(
    job_id: str,
    checkpoint_dir: Path,
    *,
    lead: bool,
    api_key: str,
    log_path: Path,
    detached: bool = False,
    undo: bool = False,
    extra: Sequence[str] = (),
) -> subprocess.Popen[bytes]:
    """Start a runner of ``job_id`` with its output appended to ``log_path`` and the key in its environment only.

    ``extra`` arguments follow the command (``--include-changed`` for an undo). ``detached`` runners (the MCP
    server's lead) get a session of their own and outlive this process; the others
    (``--workers`` helpers) stay this process's children, which ``wait_for`` watches.
    """
    env = {**os.environ, "WORKOS_API_KEY": api_key}
    env.pop("WORKOS_SECRET_KEY", None)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    options = detached_popen_options() if detached else child_popen_options()
    # Private: a runner's log may name rows' emails.
    descriptor = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(descriptor, "ab") as log:
        process = subprocess.Popen(
            [*runner_command(job_id, checkpoint_dir, lead=lead, undo=undo), *extra],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            cwd=log_path.parent,
            env=env,
            **options,
        )
    _children[process.pid] = process
    logger.info("job %s: started %s runner pid %d", job_id, "lead" if lead else "helper", process.pid)
    return process


def reap() -> None:
    """Collect the runners this process started that have exited."""
    for pid, child in list(_children.items()):
        if child.poll() is not None:
            del _children[pid]


def runner_alive(pid: int, job_id: str) -> bool:
    """True while ``pid`` is a live runner of ``job_id`` (a reused pid runs something else; a zombie is dead)."""
    child = _children.get(pid)
    if child is not None:
        return child.poll() is None
    command = command_line(pid)
    if command is None:
        return False
    if not command:
        return True  # it exists but its command line is not ours to read
    return any("core.runner" in part for part in command) and job_id in command


async def wait_for(
    processes: Sequence[subprocess.Popen[bytes]], *, stop: anyio.Event, grace: float = STOP_GRACE_SECONDS
) -> None:
    """Wait until every process has exited. Once ``stop`` is set, each gets ``grace`` seconds to finish its rows
    in flight (it sees the store's cancel flag within a heartbeat), is then asked to stop, and is killed after
    as long again. Never waits forever on a process that does not end."""
    stop_deadline: float | None = None
    asked = False
    while any(process.poll() is None for process in processes):
        if stop.is_set() and stop_deadline is None:
            stop_deadline = time.monotonic() + grace
        if stop_deadline is not None and time.monotonic() > stop_deadline:
            for process in processes:
                if asked:
                    if process.poll() is None:
                        logger.warning("runner pid %d did not stop: killing it", process.pid)
                        process.kill()
                else:
                    request_stop(process)
            asked = True
            stop_deadline = time.monotonic() + grace
        await anyio.sleep(_POLL_SECONDS)
    reap()
