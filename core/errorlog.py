"""The errors file: one record per failed row, written from the ledger, read back by the analyzer.

A record holds the job id, row number, email, phase, HTTP status, WorkOS code and sub-codes, message, request id,
whether a retry may fix it, attempts and a timestamp. It never holds a password, hash, TOTP secret or API
key: those stay in the source CSV, from which a retry file is rebuilt by row number. JSONL by default;
CSV when the file name ends in ``.csv``. ``iter_records`` reads either form back, record by record, and
reports the lines it cannot use instead of stopping on them (files get concatenated, cut and hand-edited);
``record_row`` and ``record_cause`` read a record's fields whatever their form (JSON types or CSV text).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from core.outfile import partial_path, private_output
from core.store import RowOutcome

__all__ = [
    "ERROR_FIELDS",
    "MAX_ROW",
    "Cause",
    "error_record",
    "iter_records",
    "record_cause",
    "record_row",
    "write_errors",
]

MAX_ROW = (1 << 32) - 1
"""The largest row number a record may carry."""

ERROR_FIELDS = (
    "job_id",
    "row",
    "email",
    "phase",
    "status",
    "code",
    "sub_codes",
    "message",
    "request_id",
    "retryable",
    "attempts",
    "timestamp",
)


class Cause(NamedTuple):
    """Everything in a record but its row and email: what the analyzer groups by, with the job and flag."""

    job_id: str | None
    phase: str
    status: int | None
    code: str
    sub_codes: tuple[str, ...]
    message: str
    retryable: bool | None


def error_record(outcome: RowOutcome, job_id: str) -> dict[str, Any]:
    """The errors-file record of a failed row of job ``job_id``."""
    stamp = datetime.fromtimestamp(outcome.recorded_at or 0, UTC).isoformat(timespec="milliseconds")
    return {
        "job_id": job_id,
        "row": outcome.row,
        "email": outcome.email,
        "phase": outcome.error_phase,
        "status": outcome.error_status,
        "code": outcome.error_code,
        "sub_codes": outcome.error_sub_codes.split(",") if outcome.error_sub_codes else [],
        "message": outcome.error_message,
        "request_id": outcome.request_id,
        "retryable": bool(outcome.retryable),
        "attempts": outcome.attempts,
        "timestamp": stamp.replace("+00:00", "Z"),
    }


def write_errors(outcomes: Iterable[RowOutcome], path: Path, *, job_id: str, keep_empty: bool = True) -> int:
    """Write failed rows to ``path`` atomically (JSONL, or CSV for ``.csv``). Returns how many.

    With ``keep_empty`` False no file is left when there is no failed row (an earlier one at ``path`` is
    removed: it would have been replaced), so the file exists exactly when rows failed (``--errors-out``).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    stale = partial_path(path)
    if stale.is_file() and not stale.is_symlink():
        stale.unlink()  # left by a run that was killed while writing it; a symlink there is refused instead
    count = 0
    try:
        with private_output(path) as out:
            if path.suffix.lower() == ".csv":
                writer = csv.DictWriter(out, fieldnames=ERROR_FIELDS)
                writer.writeheader()
                for outcome in outcomes:
                    record = error_record(outcome, job_id)
                    record["sub_codes"] = ",".join(record["sub_codes"])
                    writer.writerow({name: _inert(value) for name, value in record.items()})
                    count += 1
            else:
                for outcome in outcomes:
                    out.write(json.dumps(error_record(outcome, job_id), ensure_ascii=False) + "\n")
                    count += 1
            if not (count or keep_empty):
                raise _NothingFailed
    except _NothingFailed:
        path.unlink(missing_ok=True)
    return count


class _NothingFailed(Exception):
    """Ends ``private_output`` without a file: ``keep_empty`` is off and no row failed."""


# A spreadsheet runs a cell starting with one of these as a formula (CSV injection): such a cell is written
# with a leading apostrophe, which spreadsheets hide, and read back without it.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _inert(value: Any) -> Any:
    return "'" + value if isinstance(value, str) and value.startswith(_FORMULA_STARTS) else value


def _read_cell(value: str) -> str:
    return value[1:] if value.startswith("'") and value[1:].startswith(_FORMULA_STARTS) else value


def iter_records(path: Path, on_bad: Callable[[int, str], None]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, record)`` for each record of an errors file (JSONL, or CSV for ``.csv``).

    A line that is not a record (not JSON, not an object, a CSV line of the wrong width) is skipped after
    ``on_bad(line_number, why)``; blank lines are skipped silently. Values are as the file has them (CSV:
    text): read them with ``record_row`` and ``record_cause``. Opening the file may raise ``OSError``.
    """
    return _csv_records(path, on_bad) if path.suffix.lower() == ".csv" else _jsonl_records(path, on_bad)


def record_row(value: Any) -> int | None:
    """A record's ``row`` as a row number (1 to ``MAX_ROW``), or None when it is not one."""
    row = value if type(value) is int else _int(value)
    return row if row is not None and 1 <= row <= MAX_ROW else None


def record_cause(record: dict[str, Any]) -> Cause:
    """A record's cause; a missing phase or code reads as ``unknown``, unreadable values as absent."""
    status = record.get("status")
    if type(status) is not int:
        status = _int(status)
    sub_codes = record.get("sub_codes")
    if isinstance(sub_codes, str):
        sub_codes = tuple(code for code in sub_codes.split(",") if code)
    elif isinstance(sub_codes, list):
        sub_codes = tuple(str(code) for code in sub_codes)
    else:
        sub_codes = ()
    retryable = record.get("retryable")
    if type(retryable) is not bool:
        retryable = _BOOLS.get(str(retryable).strip().lower())
    job_id = record.get("job_id")
    return Cause(
        str(job_id) if job_id else None,
        str(record.get("phase") or "unknown"),
        status,
        str(record.get("code") or "unknown"),
        sub_codes,
        str(record.get("message") or ""),
        retryable,
    )


_BOOLS = {"true": True, "false": False}


def _int(value: Any) -> int | None:
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _jsonl_records(path: Path, on_bad: Callable[[int, str], None]) -> Iterator[tuple[int, dict[str, Any]]]:
    loads = orjson.loads
    with path.open("rb") as handle:
        for number, line in enumerate(handle, 1):
            try:
                record = loads(line)
            except orjson.JSONDecodeError:
                if line.strip():
                    on_bad(number, "not JSON")
                continue
            if type(record) is dict:
                yield number, record
            else:
                on_bad(number, "not a JSON object")


def _csv_records(path: Path, on_bad: Callable[[int, str], None]) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        reader = csv.reader(handle)
        header = [name.strip().lower().lstrip("\ufeff") for name in next(reader, [])]
        if "row" not in header:
            on_bad(1, "the header has no 'row' column")
            return
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                on_bad(reader.line_num, f"not CSV ({exc})")
                continue
            if len(fields) == len(header):
                yield reader.line_num, dict(zip(header, map(_read_cell, fields), strict=True))
            elif any(fields):
                on_bad(reader.line_num, f"{len(fields)} fields for {len(header)} header columns")
