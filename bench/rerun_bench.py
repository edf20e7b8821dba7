"""Benchmark of a re-run: a finished multi-org migration imported again, at WorkOS's default limits.

The sandbox (a child process, WorkOS's published limits: 500 writes and 1,000 reads per 10 s, 6,000
requests per 60 s) starts from a seed file holding exactly what a finished import of the file leaves behind:
every user, every organization (with its external id) and every membership with its role. Seeding through
the sandbox's own seed facility goes through the same rules as the API, and the engine never looks at an
earlier job's ledger (a re-run is a new job that learns the environment by reading it), so this is what a
re-run after a real first import sees; the first import itself would take ``rows * 2 / 50`` seconds at the
write limit (over an hour for 100,000 rows).

Prints, for the finished file and for the same file with 1% new rows:
- writes sent (the sandbox's counters: every request that is not a GET; target 0, then exactly 2 per new row),
- reads sent, wall time (target under 5 minutes for 100,000 users and memberships), rows per second,
- peak RSS of the engine process (target flat: compare ``--rows 10000`` with the default).

Run: ``.venv/bin/python bench/rerun_bench.py [--rows 100000] [--orgs 100]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import anyio

from core.engine import execute_job, prepare_job
from core.options import MigrationOptions
from core.store import JobStore
from core.workos.sandbox import SandboxHandle, spawned_sandbox

API_KEY = "sk_test_rerun_bench"


def write_seed(path: Path, rows: int, orgs: int) -> Path:
    """The environment a finished import of ``write_csv(rows, orgs)`` leaves: users, organizations, memberships.

    Written piece by piece, so building it does not raise this process's peak RSS (the engine's is measured).
    """
    with path.open("w", encoding="utf-8") as out:
        out.write(f'{{"apiKeys": [{json.dumps(API_KEY)}], "users": [')
        out.write(
            ",".join(json.dumps({"email": f"user{n}@example.com", "first_name": f"First{n}"}) for n in range(rows))
        )
        out.write('], "organizations": [')
        for o in range(orgs):
            members = [{"email": f"user{n}@example.com", "role": "member"} for n in range(o, rows, orgs)]
            organization = {"name": f"Org {o}", "external_id": f"org-{o}", "memberships": members}
            out.write(("," if o else "") + json.dumps(organization))
        out.write("]}")
    return path


def write_csv(path: Path, rows: int, orgs: int) -> Path:
    with path.open("w", encoding="utf-8") as out:
        out.write("email,first_name,org_external_id,org_name,role_slugs\n")
        for n in range(rows):
            out.write(f"user{n}@example.com,First{n},org-{n % orgs},Org {n % orgs},member\n")
    return path


def counters(handle: SandboxHandle) -> tuple[int, int]:
    """(writes, reads) the sandbox has answered so far, 429s included."""
    routes = handle.stats()["routes"]
    writes = sum(c["requests"] for route, c in routes.items() if not route.startswith("GET "))
    reads = sum(c["requests"] for route, c in routes.items() if route.startswith("GET "))
    return writes, reads


def rerun(handle: SandboxHandle, csv_path: Path, checkpoints: Path, label: str) -> None:
    """One new job over ``csv_path`` with a store of its own (so it reads the environment itself)."""
    store = JobStore.open(checkpoints)
    options = MigrationOptions.build(csv_path=csv_path, checkpoint_dir=checkpoints, base_url=handle.url,
                                     create_org_if_missing=True, yes=True, quiet=True)  # fmt: skip
    writes0, reads0 = counters(handle)
    started = time.monotonic()
    job = prepare_job(store, options)
    result = anyio.run(lambda: execute_job(store, job.id, api_key=API_KEY))
    seconds = time.monotonic() - started
    writes, reads = (now - before for now, before in zip(counters(handle), (writes0, reads0), strict=True))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{label}: {result.total_rows:,} rows in {seconds:.1f} s ({result.total_rows / seconds:,.0f} rows/s);"
        f" writes sent {writes:,}, reads {reads:,}; users created {result.users_created:,}, adopted"
        f" {result.users_adopted:,}; memberships created {result.memberships_created:,}, present"
        f" {result.memberships_existed:,}; failed {result.failed:,}; 429s {result.rate_limited:,};"
        f" peak RSS {rss:.1f} MB",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--orgs", type=int, default=100)
    parser.add_argument("--new", type=float, default=0.01, help="fraction of new rows in the second run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        seed = write_seed(work / "seed.json", args.rows, args.orgs)
        with spawned_sandbox(["--seed", str(seed)], api_key=API_KEY) as handle:
            print(f"sandbox seeded: {handle.stats()['objects']}", flush=True)
            finished = write_csv(work / "finished.csv", args.rows, args.orgs)
            rerun(handle, finished, work / "first", "re-run of a finished file")
            grown = write_csv(work / "grown.csv", args.rows + int(args.rows * args.new), args.orgs)
            rerun(handle, grown, work / "second", f"re-run with {args.new:.0%} new rows")


if __name__ == "__main__":
    main()
