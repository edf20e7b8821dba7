"""Planning benchmark: 1,000,000-row multi-org CSVs planned in a fresh process each, against a bare csv.reader.

Generates a clean file into a temporary directory (1,000 organizations, about 10% of rows adding a second
membership to an earlier user, bcrypt hashes, names, metadata on every fifth row) and two copies with an
issue on every row: a warning (``email_verified`` written yes/no) and an error (every email invalid).
Then alternates fresh subprocesses: one times a bare ``csv.reader`` pass, the others ``plan()`` of each
file, reporting wall and CPU time and the peak RSS of the planning process and of any process it started
(the orchestrator document counts the whole tool). Prints the best and median of each and their ratio
to the bare pass. Targets: every plan under 10 s, every process of a plan within 100 MB in all.

    python bench/plan_bench.py [--rows 1000000] [--rounds 3] [--keep DIR]
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
from core import MigrationOptions, plan
options = MigrationOptions.build(csv_path=sys.argv[1], dry_run=True)
def cpu():
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
start, used = time.perf_counter(), cpu()
result = plan(options, api_key="")
elapsed = time.perf_counter() - start
def peak_mb():
    # VmHWM is this process's own peak: ru_maxrss also counts the parent's before exec (Linux keeps it).
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": elapsed, "cpu": cpu() - used,
                  "rss_mb": peak_mb(),
                  "child_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
                  "rows": result.rows, "users": result.users, "memberships": result.memberships,
                  "organizations": result.organizations, "several": result.users_in_several_orgs,
                  "issues": result.issue_count, "invalid": result.invalid_rows, "valid": result.valid}))
"""

VARIANTS = {
    "clean": None,
    "a warning on every row": (b",true,$2b", b",yes,$2b", b",false,$2b", b",no,$2b"),
    "an error on every row": (b"@example", b"@@example"),
}
"""Each file's byte replacements of the clean one (pairs of old, new)."""


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


def derive(clean: Path, path: Path, replacements: tuple[bytes, ...]) -> None:
    """Write ``clean`` with ``replacements`` applied to every data line."""
    with open(clean, "rb") as source, open(path, "wb") as out:
        out.write(source.readline())
        for line in source:
            for old, new in zip(replacements[::2], replacements[1::2], strict=True):
                line = line.replace(old, new, 1)
            out.write(line)


def run(code: str, *args: object) -> str:
    root = Path(__file__).resolve().parent.parent
    command = [sys.executable, "-c", code, *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, check=True, cwd=root).stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="Reuse or keep the generated CSVs in this directory.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        directory = args.keep or Path(scratch)
        directory.mkdir(parents=True, exist_ok=True)
        paths = {name: directory / f"users-{args.rows}-{index}.csv" for index, name in enumerate(VARIANTS)}
        clean = paths["clean"]
        if not clean.exists():
            start = time.perf_counter()
            generate(clean, args.rows)
            size = clean.stat().st_size / 1e6
            print(f"generated {args.rows:,} rows, {size:.1f} MB in {time.perf_counter() - start:.1f} s")
        for name, replacements in VARIANTS.items():
            if replacements is not None and not paths[name].exists():
                derive(clean, paths[name], replacements)
        run(BARE, clean)  # warm the page cache
        bare: list[dict] = []
        plans: dict[str, list[dict]] = {name: [] for name in VARIANTS}
        for _ in range(args.rounds):
            bare.append(json.loads(run(BARE, clean)))
            for name, path in paths.items():
                plans[name].append(json.loads(run(PLAN, path)))
        print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, load {os.getloadavg()[0]:.2f}")
        base_wall = [item["seconds"] for item in bare]
        base_cpu = [item["cpu"] for item in bare]
        print(
            f"bare csv.reader:          wall best {min(base_wall):.2f} s, median {statistics.median(base_wall):.2f} s;"
            f" CPU best {min(base_cpu):.2f} s"
        )
        for name, runs in plans.items():
            shown = {k: v for k, v in runs[-1].items() if k not in ("seconds", "cpu", "rss_mb", "child_rss_mb")}
            wall = [item["seconds"] for item in runs]
            used = [item["cpu"] for item in runs]
            total = max(item["rss_mb"] + item["child_rss_mb"] for item in runs)
            print(
                f"plan(), {name + ':':23s} wall best {min(wall):.2f} s, median {statistics.median(wall):.2f} s,"
                f" ratio best {min(wall) / min(base_wall):.2f}; CPU best {min(used):.2f} s, CPU ratio"
                f" {min(used) / min(base_cpu):.2f}; peak RSS {max(item['rss_mb'] for item in runs):.1f} MB,"
                f" all processes {total:.1f} MB"
            )
            print(f"    {json.dumps(shown)}")


if __name__ == "__main__":
    main()
