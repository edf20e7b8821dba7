"""The torture scenario shared by ``tests/test_torture.py`` (CI size) and ``bench/torture_bench.py`` (20,000 rows).

Users in several organizations, pre-existing users and memberships, invalid rows; sandbox faults on every
write (fail before the write, write then 5xx, write then drop the connection, 429 bursts); the runner
process SIGKILLed at random moments, then resumed to the end. The final sandbox state must equal the state
computed from the CSV, the ledger must equal the sandbox, and the errors must list exactly the invalid rows.

A valid row may still fail within a run, for a transient cause: a write step has 4 sends, and the injected 5 %
of 5xx answered before the write meets all 4 about once in 160,000 steps (about 2 % of 2,000-row runs; a
torture run that failed under load with a membership missing was this). The scenario then does what the
product documents for it: a resume, which sends those rows again (``transient_rows`` lists them).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx2

from core.engine import job_result, prepare_job, start_resume
from core.options import MigrationOptions
from core.store import JobState, JobStore, RowState
from core.supervisor import runner_command
from core.workos.sandbox import SandboxHandle
from tests.conftest import BCRYPT, write_rows

__all__ = ["TortureReport", "run_torture"]

WRITE_ROUTES = ("POST /user_management/users", "POST /user_management/organization_memberships", "POST /organizations")


@dataclass
class TortureReport:
    rows: int
    invalid_rows: set[int]
    kills: int
    seconds: float
    result_state: JobState
    exit_code: int
    problems: list[str] = field(default_factory=list)
    requests: int = 0
    faults_seen: dict[str, int] = field(default_factory=dict)
    job_id: str = ""
    before: dict[str, Any] = field(default_factory=dict)  # the sandbox's dump just before the job
    transient_rows: list[tuple[int, str | None, str | None]] = field(default_factory=list)  # row, phase, code


def _scenario(rows: int, rng: random.Random) -> tuple[list[dict[str, str]], set[int], list[str]]:
    """CSV rows, the row numbers that are invalid, and the emails to create before the job."""
    records: list[dict[str, str]] = []
    invalid: set[int] = set()
    orgs = max(10, rows // 40)
    user = 0
    while len(records) < rows:
        email = f"user{user}@example.com"
        user += 1
        for org in rng.sample(range(orgs), k=rng.choice((1, 1, 1, 2, 3))):
            row = {"email": email, "first_name": f"First{user}", "org_external_id": f"org-{org}",
                   "org_name": f"Organization {org}", "role_slugs": rng.choice(("member", "admin", "")),
                   "password_hash": "", "password_hash_type": "", "metadata": ""}  # fmt: skip
            if rng.random() < 0.3:
                row["password_hash"], row["password_hash_type"] = BCRYPT, "bcrypt"
            if rng.random() < 0.2:
                row["metadata"] = json.dumps({"plan": rng.choice(("free", "pro")), "seats": rng.randint(1, 50)})
            if rng.random() < 0.03:
                row[rng.choice(("email", "password_hash", "metadata"))] = "not valid {"
                invalid.add(len(records) + 2)
            records.append(row)
    records = records[:rows]
    invalid = {row for row in invalid if row <= rows + 1}
    emails = sorted({r["email"] for i, r in enumerate(records) if i + 2 not in invalid})
    return records, invalid, rng.sample(emails, k=len(emails) // 20)


def _expected(records: list[dict[str, str]], invalid: set[int]) -> tuple[set[str], set[tuple[str, str]]]:
    valid = [r for i, r in enumerate(records) if i + 2 not in invalid]
    return {r["email"] for r in valid}, {(r["email"], r["org_external_id"]) for r in valid}


def _seed(api: httpx2.Client, emails: list[str], records: list[dict[str, str]]) -> set[tuple[str, str]]:
    """Create the pre-existing users; half of them already hold the membership of their first row.

    Returns those memberships: they stay whatever the CSV says.
    """
    seeded: set[tuple[str, str]] = set()
    first_org = {}
    for record in records:
        first_org.setdefault(record["email"], record)
    for number, email in enumerate(emails):
        created = api.post("/user_management/users", json={"email": email})
        created.raise_for_status()
        user = created.json()
        if number % 2:
            record = first_org[email]
            org = api.get(f"/organizations/external_id/{record['org_external_id']}")
            if org.status_code == 404:
                org = api.post(
                    "/organizations", json={"name": record["org_name"], "external_id": record["org_external_id"]}
                )
            api.post(
                "/user_management/organization_memberships",
                json={"user_id": user["id"], "organization_id": org.json()["id"]},
            )
            seeded.add((email, record["org_external_id"]))
    return seeded


def run_torture(
    sandbox: SandboxHandle,
    work: Path,
    *,
    rows: int,
    kills: int = 3,
    seed: int = 20261130,
    concurrency: int = 16,
    outages: int = 0,
    outage_seconds: float = 20.0,
) -> TortureReport:
    """Run the scenario and return what it found; ``problems`` is empty when every invariant holds.

    ``outages``: that many times, at random moments of the run, the sandbox answers 503 to every request for
    ``outage_seconds`` (the circuit breaker must hold the rows: none may fail for it).
    """
    rng = random.Random(seed)
    records, invalid, preexisting = _scenario(rows, rng)
    csv_path = write_rows(work / "torture.csv", records)
    sandbox.configure(write_limit=0, read_limit=0, global_limit=0)
    with httpx2.Client(base_url=sandbox.url, headers={"Authorization": f"Bearer {sandbox.api_key}"}) as api:
        seeded = _seed(api, preexisting, records)
    time.sleep(1.5)  # pre-existing users must be older than the job, as they are in real life
    before = sandbox.state()
    sandbox.configure(
        fault_seed=seed,
        burst_retry_after_s=1,
        faults=[
            *({"route": route, "kind": "fail_before", "rate": 0.05} for route in WRITE_ROUTES),
            *({"route": route, "kind": "fail_after", "rate": 0.02} for route in WRITE_ROUTES),
            *({"route": route, "kind": "drop_after", "rate": 0.01} for route in WRITE_ROUTES),
            {"route": "POST /user_management/users", "kind": "burst_429", "rate": 0.01},
        ],
    )
    checkpoint = work / "checkpoints"
    options = MigrationOptions.build(
        csv_path=csv_path,
        checkpoint_dir=checkpoint,
        base_url=sandbox.url,
        create_org_if_missing=True,
        concurrency=concurrency,
        chunk_size=max(100, rows // 20),
        rate_limit=5000,
        read_rate_limit=5000,
        global_rate_limit=10000,
    )
    store = JobStore.open(checkpoint)
    started = time.monotonic()
    job = prepare_job(store, options)
    env = {**os.environ, "WORKOS_API_KEY": sandbox.api_key}
    command = runner_command(job.id, checkpoint, lead=True)
    done_kills = 0
    exit_code = None
    outage_thread = threading.Thread(
        target=_outages, args=(sandbox, outages, outage_seconds, random.Random(seed + 1)), daemon=True
    )
    outage_thread.start()
    while exit_code is None:
        runner = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
        if done_kills < kills:
            try:
                runner.wait(timeout=rng.uniform(0.8, 2.5))
            except subprocess.TimeoutExpired:
                runner.send_signal(signal.SIGKILL)
                runner.wait()
                done_kills += 1
                start_resume(store, job.id)
                continue
        exit_code = runner.wait(timeout=1800)
    outage_thread.join()
    transient = _transient_failures(store, job.id, invalid)
    if transient:
        start_resume(store, job.id)  # by default it sends the rows that failed for a transient cause again
        exit_code = subprocess.run(command, env=env, stderr=subprocess.DEVNULL, timeout=1800, check=False).returncode
    seconds = time.monotonic() - started
    result = job_result(store, job.id)
    report = TortureReport(rows, invalid, done_kills, seconds, result.state, exit_code, job_id=job.id, before=before)
    report.transient_rows = transient
    emails, pairs = _expected(records, invalid)
    _check(report, sandbox, store, job.id, emails, pairs | seeded)
    stats = sandbox.stats()
    report.requests = stats["totals"]["requests"]
    report.faults_seen = {k: v for k, v in stats["totals"].items() if k in ("5xx", "429", "dropped")}
    return report


def _transient_failures(store: JobStore, job_id: str, invalid: set[int]) -> list[tuple[int, str | None, str | None]]:
    """The valid rows that failed, when every one of them failed for a transient cause (else none: a row that
    failed for good is a problem for ``_check`` to report, not something a resume would hide)."""
    failed = [o for o in store.iter_rows(job_id, state=RowState.FAILED) if o.row not in invalid]
    if not all(o.retryable for o in failed):
        return []
    return [(o.row, o.error_phase, o.error_code) for o in failed]


def _outages(sandbox: SandboxHandle, count: int, seconds: float, rng: random.Random) -> None:
    """Make the sandbox answer 503 to everything for ``seconds``, ``count`` times, a few seconds apart."""
    with httpx2.Client(base_url=sandbox.url) as admin:
        for _ in range(count):
            time.sleep(rng.uniform(2.0, 6.0))
            hook = admin.post("/_emulate/hooks", json={"method": "*", "path": "*", "status": 503}).json()
            time.sleep(seconds)
            admin.delete(f"/_emulate/hooks/{hook['id']}")


def _explain_missing(store: JobStore, job_id: str, state: dict[str, Any], email: str, org: str) -> str:
    """What the ledger and the sandbox hold for a missing membership: enough to tell why without a rerun."""
    ledger = [
        {key: value for key, value in asdict(outcome).items() if value is not None}
        for outcome in store.iter_rows(job_id)
        if outcome.email == email
    ]
    users = [u for u in state["users"] if u["email"] == email]
    ids = {u["id"] for u in users}
    orgs = {o["id"]: o["external_id"] for o in state["organizations"]}
    held = [
        {"id": m["id"], "org": orgs.get(m["organization_id"], m["organization_id"]), "status": m["status"],
         "created_at": m["created_at"]}
        for m in state["organization_memberships"] if m["user_id"] in ids
    ]  # fmt: skip
    org_ids = [org_id for org_id, external_id in orgs.items() if external_id == org]
    return (
        f"missing membership {email} in {org} (organization ids {org_ids}): the ledger's rows of {email}: {ledger};"
        f" the sandbox's users {[(u['id'], u['created_at']) for u in users]} and their memberships {held}"
    )


def _check(
    report: TortureReport,
    sandbox: SandboxHandle,
    store: JobStore,
    job_id: str,
    emails: set[str],
    pairs: set[tuple[str, str]],
) -> None:
    problems = report.problems
    state: dict[str, Any] = sandbox.state()
    users = {u["email"]: u["id"] for u in state["users"]}
    if len(users) != len(state["users"]):
        problems.append("duplicate users in the sandbox")
    if set(users) != emails:
        problems.append(
            f"users differ: missing {sorted(emails - set(users))[:5]}, extra {sorted(set(users) - emails)[:5]}"
        )
    orgs = {o["id"]: o["external_id"] for o in state["organizations"]}
    if len(set(orgs.values())) != len(orgs):
        problems.append("duplicate organizations in the sandbox")
    by_id = {v: k for k, v in users.items()}
    active = [(by_id.get(m["user_id"]), orgs.get(m["organization_id"])) for m in state["organization_memberships"]]
    if len(active) != len(set(active)):
        problems.append("duplicate memberships in the sandbox")
    if set(active) != pairs:
        problems.append(
            f"memberships differ: missing {sorted(pairs - set(active))[:5]}, extra {sorted(set(active) - pairs)[:5]}"
        )
        problems += [
            _explain_missing(store, job_id, state, email, org) for email, org in sorted(pairs - set(active))[:3]
        ]
    membership_ids = {(m["user_id"], m["organization_id"]) for m in state["organization_memberships"]}
    for outcome in store.iter_rows(job_id, state=RowState.DONE):
        if users.get(outcome.email or "") != outcome.user_id:
            problems.append(f"ledger row {outcome.row}: user {outcome.user_id} is not the sandbox's")
        if (outcome.user_id, outcome.organization_id) not in membership_ids:
            problems.append(f"ledger row {outcome.row}: membership missing in the sandbox")
        if outcome.organization_id not in orgs:
            problems.append(f"ledger row {outcome.row}: organization {outcome.organization_id} unknown")
    failed = {o.row for o in store.iter_rows(job_id, state=RowState.FAILED)}
    if failed != report.invalid_rows:
        problems.append(f"failed rows {sorted(failed ^ report.invalid_rows)[:10]} differ from the invalid rows")
    errors_file = store.job_dir(job_id) / "errors.jsonl"
    listed = {json.loads(line)["row"] for line in errors_file.read_text().splitlines()}
    if listed != report.invalid_rows:
        problems.append("errors.jsonl does not list exactly the invalid rows")
    expected_exit = 1 if report.invalid_rows else 0
    if report.exit_code != expected_exit:
        problems.append(f"exit code {report.exit_code}, expected {expected_exit}")
    if store.counts(job_id).pending:
        problems.append("rows left pending")
