"""plan(): what a migration will do, read from the CSV and the options alone (no API call, no write).

One streaming ``scan`` of the file gives the counts and issues; this module adds the mode, the API calls
each row needs, the duration estimate from the real ceiling (write and overall rate limits, concurrency
over a typical latency, one process's request rate), warnings, recommendations that follow from that same
model, and ``plan_hash``. Running the migration is left to the engine.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import threading
from typing import Literal

from pydantic import BaseModel, Field

from core import hashes
from core.csvsource import CsvSource, sha256_file
from core.live import LiveCheck
from core.options import MigrationOptions, check_paths
from core.rules import RULES
from core.scan import ScanResult, scan

__all__ = [
    "BOTTLENECK_ORDER",
    "CONCURRENCY_MARGIN",
    "GENERAL_REQUESTS_PER_SECOND",
    "MIN_SAVING_SECONDS",
    "PLAN_HASH_EXCLUDED",
    "PROCESS_REQUESTS_PER_SECOND",
    "TIE_MARGIN",
    "TYPICAL_LATENCY_SECONDS",
    "WORKOS_WRITES_PER_SECOND",
    "ApiCalls",
    "Estimate",
    "IssueSummary",
    "MigrationPlan",
    "PlanValidation",
    "Target",
    "estimate",
    "key_kind",
    "must_exist_warning",
    "plan",
    "plan_hash",
    "summarize_issues",
]

logger = logging.getLogger(__name__)

WORKOS_WRITES_PER_SECOND = 50.0
"""WorkOS's published user-management write limit: 500 per 10 s per environment."""
GENERAL_REQUESTS_PER_SECOND = 100.0
"""WorkOS's published overall limit: 6,000 requests per 60 s per API key (every call counts); the
estimate uses ``--global-rate-limit``, whose default this is."""
TYPICAL_LATENCY_SECONDS = 0.2
"""Typical time for one WorkOS call, used to turn concurrency into a request rate."""
PROCESS_REQUESTS_PER_SECOND = 400.0
"""Requests per second one worker process can drive (HTTP and bookkeeping on one core)."""
CONCURRENCY_MARGIN = 1.25
"""Concurrency is recommended only when it is 25% slower than the next ceiling, and then with 25% headroom
for latency spikes."""
TIE_MARGIN = 1.1
"""Ceilings within 10% of the slowest tie (the model is no more precise than that); the bottleneck named is
then the first of ``BOTTLENECK_ORDER``: a rate limit, which no option of ours can lift, before what the
options can (at the defaults concurrency 10 x 0.2 s drives 50 requests/s, exactly the write limit)."""
BOTTLENECK_ORDER = ("write rate limit", "overall request limit", "one process", "concurrency")
MIN_SAVING_SECONDS = 60.0
"""Pace advice (concurrency, workers) is given only when following it would save at least a minute."""
PLAN_HASH_EXCLUDED = frozenset(
    {"csv_path", "quiet", "yes", "job_id", "resume", "retry_failed", "retry_transient", "max_outage"}
)
"""Options that do not change what a migration writes: presentation, and which job runs it. The file is
identified by its sha256, not its path."""

Mode = Literal["single-org", "multi-org", "user-only"]


class IssueSummary(BaseModel):
    """All issues of one rule: how many, an example message and the first rows."""

    code: str = Field(description="Stable rule code (see docs/csv-format.md).")
    severity: Literal["error", "warning"]
    column: str | None = Field(description="The CSV column the rule checks, when it checks one.")
    count: int = Field(description="How many times the rule fired.")
    rows: list[int] = Field(description="The first rows (up to 5) where it fired; row 1 is the header.")
    message: str = Field(description="The message of the first occurrence.")
    fixable: bool = Field(description="validate --auto-fix fixes it.")
    fix: str = Field(description="An example of the fix.")


class ApiCalls(BaseModel):
    """WorkOS calls the migration needs when nothing exists yet (re-runs may add lookups)."""

    user_creates: int
    membership_creates: int
    totp_enrollments: int
    organization_lookups: int = Field(description="One per distinct organization (then cached).")
    organization_creates_max: int = Field(description="At most this many with --create-org-if-missing.")
    writes: int = Field(description="User-management writes: user, membership and TOTP creates.")
    total: int


