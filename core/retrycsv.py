"""The retry CSV: failed rows rebuilt from the job's own source CSV, and the command that re-runs them.

Rows are chosen by row number and copied field for field from the source, under its original header
and in its column order, so password hashes and TOTP secrets come from the file that held them and never
pass through an errors file. Every chosen row of a user with several organizations is kept as its own
row (never merged by email): the re-run adopts the user the first run created and adds the memberships
that are missing. Before writing, the source must be the file the job ran on (same sha256) and, row by
row, hold the email the failure was recorded with; otherwise nothing is written. Which rows to choose is
``analyze``'s business.
"""

from __future__ import annotations

import csv
import heapq
import zlib
from array import array
from collections.abc import Iterable, Iterator
from pathlib import Path

from core.csvsource import CsvSource, sha256_file
from core.errors import SourceError
from core.options import MigrationOptions
from core.outfile import private_output
from core.steps import NextAction, run_step

__all__ = ["RowSet", "email_check", "rerun_options", "rerun_step", "write_retry_csv"]

# A row number (at most errorlog.MAX_ROW) is packed with its 32-bit email check into one 64-bit value.
_ROW_SHIFT = 32
_CHECK_MASK = (1 << _ROW_SHIFT) - 1


def email_check(email: str | None) -> int:
    """A 32-bit check of a normalised email (0 for none: then the row's email is not checked)."""
    if not email:
        return 0
    return zlib.crc32(email.strip().lower().encode()) or 1


class RowSet:
    """Row numbers with the check of each row's email, 8 bytes per row, in an ``array('Q')``.

    Rows usually arrive in order (the ledger and its errors files are written in row order); ``sorted``
    sorts only when they did not.
    """

    __slots__ = ("_in_order", "_last", "_values")

    def __init__(self) -> None:
        self._values = array("Q")
        self._last = -1
        self._in_order = True

    def add(self, row: int, check: int) -> None:
        value = (row << _ROW_SHIFT) | check
        if value <= self._last:
            self._in_order = False
        self._last = value
        self._values.append(value)

    def __len__(self) -> int:
        return len(self._values)

    def sorted(self) -> Iterable[int]:
        """The packed values in row order (duplicates included)."""
        if self._in_order:
            return self._values
        return array("Q", sorted(self._values))


def _chosen(rows: RowSet, extra_rows: RowSet | None) -> Iterator[tuple[int, int, bool]]:
    """``(row, check, extra)`` in row order, each row once (the first record of a row wins)."""
    streams = [((value, False) for value in rows.sorted())]
    if extra_rows is not None:
        streams.append((value, True) for value in extra_rows.sorted())
    previous = -1
    for value, extra in heapq.merge(*streams):
        row = value >> _ROW_SHIFT
        if row != previous:
            previous = row
            yield row, value & _CHECK_MASK, extra


def write_retry_csv(
    source: Path,
    target: Path,
    *,
    rows: RowSet,
    extra_rows: RowSet | None = None,
    expected_sha256: str | None = None,
    overwrite: bool = True,
) -> tuple[int, int]:
    """Write the chosen rows of ``source`` to ``target`` (header first, row order). Returns (rows, extra rows).

    ``extra_rows`` are written too and counted apart (``--include-non-retryable``). The file is private
    (0600) and written through ``core.outfile.private_output``. Raises ``SourceError`` when the source is
    missing or unreadable, its sha256 is not ``expected_sha256``, a chosen row is not in it, or a chosen
    row holds another email than the one recorded, and ``OptionsError`` when ``target`` exists and
    ``overwrite`` is false; ``target`` is then left untouched.
    """
    reader = CsvSource(source)
    if expected_sha256 is not None and sha256_file(source) != expected_sha256:
        raise SourceError(
            f"the CSV {source} changed since the job ran (sha256 differs): row numbers may no longer name the same "
            "users, so no retry file was written. Restore the file the job ran on; to change rows, edit the retry "
            "file instead"
        )
    wanted = _chosen(rows, extra_rows)
    written = extra_written = 0
    with private_output(target, overwrite=overwrite) as out:
        writer = csv.writer(out)
        writer.writerow(reader.header)
        email_at = reader.columns.email
        next_wanted = next(wanted, None)
        for row, fields in reader.records():
            if next_wanted is None:
                break
            if row < next_wanted[0]:
                continue
            if row > next_wanted[0]:
                raise _row_missing(source, next_wanted[0])
            _, check, extra = next_wanted
            email = fields[email_at] if email_at < len(fields) else ""
            if check and email_check(email) != check:
                raise SourceError(
                    f"row {row} of {source} holds another email than the failure recorded for it: this is not the "
                    "file the job ran on, so no retry file was written. Pass the job's own CSV with --csv"
                )
            writer.writerow(fields)
            written += 1
            extra_written += extra
            next_wanted = next(wanted, None)
        if next_wanted is not None:
            raise _row_missing(source, next_wanted[0])
    return written - extra_written, extra_written


def _row_missing(source: Path, row: int) -> SourceError:
    return SourceError(
        f"row {row} is not in {source} (the file is shorter or the row is blank): this is not the file the job ran "
        "on, so no retry file was written"
    )


def rerun_options(options: MigrationOptions | None, retry_csv: Path) -> MigrationOptions:
    """The options that import ``retry_csv`` as the job with ``options`` would have (defaults when unknown).

    A new job (no job id, resume or errors copy) in the same organization context, with the same policies,
    except that ``--on-existing-user skip|fail`` becomes ``adopt``: the re-run would otherwise refuse the
    users the first run created itself, and so never add their missing memberships.
    """
    if options is None:
        return MigrationOptions.build(csv_path=retry_csv)
    policy = "adopt" if options.on_existing_user in ("skip", "fail") else options.on_existing_user
    return options.model_copy(
        update={
            "csv_path": retry_csv,
            "job_id": None,
            "resume": None,
            "retry_failed": False,
            "errors_out": None,
            "dry_run": False,
            "on_existing_user": policy,
        }
    )


def rerun_step(options: MigrationOptions | None, retry_csv: Path) -> NextAction:
    """The import that re-runs ``retry_csv`` (see ``rerun_options``), as data.

    ``adopt`` is the default, so it is named (last) only when it replaces the first run's policy.
    """
    step = run_step(rerun_options(options, retry_csv), why="import the retry file")
    if options is not None and options.on_existing_user in ("skip", "fail"):
        step = step.model_copy(update={"arguments": {**step.arguments, "on_existing_user": "adopt"}})
    return step
