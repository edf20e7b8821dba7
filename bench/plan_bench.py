"""Planning benchmark: a 1,000,000-row multi-org CSV planned in a fresh process, against a bare csv.reader.

Generates the file into a temporary directory (1,000 organizations, about 10% of rows adding a second
membership to an earlier user, bcrypt hashes, names, metadata on every fifth row), then alternates fresh
subprocesses: one times a bare ``csv.reader`` pass, the others time ``plan()`` read by one process and by
two (forced either way, whatever the load) and report peak RSS (``ru_maxrss``, the helper's apart).
Prints the best and median of each and their ratio. Targets: plan <= 3 s, ratio <= 2.5, RSS <= 80 MB.

    python bench/plan_bench.py [--rows 1000000] [--rounds 3] [--keep PATH]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEADER = (
    "email,first_name,last_name,email_verified,password_hash,password_hash_type,external_id,metadata,org_id,role_slugs"
)
FIRST = ["Alice", "Bob", "Carol", "Dave", "Eve", "Frank", "Grace", "Heidi", "Ivan", "Judy"]
LAST = ["Smith", "Jones", "Brown", "García", "Miller", "Davis", "López", "Wilson"]
ROLES = ["member", "admin", "billing-viewer", '"[""member"", ""support""]"']

BARE = """
import csv, json, sys, time
start, cpu = time.perf_counter(), time.process_time()
with open(sys.argv[1], newline="", encoding="utf-8") as handle:
    for _ in csv.reader(handle):
        pass
print(json.dumps({"seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu}))
"""

PLAN = """
import json, resource, sys, time
import core.scan
from core import MigrationOptions, plan
core.scan.two_processes_help = lambda size, min_bytes=0: sys.argv[2] == "2"
options = MigrationOptions.build(csv_path=sys.argv[1], dry_run=True)
def cpu():
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
start, used = time.perf_counter(), cpu()
result = plan(options, api_key="")
elapsed = time.perf_counter() - start
print(json.dumps({"seconds": elapsed, "cpu": cpu() - used,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "child_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
                  "rows": result.rows, "users": result.users, "memberships": result.memberships,
                  "organizations": result.organizations, "several": result.users_in_several_orgs,
                  "issues": result.issue_count, "valid": result.valid}))
"""


def generate(path: Path, rows: int, seed: int = 7) -> None:
    """Write the benchmark CSV: realistic shapes, random bcrypt-shaped hashes (not real ones: too slow)."""
    rng = random.Random(seed)
    orgs = ["org_" + base64.b32encode(rng.randbytes(20)).decode()[:26] for _ in range(1000)]
    to_bcrypt = bytes.maketrans(b"+/=", b"./A")
    noise = rng.randbytes(40 * rows)
    user = 0
    with open(path, "w", newline="", encoding="utf-8") as handle:
        handle.write(HEADER + "\r\n")
        for index in range(rows):
            if index % 10 == 3 and user > 5:
                uid = user - rng.randint(1, 5)
            else:
                uid, user = user, user + 1
            digest = base64.b64encode(noise[index * 40 : index * 40 + 40]).translate(to_bcrypt)[:53].decode()
            metadata = '"{""plan"": ""pro"", ""seats"": ""5""}"' if index % 5 == 0 else ""
            handle.write(
                f"user{uid}@example{uid % 97}.com,{FIRST[uid % 10]},{LAST[uid % 8]},true,$2b$10${digest},bcrypt,"
                f"ext-{uid},{metadata},{orgs[(uid * 7 + index) % 1000]},{ROLES[index % 4]}\r\n"
            )


def run(code: str, *args: object) -> str:
    root = Path(__file__).resolve().parent.parent
    command = [sys.executable, "-c", code, *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, check=True, cwd=root).stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="Reuse or keep the generated CSV at this path.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        path = args.keep or Path(scratch) / "users.csv"
        if not path.exists():
            start = time.perf_counter()
            generate(path, args.rows)
            size = path.stat().st_size / 1e6
            print(f"generated {args.rows:,} rows, {size:.1f} MB in {time.perf_counter() - start:.1f} s")
        run(BARE, path)  # warm the page cache
        bare: list[dict] = []
        plans: dict[int, list[dict]] = {1: [], 2: []}
        for _ in range(args.rounds):
            bare.append(json.loads(run(BARE, path)))
            for processes in (1, 2):
                plans[processes].append(json.loads(run(PLAN, path, processes)))
        print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, load {os.getloadavg()[0]:.2f}")
        shown = {k: v for k, v in plans[1][-1].items() if k not in ("seconds", "cpu", "rss_mb", "child_rss_mb")}
        print(f"plan: {json.dumps(shown)}")
        base_wall = [item["seconds"] for item in bare]
        base_cpu = [item["cpu"] for item in bare]
        print(
            f"bare csv.reader:        wall best {min(base_wall):.2f} s, median {statistics.median(base_wall):.2f} s;"
            f" CPU best {min(base_cpu):.2f} s"
        )
        for processes, runs in plans.items():
            wall = [item["seconds"] for item in runs]
            used = [item["cpu"] for item in runs]
            label = "one process" if processes == 1 else "two processes"
            print(
                f"plan(), {label + ':':15s}wall best {min(wall):.2f} s, median {statistics.median(wall):.2f} s,"
                f" ratio best {min(wall) / min(base_wall):.2f}, median "
                f"{statistics.median(wall) / statistics.median(base_wall):.2f};"
                f" CPU best {min(used):.2f} s, CPU ratio {min(used) / min(base_cpu):.2f};"
                f" peak RSS {max(item['rss_mb'] for item in runs):.1f} MB"
                + (f" (+ helper {max(item['child_rss_mb'] for item in runs):.1f} MB)" if processes == 2 else "")
            )


if __name__ == "__main__":
    main()
