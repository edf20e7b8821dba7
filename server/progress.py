"""Progress of a running job on the terminal: a rich bar on a TTY, plain periodic lines otherwise.

Reads counts only (this process's ``RunStats``, or the ledger when worker processes share the job), so
what it shows never differs from what ``status`` reports.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import anyio
import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

__all__ = ["Counts", "follow"]

# (finished rows, total rows, failed rows, rows finished before this run)
Counts = tuple[int, int, int, int]
_PLAIN_EVERY_SECONDS = 10.0


async def follow(
    read: Callable[[], Counts], *, quiet: bool, interval: float = 0.5, label: str = "Importing", unit: str = "rows"
) -> None:
    """Show progress until cancelled. ``read`` returns the current counts; ``label`` and ``unit`` name the work
    (``Undoing``, ``objects``; ``Verifying``, ``rows``)."""
    if quiet:
        await anyio.sleep_forever()
    if sys.stderr.isatty():
        await _rich(read, interval, label, unit)
    else:
        await _plain(read, unit)


async def _rich(read: Callable[[], Counts], interval: float, label: str, unit: str) -> None:
    columns = (
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:.1f} " + unit + "/s"),
        TextColumn("failed {task.fields[failed]:,}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        finished, total, failed, before = read()
        task = bar.add_task("import", total=total, completed=finished, rate=0.0, failed=failed)
        started = time.monotonic()
        while True:
            await anyio.sleep(interval)
            finished, total, failed, before = read()
            rate = (finished - before) / max(time.monotonic() - started, 1e-9)
            bar.update(task, completed=finished, total=total, rate=rate, failed=failed)


async def _plain(read: Callable[[], Counts], unit: str) -> None:
    started = time.monotonic()
    while True:
        await anyio.sleep(_PLAIN_EVERY_SECONDS)
        finished, total, failed, before = read()
        elapsed = time.monotonic() - started
        rate = (finished - before) / max(elapsed, 1e-9)
        remaining = (total - finished) / rate if rate > 0 else float("inf")
        eta = "unknown" if remaining == float("inf") else f"{remaining / 60:.1f} min"
        share = 100.0 * finished / total if total else 100.0
        click.echo(
            f"[progress] {finished:,}/{total:,} {unit} ({share:.1f}%), {rate:.1f} {unit}/s, failed {failed:,}, "
            f"ETA {eta}",
            err=True,
        )