class Estimate(BaseModel):
    """How long the migration should take, and what limits it."""

    seconds: float
    human: str = Field(description="The estimate in words, e.g. '~6 hours'.")
    bottleneck: Literal["write rate limit", "overall request limit", "concurrency", "one process", "none"]
    bottleneck_detail: str
    write_seconds: float = Field(description="Writes / --rate-limit.")
    general_seconds: float = Field(description="All calls / --global-rate-limit (WorkOS: 100 requests/s).")
    concurrency_seconds: float = Field(description="All calls x typical latency / (concurrency x workers).")
    process_seconds: float = Field(description="All calls / (requests one process drives x workers).")
    latency_seconds: float = TYPICAL_LATENCY_SECONDS
    document_formula_seconds: float = Field(
        description="The orchestrator document's rows / (20 x concurrency/10 x workers), which ignores rate limits."
    )


class Target(BaseModel):
    """Where the migration would write."""

    base_url: str
    key: Literal["test", "live", "none"] = Field(
        description="Kind of WORKOS_API_KEY/WORKOS_SECRET_KEY found (sk_test_ -> test; other keys -> live)."
    )


class PlanValidation(BaseModel):
    """The orchestrator document's ``plan.validation``: whether the plan is valid, and why not."""

    valid: bool
    errors: list[str] = Field(description="Problems of the plan as a whole; row errors are counted in one of them.")
    warnings: list[str]


class MigrationPlan(BaseModel):
    """What a migration of this CSV with these options will do, before any API call."""

    csv_path: str
    csv_sha256: str
    csv_bytes: int
    mode: Mode
    org_resolution: Literal["upfront", "per-row (cached)", "none"]
    rows: int = Field(description="Data rows (blank rows excluded).")
    blank_rows: int
    valid_rows: int
    invalid_rows: int
    users: int = Field(description="Distinct emails among valid rows.")
    memberships: int = Field(description="Organization memberships to create.")
    users_in_several_orgs: int = Field(description="Users with memberships in more than one organization.")
    organizations: int = Field(description="Distinct organizations referenced.")
    hash_types: dict[str, int] = Field(description="Rows per password hash type.")
    plaintext_passwords: int
    totp_users: int
    unknown_columns: list[str]
    api_calls: ApiCalls
    target: Target
    estimate: Estimate
    workers: int
    concurrency: int
    rate_limit: float
    chunk_size: int
    chunks: int = Field(description="Checkpoint chunks: ceil(rows / chunk_size).")
    options: MigrationOptions
    warnings: list[str]
    recommendations: list[str]
    errors: list[str] = Field(description="Problems of the plan as a whole (row errors are in issues).")
    issues: list[IssueSummary] = Field(description="Issues grouped by rule, errors first.")
    issue_count: int
    error_count: int
    warning_count: int
    valid: bool = Field(description="No plan error and no row error.")
    plan_hash: str = Field(description="sha256 of the file's sha256, the options that shape the writes, the target.")
    live: LiveCheck | None = Field(
        default=None,
        description="What the live check (plan --check-live) found in WorkOS; None for the offline plan.",
    )

    @property
    def validation(self) -> PlanValidation:
        """The verdict under the orchestrator document's names (``plan.validation.errors``)."""
        return PlanValidation(valid=self.valid, errors=self.errors, warnings=self.warnings)

    @property
    def blocking_errors(self) -> list[str]:
        """Plan errors that stop an import. Invalid rows do not: they are recorded as failures, never sent."""
        rows_message = row_errors_message(self.invalid_rows, self.rows)
        return [error for error in self.errors if error != rows_message]


def must_exist_warning(organizations: int) -> str:
    """The offline plan's warning that the organizations must exist already (the live check replaces it)."""
    which = "The organization" if organizations == 1 else f"The {organizations:,} organizations"
    return (
        f"{which} must already exist in WorkOS (no --create-org-if-missing): rows of a missing one fail. "
        "plan --check-live checks them before any write"
    )


def row_errors_message(invalid_rows: int, rows: int) -> str:
    """The plan error that says some rows are invalid (an import still runs: they are recorded, never sent)."""
    return f"{invalid_rows:,} of {rows:,} rows have errors (see issues)"


def key_kind(api_key: str | None) -> Literal["test", "live", "none"]:
    """``test`` for ``sk_test_`` keys, ``none`` for no key, ``live`` for any other (treated as production)."""
    if not api_key:
        return "none"
    return "test" if api_key.startswith("sk_test_") else "live"


