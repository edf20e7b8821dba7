"""The torture scenario at bench size (20,000 rows by default): faults on every write, three SIGKILLs of the
runner at random moments, resume to the end, and every invariant checked (see ``tests/torture_scenario.py``).

Prints the row count, invalid rows, kills, wall time, requests, faults seen and the problems found (none
expected), and the peak RSS of this process (which includes the in-process sandbox).

With ``--outages N`` the sandbox also answers 503 to every request for ``--outage-seconds`` (default 20), N
times during the run: the circuit breaker must hold the rows (no row may fail for an outage).

Run: ``.venv/bin/python bench/torture_bench.py [--rows N] [--seed S] [--outages N] [--outage-seconds S]``.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from core.platform import peak_rss_mib
from core.workos.sandbox import running_sandbox
from tests.torture_scenario import run_torture


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=20261130)
    parser.add_argument("--outages", type=int, default=0, help="503-to-everything outages during the run")
    parser.add_argument("--outage-seconds", type=float, default=20.0)
    args = parser.parse_args()
    with running_sandbox() as sandbox, tempfile.TemporaryDirectory() as tmp:
        report = run_torture(sandbox, Path(tmp), rows=args.rows, seed=args.seed, kills=3, outages=args.outages,
                             outage_seconds=args.outage_seconds)  # fmt: skip
    print(f"rows {report.rows:,}, invalid {len(report.invalid_rows):,}, kills {report.kills}, "
          f"{report.seconds:.1f} s, {report.requests:,} requests, faults {report.faults_seen}")  # fmt: skip
    print(f"final state {report.result_state.value}, exit code {report.exit_code}")
    print("problems: " + ("none" if not report.problems else "; ".join(report.problems)))
    print(f"valid rows failed for a transient cause, sent again by a resume: {report.transient_rows or 'none'}")
    print(f"peak RSS of this process: {peak_rss_mib():.1f} MB")


if __name__ == "__main__":
    main()
