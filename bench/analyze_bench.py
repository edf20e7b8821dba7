"""Benchmark of ``analyze_errors`` on a 1,000,000-line errors file (the issue's bar: at most 5 s and 100 MB).

Generates an errors file with a realistic mix of failures (transient user and membership failures,
organization 5xx, 429s, timeouts, policy refusals, WorkOS 4xx and validation failures whose messages
quote emails, so one message in seven is unique), then measures, each in a fresh subprocess:
1. the baseline: reading the file and parsing every line with orjson, nothing else;
2. ``analyze_errors(errors_file=...)``: the analysis alone;
3. the same with ``retry_csv``, against a generated source CSV with one row per failure (hashes included);
4. ``analyze_errors(job_id)`` on a job store whose ledger holds the same failures;
and for each the wall and CPU time of the call (the CPU time as a ratio to the baseline's: on a shared machine
the wall time moves with the load, the CPU time much less) and the peak RSS (``ru_maxrss``) next to that of
a process that only imported the code.

Run: ``.venv/bin/python bench/analyze_bench.py [--lines N] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

from core.csvsource import sha256_file
from core.options import MigrationOptions
from core.store import JobStore, RowOutcome, RowState

BCRYPT = "$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"
JOB = "job-20261130-120000-beef"

# (share of lines, phase, status, code, sub_codes, message template, retryable); {email} and {n} vary per line.
MIX = [
    (0.30, "user", 500, "outcome_unknown", [], "user creation kept failing with an unknown outcome", True),
    (0.18, "membership", None, "outcome_unknown", [], "membership creation kept failing with an unknown outcome", True),
    (0.12, "organization", 500, "server_error", [], "could not create organization with external id 'org-{n}'", True),
    (0.06, "user", 429, "request_failed", [], "GET /user_management/users was rate limited by WorkOS", True),
    (
        0.04,
        "user",
        None,
        "request_failed",
        [],
        "POST /user_management/users got no response (it may have been applied): ReadTimeout: timed out",
        True,
    ),
    (
        0.08,
        "user",
        None,
        "email_not_available",
        [],
        "a user with this email already exists (--on-existing-user fail); use adopt or update to import it",
        False,
    ),
    (
        0.04,
        "role",
        422,
        "invalid_role",
        [],
        "POST /user_management/organization_memberships failed: Role 'r{n}' is not a valid role.",
        False,
    ),
    (
        0.04,
        "user",
        400,
        "password_strength_error",
        ["password_too_short"],
        "POST /user_management/users failed: Password does not meet strength requirements.",
        False,
    ),
    (0.10, "validation", None, "email_invalid", [], "Row {row}, column email: '{email}x' is not a valid email", False),
    (
        0.04,
        "validation",
        None,
        "email_duplicate_in_org",
        [],
        "Row {row}, column email: '{email}' appears in the same organization (first on row {n})",
        False,
    ),
]

CHILD = """
import json, resource, sys, time
from pathlib import Path
mode, errors, source, retry, job = sys.argv[1:6]
result = {}
if mode == "baseline":
    import orjson
    started, cpu = time.perf_counter(), time.process_time()
    with open(errors, "rb") as handle:
        result["lines"] = sum(1 for line in handle if orjson.loads(line) is not None)
else:
    from core.analyze import analyze_errors
    started, cpu = time.perf_counter(), time.process_time()
    if mode != "import":
        analysis = analyze_errors(
            job if mode == "ledger" else None,
            errors_file=None if mode == "ledger" else Path(errors),
            checkpoint_dir=Path(errors).parent / ("store" if mode == "ledger" else "no-store"),
            source_csv=Path(source) if mode == "retry" else None,
            retry_csv=Path(retry) if mode == "retry" else None,
        )
        result = {"failures": analysis.failures, "groups": len(analysis.groups), "retryable": analysis.retryable,
                  "retry_rows": analysis.retry_file.rows if analysis.retry_file else 0}
elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
result.update(seconds=elapsed, cpu_seconds=cpu, peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
print(json.dumps(result))
"""


def generate(directory: Path, lines: int, seed: int = 5) -> tuple[Path, Path]:
    """Write the errors file and the matching source CSV (row ``i + 2`` is ``user{i}@example.com``)."""
    rng = random.Random(seed)
    weights = [entry[0] for entry in MIX]
    errors = directory / "errors.jsonl"
    source = directory / "users.csv"
    with errors.open("w", encoding="utf-8") as out, source.open("w", encoding="utf-8") as csv_out:
        csv_out.write("email,first_name,password_hash,password_hash_type,org_external_id,org_name,role_slugs\n")
        for index in range(lines):
            row = index + 2
            email = f"user{index}@example.com"
            _, phase, status, code, subs, template, retryable = rng.choices(MIX, weights)[0]
            record = {
                "job_id": JOB,
                "row": row,
                "email": email,
                "phase": phase,
                "status": status,
                "code": code,
                "sub_codes": subs,
                "message": template.format(email=email, row=row, n=rng.randrange(50)),
                "request_id": f"req_01JD8ZQ4XW3N5V6B7C8D{index:06d}",
                "retryable": retryable,
                "attempts": 4 if retryable else 1,
                "timestamp": "2026-11-30T12:00:00.000Z",
            }
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            csv_out.write(f"{email},User {index},{BCRYPT},bcrypt,org-{index % 50},Org {index % 50},member\n")
    return errors, source


def build_ledger(errors: Path, source: Path) -> None:
    """Record the errors file's failures as the ledger of job ``JOB`` in ``errors.parent / "store"``."""
    store = JobStore.open(errors.parent / "store")
    store.create_job(JOB, MigrationOptions.build(csv_path=source), csv_sha256=sha256_file(source), plan_hash=None)
    batch: list[RowOutcome] = []
    with errors.open(encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            batch.append(
                RowOutcome(
                    row=record["row"],
                    chunk=record["row"] // 1000,
                    state=RowState.FAILED,
                    email=record["email"],
                    error_phase=record["phase"],
                    error_status=record["status"],
                    error_code=record["code"],
                    error_sub_codes=",".join(record["sub_codes"]) or None,
                    error_message=record["message"],
                    retryable=record["retryable"],
                )
            )
            if len(batch) == 20_000:
                store.record_rows(JOB, batch)
                batch.clear()
    store.record_rows(JOB, batch)
    store.close()


def measure(mode: str, errors: Path, source: Path, retry: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, mode, str(errors), str(source), str(retry), JOB],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="Generate into this directory and keep the files.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        directory = args.keep or Path(scratch)
        directory.mkdir(parents=True, exist_ok=True)
        errors, source = generate(directory, args.lines)
        retry = directory / "retry.csv"
        size = errors.stat().st_size / 1e6
        print(f"errors file: {args.lines:,} lines, {size:.0f} MB; source CSV {source.stat().st_size / 1e6:.0f} MB")
        imported = measure("import", errors, source, retry)
        baseline = measure("baseline", errors, source, retry)
        analysis = measure("analyze", errors, source, retry)
        with_retry = measure("retry", errors, source, retry)
        build_ledger(errors, source)
        ledger = measure("ledger", errors, source, retry)
    print(f"baseline (read + orjson.loads per line): {baseline['seconds']:.2f} s ({baseline['cpu_seconds']:.2f} s CPU)")
    runs = (("analyze errors file", analysis), ("analyze + retry CSV", with_retry), ("analyze the ledger", ledger))
    for label, figures in runs:
        print(
            f"{label}: {figures['seconds']:.2f} s, {figures['cpu_seconds']:.2f} s CPU "
            f"({figures['cpu_seconds'] / baseline['cpu_seconds']:.2f} x baseline CPU), "
            f"peak RSS {figures['peak_rss_mib']:.1f} MiB (imports alone {imported['peak_rss_mib']:.1f} MiB); "
            f"{figures['failures']:,.0f} failures, {figures['groups']:.0f} groups, "
            f"{figures['retryable']:,.0f} retryable, {figures['retry_rows']:,.0f} rows written"
        )


if __name__ == "__main__":
    main()