def plan_hash(csv_sha256: str, options: MigrationOptions) -> str:
    """sha256 over the file's sha256, the options set to other than their defaults (minus
    ``PLAN_HASH_EXCLUDED``) and the base URL."""
    canonical = json.dumps(
        {
            "csv_sha256": csv_sha256,
            # Defaults left out: an option added in a later version does not change the hash of a plan it
            # does not touch.
            "options": options.model_dump(mode="json", exclude=set(PLAN_HASH_EXCLUDED), exclude_defaults=True),
            "base_url": options.base_url,
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def summarize_issues(result: ScanResult) -> list[IssueSummary]:
    """Issues grouped by rule: errors first, then by count."""
    summaries = [
        IssueSummary(
            code=tally.code,
            severity=RULES[tally.code].severity,
            column=RULES[tally.code].column,
            count=tally.count,
            rows=list(tally.rows),
            message=tally.message,
            fixable=RULES[tally.code].fixable,
            fix=RULES[tally.code].example_fix,
        )
        for tally in result.issues.values()
    ]
    return sorted(summaries, key=lambda item: (item.severity != "error", -item.count, item.code))


def _human(seconds: float) -> str:
    if seconds < 1.5:
        return "~1 second"
    if seconds < 90:
        return f"~{round(seconds)} seconds"
    if seconds < 90 * 60:
        return f"~{round(seconds / 60)} minutes"
    if seconds < 48 * 3600:
        hours = seconds / 3600
        return f"~{hours:.1f} hours" if hours < 10 else f"~{round(hours)} hours"
    return f"~{seconds / 86400:.1f} days"


def estimate(calls: ApiCalls, rows: int, options: MigrationOptions) -> Estimate:
    """The duration from the real ceiling: the slowest of the write limit, the overall limit, concurrency
    over a typical latency, and what the worker processes can drive. Each runs in parallel with the
    others, so the slowest one is the estimate; the ``bottleneck`` is the slowest, or among ceilings that
    tie with it (``TIE_MARGIN``) the one no option can raise."""
    total = calls.total
    parts = {
        "write rate limit": calls.writes / options.rate_limit,
        "overall request limit": total / options.global_rate_limit,
        "concurrency": total * TYPICAL_LATENCY_SECONDS / (options.concurrency * options.workers),
        "one process": total / (PROCESS_REQUESTS_PER_SECOND * options.workers),
    }
    seconds = max(parts.values())
    bottleneck = next(name for name in BOTTLENECK_ORDER if parts[name] * TIE_MARGIN >= seconds)
    in_flight = options.concurrency * options.workers
    details = {
        "write rate limit": f"{calls.writes:,} writes at --rate-limit {options.rate_limit:g}/s",
        "overall request limit": f"{total:,} calls at --global-rate-limit {options.global_rate_limit:g}/s",
        "concurrency": (
            f"{in_flight} requests in flight x {TYPICAL_LATENCY_SECONDS:g} s typical latency"
            f" = {in_flight / TYPICAL_LATENCY_SECONDS:g} requests/s"
        ),
        "one process": f"{options.workers} process(es) x ~{PROCESS_REQUESTS_PER_SECOND:g} requests/s each",
    }
    naive_rate = 20 * (options.concurrency / 10) * options.workers
    return Estimate(
        seconds=round(seconds, 1),
        human=_human(seconds) if total else "nothing to do",
        bottleneck=bottleneck if total else "none",
        bottleneck_detail=details[bottleneck] if total else "no API call needed",
        write_seconds=round(parts["write rate limit"], 1),
        general_seconds=round(parts["overall request limit"], 1),
        concurrency_seconds=round(parts["concurrency"], 1),
        process_seconds=round(parts["one process"], 1),
        document_formula_seconds=round(rows / naive_rate, 1),
    )


def _mode(options: MigrationOptions, source: CsvSource) -> Mode:
    if options.single_org:
        return "single-org"
    return "multi-org" if source.columns.org_columns else "user-only"


def _api_calls(result: ScanResult, mode: Mode, options: MigrationOptions) -> ApiCalls:
    lookups = 1 if mode == "single-org" else len(result.organizations)
    creatable = 0
    if options.create_org_if_missing:
        if mode == "single-org":
            creatable = 0 if options.org_id else 1
        else:
            creatable = sum(1 for org in result.organizations if org.startswith("\x00"))
    writes = result.users + result.memberships + result.totp_users
    return ApiCalls(
        user_creates=result.users,
        membership_creates=result.memberships,
        totp_enrollments=result.totp_users,
        organization_lookups=lookups if result.valid_rows else 0,
        organization_creates_max=creatable if result.valid_rows else 0,
        writes=writes,
        total=writes + (lookups if result.valid_rows else 0) + creatable,
    )


def _advice(
    source: CsvSource,
    result: ScanResult,
    mode: Mode,
    options: MigrationOptions,
    calls: ApiCalls,
    timing: Estimate,
    target: Target,
) -> tuple[list[str], list[str], list[str]]:
    """Plan errors, warnings and recommendations, each one true of this file, these options and the model."""
    errors: list[str] = []
    warnings: list[str] = []
    advice: list[str] = []
    if options.require_membership and mode == "user-only":
        errors.append(
            "--require-membership needs an organization: give --org-id/--org-external-id/--org-name "
            "or add an org_id, org_external_id or org_name column"
        )
    if result.error_count:
        errors.append(row_errors_message(result.invalid_rows, result.rows))
    if result.rows == 0:
        warnings.append("The file has no data rows: nothing to import")
    if result.blank_rows:
        warnings.append(f"{result.blank_rows:,} blank rows are skipped (they still count in row numbers)")
    if source.unknown_columns:
        warnings.append("Unknown columns are ignored: " + ", ".join(source.unknown_columns))
    warnings.extend(filter(None, map(hashes.unproven_warning, sorted(result.hash_types))))
    if result.plaintext_passwords:
        warnings.append(
            f"{result.plaintext_passwords:,} rows carry plaintext passwords: WorkOS rejects weak ones row by row"
        )
    if options.org_name and not options.org_external_id:
        warnings.append(
            "--org-name alone finds the organization by exact name, and WorkOS names are not unique: prefer "
            "--org-id, or --org-external-id with --org-name"
        )
    if mode == "multi-org" and options.create_org_if_missing:
        by_name = sum(1 for org in result.organizations if org.startswith("\x00name:"))
        if by_name:
            warnings.append(
                f"{by_name:,} organizations are named only by org_name: created by name, they could be created "
                "twice by another tool; an org_external_id column makes creation safe to repeat"
            )
    columns = source.columns
    if mode == "multi-org" and options.create_org_if_missing and columns.org_name is None and columns.org_id is None:
        errors.append(
            "--create-org-if-missing: the file has an org_external_id column but no org_name column, so an "
            "organization that does not exist has no name to be created with; add org_name"
        )
    if mode != "user-only" and not options.create_org_if_missing:
        warnings.append(must_exist_warning(1 if mode == "single-org" else len(result.organizations)))
    if options.create_org_if_missing and mode == "user-only":
        warnings.append("--create-org-if-missing has no effect: the file has no organization columns")
    if options.rate_limit > WORKOS_WRITES_PER_SECOND:
        warnings.append(
            f"--rate-limit {options.rate_limit:g} is above WorkOS's published {WORKOS_WRITES_PER_SECOND:g} writes/s "
            "per environment: expect 429 pauses unless WorkOS raised your limit"
        )
    if options.global_rate_limit > GENERAL_REQUESTS_PER_SECOND:
        warnings.append(
            f"--global-rate-limit {options.global_rate_limit:g} is above WorkOS's published "
            f"{GENERAL_REQUESTS_PER_SECOND:g} requests/s per key: expect 429 pauses unless WorkOS raised your limit"
        )
    if options.workers > 1 and timing.bottleneck in ("write rate limit", "overall request limit"):
        warnings.append(
            f"--workers {options.workers} cannot make this faster: the {timing.bottleneck} is the bottleneck"
        )
    if target.key == "live":
        warnings.append("The API key is a live (production) key")
    # Invalid rows are recorded, never sent: the advice is about the valid ones, which run either way.
    _recommend(result, mode, options, calls, timing, advice)
    return errors, warnings, advice


def _recommend(
    result: ScanResult, mode: Mode, options: MigrationOptions, calls: ApiCalls, timing: Estimate, advice: list[str]
) -> None:
    if not calls.total:
        return
    ceiling = round(min(options.rate_limit * calls.total / max(calls.writes, 1), options.global_rate_limit), 1)
    others = max(timing.write_seconds, timing.general_seconds, timing.process_seconds)
    worth_it = timing.seconds - max(timing.write_seconds, timing.general_seconds) >= MIN_SAVING_SECONDS
    if timing.bottleneck == "concurrency" and timing.concurrency_seconds > CONCURRENCY_MARGIN * others and worth_it:
        needed = math.ceil(CONCURRENCY_MARGIN * ceiling * TYPICAL_LATENCY_SECONDS / options.workers)
        if needed <= 100:
            advice.append(
                f"Use --concurrency {needed}: {options.concurrency} in flight drive about "
                f"{options.concurrency * options.workers / TYPICAL_LATENCY_SECONDS:g} requests/s, below the "
                f"{ceiling:g}/s the rate limits allow"
            )
        else:
            workers = math.ceil(CONCURRENCY_MARGIN * ceiling * TYPICAL_LATENCY_SECONDS / 100)
            advice.append(
                f"Use --concurrency 100 --workers {workers}: one worker cannot keep enough requests in flight for "
                f"{ceiling:g} requests/s"
            )
    if timing.bottleneck == "one process" and worth_it:
        workers = min(32, math.ceil(ceiling / PROCESS_REQUESTS_PER_SECOND))
        advice.append(
            f"Use --workers {workers}: one process drives about {PROCESS_REQUESTS_PER_SECOND:g} requests/s, below "
            f"the {ceiling:g}/s the rate limits allow"
        )
    if options.errors_out is None:
        advice.append("Add --errors-out errors.jsonl to capture failures for retry")
    if mode == "multi-org":
        advice.append(
            f"Multi-org mode looks each of the {len(result.organizations):,} organizations up once and caches it "
            "(LRU, concurrent lookups of one organization share one request)"
        )
    if result.rows > 10_000 and options.job_id is None and not options.resume:
        advice.append("Every run is checkpointed; name this one with --job-id <name> to resume it with --resume <name>")


def plan(options: MigrationOptions, *, api_key: str | None = None) -> MigrationPlan:
    """Plan a migration: one streaming pass over the CSV, no API call, no write.

    ``api_key`` (or, when None, ``WORKOS_API_KEY``/``WORKOS_SECRET_KEY``) only decides whether the target is
    a test or live environment; it never appears in the plan. Raises ``SourceError`` when the CSV is
    unusable and ``OptionsError`` when an output location is not writable.
    """
    check_paths(options)
    source = CsvSource(options.csv_path)
    digest: list[str] = []
    hasher = threading.Thread(target=lambda: digest.append(sha256_file(source.path)), daemon=True)
    hasher.start()
    result = scan(source, single_org=options.single_org, require_membership=options.require_membership)
    hasher.join()
    mode = _mode(options, source)
    if api_key is None:
        api_key = os.environ.get("WORKOS_API_KEY") or os.environ.get("WORKOS_SECRET_KEY")
    target = Target(base_url=options.base_url, key=key_kind(api_key))
    calls = _api_calls(result, mode, options)
    timing = estimate(calls, result.valid_rows, options)
    errors, warnings, advice = _advice(source, result, mode, options, calls, timing, target)
    issues = summarize_issues(result)
    error_count = result.error_count
    return MigrationPlan(
        csv_path=str(options.csv_path),
        csv_sha256=digest[0],
        csv_bytes=source.size,
        mode=mode,
        org_resolution={"single-org": "upfront", "multi-org": "per-row (cached)", "user-only": "none"}[mode],
        rows=result.rows,
        blank_rows=result.blank_rows,
        valid_rows=result.valid_rows,
        invalid_rows=result.invalid_rows,
        users=result.users,
        memberships=result.memberships,
        users_in_several_orgs=result.users_in_several_orgs,
        organizations=1 if mode == "single-org" else len(result.organizations),
        hash_types=dict(result.hash_types),
        plaintext_passwords=result.plaintext_passwords,
        totp_users=result.totp_users,
        unknown_columns=source.unknown_columns,
        api_calls=calls,
        target=target,
        estimate=timing,
        workers=options.workers,
        concurrency=options.concurrency,
        rate_limit=options.rate_limit,
        chunk_size=options.chunk_size,
        chunks=math.ceil(result.rows / options.chunk_size),
        options=options,
        warnings=warnings,
        recommendations=advice,
        errors=errors,
        issues=issues,
        issue_count=result.issue_count,
        error_count=error_count,
        warning_count=result.issue_count - error_count,
        valid=not errors,
        plan_hash=plan_hash(digest[0], options),
    )
