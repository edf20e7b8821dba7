"""Benchmark of verify: a finished multi-org migration's environment compared with its file, at WorkOS's limits.

The sandbox (a child process, WorkOS's published limits: 1,000 reads per 10 s, 6,000 requests per 60 s) is
seeded with what a finished import of the file leaves (``bench/rerun_bench.py``'s seed: every user, every
organization, every membership with its role). Verify reads it into the snapshot (a read per 100 users and per
100 memberships) and compares the file row by row.

Prints rows, reads, wall time (target: a few minutes for 100,000 users and memberships, bounded by reads),
discrepancies (target 0) and the peak RSS of the verifying process (target flat: compare ``--rows 10000``
with the default; each size runs in a process of its own).

Run: ``.venv/bin/python bench/verify_bench.py [--rows 100000] [--orgs 100]``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rerun_bench import API_KEY, counters, write_csv, write_seed

from core.options import MigrationOptions
from core.platform import peak_rss_mib
from core.store import JobStore
from core.verify import verify_migration
from core.workos.sandbox import spawned_sandbox


def _write_files(seed: Path, csv_path: Path, rows: int, orgs: int) -> None:
    write_seed(seed, rows, orgs)
    write_csv(csv_path, rows, orgs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--orgs", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        seed, csv_path = work / "seed.json", work / "users.csv"
        # The files are written by a child process, so this process's peak RSS is verify's alone.
        writer = multiprocessing.Process(target=_write_files, args=(seed, csv_path, args.rows, args.orgs))
        writer.start()
        writer.join()
        with spawned_sandbox(["--seed", str(seed)], api_key=API_KEY) as handle:
            store = JobStore.open(work / "checkpoints")
            checkpoints = work / "checkpoints"
            options = MigrationOptions.build(csv_path=csv_path, checkpoint_dir=checkpoints, base_url=handle.url)
            rss_before = peak_rss_mib()
            _, reads0 = counters(handle)
            started = time.monotonic()
            report = anyio.run(lambda: verify_migration(store, api_key=API_KEY, options=options))
            seconds = time.monotonic() - started
            _, reads = counters(handle)
    print(
        f"verify of {report.rows:,} rows ({args.orgs} organizations): {seconds:.1f} s, {report.checked / seconds:,.0f}"
        f" rows/s; reads {reads - reads0:,}; discrepancies {report.discrepancies:,}; matching {report.matching:,};"
        f" peak RSS {peak_rss_mib():.1f} MB (before verify {rss_before:.1f} MB)",
        flush=True,
    )


if __name__ == "__main__":
    main()
