"""The errors file: one record per failed row, written from the ledger, read back by the analyzer.

A record holds the job id, row number, email, phase, HTTP status, WorkOS code and sub-codes, message, request id,
whether a retry may fix it, attempts and a timestamp. It never holds a password, hash, TOTP secret or API
key: those stay in the source CSV, from which a retry file is rebuilt by row number. JSONL by default;
CSV when the file name ends in ``.csv``.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.store import RowOutcome

__all__ = ["ERROR_FIELDS", "error_record", "write_errors"]

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


def write_errors(outcomes: Iterable[RowOutcome], path: Path, *, job_id: str) -> int:
    """Write failed rows to ``path`` atomically (JSONL, or CSV for ``.csv``). Returns how many."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    count = 0
    with partial.open("w", encoding="utf-8", newline="") as out:
        if path.suffix.lower() == ".csv":
            writer = csv.DictWriter(out, fieldnames=ERROR_FIELDS)
            writer.writeheader()
            for outcome in outcomes:
                record = error_record(outcome, job_id)
                record["sub_codes"] = ",".join(record["sub_codes"])
                writer.writerow(record)
                count += 1
        else:
            for outcome in outcomes:
                out.write(json.dumps(error_record(outcome, job_id), ensure_ascii=False) + "\n")
                count += 1
    os.replace(partial, path)
    return count
