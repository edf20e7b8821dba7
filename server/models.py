"""What the MCP tools take and return: argument types, lean result models, and the short text each shows.

Argument types reuse ``MigrationOptions``' own descriptions and ranges, so the schema an assistant reads
is the validation that runs. Results hold what a model needs to talk to the user and make the next call,
no CLI-only field (quiet, yes, dry_run, checkpoint_dir): they are built from core's objects here, once
per call. Two rules hold for every result, in its text and in its structured content alike:
- every string from the user's file or from WorkOS is an ``Untrusted`` field, fenced as
  ``server.untrusted`` says, and the text opens with its ``NOTICE``;
- nothing names a CLI flag: core's messages spell options as flags (``--org-id``), and ``tool_terms``
  respells them as the tools' arguments; next steps come from ``core.app`` as data and are rendered as
  tool calls (``NextCall``).
The tools themselves are ``server.mcp``'s.
"""

from __future__ import annotations

import copy
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, Field, WithJsonSchema

from core.analyze import ErrorAnalysis
from core.app import Action, ConfirmReason, NextAction
from core.failures import RERUN_SUGGESTION
from core.live import LiveCheck
from core.options import MigrationOptions, OnExistingMembership, OnExistingUser
from core.planner import IssueSummary, MigrationPlan
from core.store import JobState, RowOutcome, UndoKind, UndoState
from core.undo import UndoPreview, UndoResult, kept_always_text
from core.validation import ValidationReport
from core.verify import DiscrepancyKind, VerifyReport
from server.settings import ServerSettings
from server.untrusted import NOTICE, Untrusted, fence
from server.workspace import Workspace

if TYPE_CHECKING:
    from core.sources import ConvertReport

__all__ = [
    "MAX_GROUPS_SHOWN",
    "MAX_ISSUES",
    "AnalysisResult",
    "CancelResult",
    "CheckLiveArg",
    "ChunkSizeArg",
    "ConcurrencyArg",
    "ConversionResult",
    "CreateOrgArg",
    "CsvPathArg",
    "ErrorSample",
    "ExecutionStarted",
    "IssueLine",
    "JobIdArg",
    "JobList",
    "JobStatus",
    "LiveCounts",
    "NextCall",
    "OnExistingMembershipArg",
    "OnExistingUserArg",
    "OrgExternalIdArg",
    "OrgIdArg",
    "OrgNameArg",
    "PlanArguments",
    "PlanResult",
    "RateLimitArg",
    "RequireMembershipArg",
    "ResumeResult",
    "UndoAnswer",
    "ValidationResult",
    "VerifyAnswer",
    "WorkersArg",
    "counted",
    "tool_terms",
]

MAX_ISSUES = 10
"""Issue groups (one per rule) a result lists; the counts always cover every row."""
MAX_GROUPS_SHOWN = 10
"""Error groups an analysis result lists (largest first); the totals always cover every failure."""
FOLLOW_SECONDS = 25


def _option(name: str) -> Any:
    """The ``MigrationOptions`` field ``name`` (description, range, default) for use in an ``Annotated``."""
    return copy.copy(MigrationOptions.model_fields[name])


CsvPathArg = Annotated[str, Field(description="CSV of users in the workspace (a relative or absolute path).")]
OrgIdArg = Annotated[str | None, _option("org_id")]
OrgExternalIdArg = Annotated[str | None, _option("org_external_id")]
OrgNameArg = Annotated[str | None, _option("org_name")]
CreateOrgArg = Annotated[bool, _option("create_org_if_missing")]
ConcurrencyArg = Annotated[int, _option("concurrency")]
WorkersArg = Annotated[int, _option("workers")]
ChunkSizeArg = Annotated[int, _option("chunk_size")]
RateLimitArg = Annotated[float, _option("rate_limit")]
OnExistingUserArg = Annotated[OnExistingUser, _option("on_existing_user")]
RequireMembershipArg = Annotated[bool, _option("require_membership")]
MaxOutageArg = Annotated[float, _option("max_outage")]
JobIdArg = Annotated[str | None, _option("job_id")]
OnExistingMembershipArg = Annotated[OnExistingMembership, _option("on_existing_membership")]
CheckLiveArg = Annotated[
    bool | None,
    Field(description="Check WorkOS read-only (key, orgs, roles, existing users); default: with a key."),
]


class PlanArguments(BaseModel):
    """The options of a migration, as plan_migration takes them."""

    csv_path: CsvPathArg
    org_id: OrgIdArg = None
    org_external_id: OrgExternalIdArg = None
    org_name: OrgNameArg = None
    create_org_if_missing: CreateOrgArg = False
    concurrency: ConcurrencyArg = 10
    workers: WorkersArg = 1
    chunk_size: ChunkSizeArg = 1000
    rate_limit: RateLimitArg = 50.0
    on_existing_user: OnExistingUserArg = "adopt"
    require_membership: RequireMembershipArg = False
    max_outage: MaxOutageArg = 900.0
    job_id: JobIdArg = None
    on_existing_membership: OnExistingMembershipArg = "keep"
    check_live: CheckLiveArg = None

    def live(self, api_key: str | None) -> bool:
        """Whether to check the environment: as asked, else whenever there is a key."""
        return bool(api_key) if self.check_live is None else self.check_live

    def options(self, settings: ServerSettings, workspace: Workspace) -> MigrationOptions:
        """Options for this server: the CSV confined to the workspace, state, target and rates from settings.

        Raises ``OptionsError``.
        """
        values: dict[str, Any] = self.model_dump(exclude_none=True, exclude={"check_live"})
        values["csv_path"] = workspace.readable(self.csv_path, argument="csv_path")
        values["checkpoint_dir"] = settings.state_dir
        values["base_url"] = settings.base_url
        for name in ("read_rate_limit", "global_rate_limit"):
            if getattr(settings, name) is not None:
                values[name] = getattr(settings, name)
        return MigrationOptions.build(**values)


# -- speaking in tool terms -----------------------------------------------------------------------------

# CLI words with a meaning of their own here; any other ``--flag`` is an option, spelled as its argument.
_FLAG_TERMS = {
    "--csv": "csv_path",
    "--retry-failed": "retry_failed=true",
    "--resume": "resume_migration",
    "--auto-fix": "validate_csv with auto_fix=true",
    "--fixed-csv": "fixed_csv_path",
    "--include-non-retryable": "include_non_retryable=true",
    "--retry-csv": "write_retry_csv=true",
    "--errors-out": "the job's errors file",
    "--errors": "the job's errors file",
    "--checkpoint-dir": "the server's state directory",
    "--yes": "the user's confirmation",
}
_COMMAND_TERMS = {
    "validate": "validate_csv",
    "plan": "plan_migration",
    "execute": "execute_migration",
    "resume": "resume_migration",
    "analyze": "analyze_errors",
    "status": "get_migration_status",
}
_FLAG = re.compile(r"(?<![\w-])--([a-z][a-z0-9-]*)")
_COMMAND = re.compile(r"\bworkos-migrate (validate|plan|execute|resume|analyze|status)\b")
# Advice that only makes sense on the command line: the job's errors file is always written here.
_CLI_ONLY = ("--errors-out errors.jsonl", "--job-id <name>")


def tool_terms(text: str) -> str:
    """``text`` (a core message) with CLI flags and commands respelled as the MCP tools and arguments."""
    text = _COMMAND.sub(lambda match: _COMMAND_TERMS[match.group(1)], text)
    return _FLAG.sub(lambda match: _FLAG_TERMS.get(match.group(0), match.group(1).replace("-", "_")), text)


def _advice(items: list[str]) -> list[str]:
    return [tool_terms(item) for item in items if not any(cli in item for cli in _CLI_ONLY)]


class NextCall(BaseModel):
    """The next step as a tool call (``core.app.NextAction`` rendered for MCP)."""

    tool: str | None
    arguments: dict[str, Any]
    why: str

    @classmethod
    def of(cls, step: NextAction) -> NextCall:
        # the server keeps its jobs in its own state dir: a CLI checkpoint dir is no tool argument
        arguments = {name: value for name, value in step.arguments.items() if name != "checkpoint_dir"}
        tool = {
            Action.PLAN: "plan_migration",
            Action.RUN: "plan_migration",  # a tool executes only a plan the user was shown
            Action.FIX: "validate_csv",
            Action.EXECUTE: "execute_migration",
            Action.FOLLOW: "get_migration_status",
            Action.CHECK_LATER: "get_migration_status",
            Action.RESUME: "resume_migration",
            Action.ANALYZE: "analyze_errors",
            Action.UNDO: "undo_migration",
            Action.VERIFY: "verify_migration",
        }.get(step.action)
        if "csv_path" in arguments:  # a file's name is untrusted; the tools take it back fenced
            arguments["csv_path"] = fence(str(arguments["csv_path"]))
        if step.action is Action.FIX:
            arguments["auto_fix"] = True
        if step.action is Action.FOLLOW:
            arguments["wait_seconds"] = FOLLOW_SECONDS
        return cls(tool=tool, arguments=arguments, why=tool_terms(step.why))

    def call(self) -> str:
        arguments = ", ".join(f"{name}={_literal(value)}" for name, value in self.arguments.items())
        return f"{self.tool}({arguments})"

    def text(self, *, later: bool = False) -> str:
        if self.tool is None:
            return f"Next: {self.why}."
        if later:
            return f"Next: {self.why}; later, call {self.call()}."
        return f"Next: {self.why}; then call {self.call()}."


def _literal(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return f'"{value}"' if isinstance(value, str) else f"{value:g}"


# -- plans and validation -----------------------------------------------------------------------------


class LiveCounts(BaseModel):
    """The live check in counts; the rows WorkOS would refuse are in errors, by code and row."""

    key_valid: bool
    users_to_create: int
    users_to_adopt: int
    users_to_update: int
    users_to_skip: int
    memberships_to_create: int
    memberships_present: int
    memberships_to_update: int
    organizations_to_create: int
    organizations_failing: int
    failing_rows: int
    writes: int
    reads: int

    @classmethod
    def of(cls, live: LiveCheck) -> LiveCounts:
        fields = {name: getattr(live, name) for name in cls.model_fields if name != "reads"}
        return cls(**fields, reads=live.requests)


class IssueLine(BaseModel):
    """All issues of one rule: how many, the first rows, and the first message (row data)."""

    code: str
    severity: str
    count: int
    rows: list[int] = Field(description="The first rows (row 1 is the header).")
    fixable: bool = Field(description="auto_fix fixes it.")
    message: Untrusted

    @classmethod
    def of(cls, issue: IssueSummary) -> IssueLine:
        return cls(
            code=issue.code,
            severity=issue.severity,
            count=issue.count,
            rows=issue.rows,
            fixable=issue.fixable,
            message=tool_terms(issue.message),
        )

    def line(self) -> str:
        rows = ", ".join(str(row) for row in self.rows) + (", ..." if self.count > len(self.rows) else "")
        fix = " (validate_csv auto_fix fixes it)" if self.fixable else ""
        return f"  {self.code} ({self.severity}) x{self.count:,}, rows {rows}{fix}: {fence(self.message)}"


def _issue_lines(issues: list[IssueLine], total_rules: int) -> list[str]:
    lines = [issue.line() for issue in issues]
    if total_rules > len(issues):
        lines.append(f"  ... and {total_rules - len(issues)} more rules")
    return lines


class PlanResult(BaseModel):
    """A plan: what the migration will do, kept under ``plan_id`` for execute_migration."""

    plan_id: str
    plan_hash: str = Field(description="Changes with the file, the options or the target.")
    valid: bool = Field(description="No error at all.")
    can_execute: bool = Field(description="Invalid rows, if any, are recorded as failed, never sent.")
    file: Untrusted
    rows: int
    valid_rows: int
    invalid_rows: int
    users: int
    memberships: int
    organizations: int
    mode: str
    hash_types: dict[str, int]
    plaintext_passwords: int
    totp_users: int
    unknown_columns: list[Untrusted]
    target: str = Field(description="WorkOS base URL.")
    key: str = Field(description="test, live or none.")
    estimate: str
    estimate_seconds: float
    bottleneck: str
    confirmation_needed: list[ConfirmReason] = Field(description="What execute_migration will ask the user.")
    errors: list[Untrusted]
    warnings: list[Untrusted]
    recommendations: list[str]
    issue_count: int
    error_count: int
    issues: list[IssueLine] = Field(description=f"By rule, errors first (at most {MAX_ISSUES}).")
    live: LiveCounts | None = Field(default=None, description="What check_live found (null: not checked).")
    next: NextCall

    @classmethod
    def of(
        cls, plan_id: str, plan: MigrationPlan, *, reasons: tuple[ConfirmReason, ...], step: NextAction
    ) -> PlanResult:
        return cls(
            plan_id=plan_id,
            plan_hash=plan.plan_hash,
            valid=plan.valid,
            can_execute=not plan.blocking_errors and plan.valid_rows > 0,
            file=Path(plan.csv_path).name,
            rows=plan.rows,
            valid_rows=plan.valid_rows,
            invalid_rows=plan.invalid_rows,
            users=plan.users,
            memberships=plan.memberships,
            organizations=plan.organizations,
            mode=plan.mode,
            hash_types=plan.hash_types,
            plaintext_passwords=plan.plaintext_passwords,
            totp_users=plan.totp_users,
            unknown_columns=plan.unknown_columns,
            target=plan.target.base_url,
            key=plan.target.key,
            estimate=plan.estimate.human,
            estimate_seconds=plan.estimate.seconds,
            bottleneck=plan.estimate.bottleneck,
            confirmation_needed=list(reasons),
            live=LiveCounts.of(plan.live) if plan.live is not None else None,
            errors=[tool_terms(error) for error in plan.errors],
            warnings=[tool_terms(warning) for warning in plan.warnings],
            recommendations=_advice(plan.recommendations),
            issue_count=plan.issue_count,
            error_count=plan.error_count,
            issues=[IssueLine.of(issue) for issue in plan.issues[:MAX_ISSUES]],
            next=NextCall.of(step),
        )

    def text(self, total_rules: int) -> str:
        org = f" in {self.organizations:,} organizations" if self.organizations else ""
        hashes = ", ".join(f"{kind} {count:,}" for kind, count in sorted(self.hash_types.items())) or "none"
        key = {"test": "test key", "live": "LIVE key", "none": "no API key configured"}[self.key]
        lines = [
            NOTICE,
            f"Plan {self.plan_id} ({'valid' if self.valid else 'INVALID'}, hash {self.plan_hash[:12]}) of "
            f"{fence(self.file)}: {self.rows:,} rows ({self.valid_rows:,} valid, {self.invalid_rows:,} invalid) -> "
            f"{self.users:,} users and {self.memberships:,} memberships{org}, mode {self.mode}, password hashes: "
            f"{hashes}. Target {self.target} ({key}); estimated time {self.estimate} (limited by the "
            f"{self.bottleneck}).",
        ]
        if self.live is not None and self.live.key_valid:
            live = self.live
            lines.append(
                f"Live check ({live.reads:,} reads, nothing written): users {live.users_to_create:,} to create, "
                f"{live.users_to_adopt:,} to adopt, {live.users_to_update:,} to update; memberships "
                f"{live.memberships_to_create:,} to create, {live.memberships_present:,} present, "
                f"{live.memberships_to_update:,} to update; organizations {live.organizations_to_create:,} to create; "
                f"{live.writes:,} writes left; {live.failing_rows:,} rows would fail"
            )
        if self.unknown_columns:
            lines.append("Unknown columns (ignored): " + ", ".join(fence(name) for name in self.unknown_columns))
        lines += [f"Error: {fence(error)}" for error in self.errors]
        lines += [f"Warning: {fence(warning)}" for warning in self.warnings]
        if self.issues:
            lines.append(f"Issues ({self.issue_count:,}: {self.error_count:,} errors), by rule:")
            lines += _issue_lines(self.issues, total_rules)
        lines += [f"Recommendation: {item}" for item in self.recommendations]
        if self.confirmation_needed:
            lines.append(
                "execute_migration will ask the user to confirm ("
                + ", ".join(reason.value for reason in self.confirmation_needed)
                + ")."
            )
        lines.append(self.next.text())
        return "\n".join(lines)


class ValidationResult(BaseModel):
    """Validation of a CSV, with the fixed copy when one was asked for."""

    file: Untrusted
    rows: int
    valid_rows: int
    invalid_rows: int
    users: int
    memberships: int
    unknown_columns: list[Untrusted]
    issue_count: int
    error_count: int
    warning_count: int
    issues: list[IssueLine] = Field(description=f"By rule (at most {MAX_ISSUES}).")
    fixed_csv: Untrusted | None = Field(description="The fixed copy written.")
    fixed_rows: int
    valid: bool
    next: NextCall

    @classmethod
    def of(cls, report: ValidationReport) -> ValidationResult:
        if report.fixed_csv:
            step = NextAction(action=Action.PLAN, arguments={"csv_path": report.fixed_csv}, why="plan the fixed copy")
        elif report.valid:
            step = NextAction(action=Action.PLAN, arguments={"csv_path": report.csv_path}, why="no errors")
        elif any(issue.fixable for issue in report.issues):
            step = NextAction(action=Action.FIX, arguments={"csv_path": report.csv_path}, why="some errors are fixable")
        else:
            step = NextAction(action=Action.FIX_DATA, why="fix the rows listed in the file, then validate again")
        return cls(
            file=Path(report.csv_path).name,
            rows=report.rows,
            valid_rows=report.valid_rows,
            invalid_rows=report.invalid_rows,
            users=report.users,
            memberships=report.memberships,
            unknown_columns=report.unknown_columns,
            issue_count=report.issue_count,
            error_count=report.error_count,
            warning_count=report.warning_count,
            issues=[IssueLine.of(issue) for issue in report.issues[:MAX_ISSUES]],
            fixed_csv=report.fixed_csv,
            fixed_rows=report.fixed_rows,
            valid=report.valid,
            next=NextCall.of(step),
        )

    def text(self, total_rules: int) -> str:
        verdict = "no errors" if self.valid else f"{self.error_count:,} errors in {self.invalid_rows:,} rows"
        lines = [
            NOTICE,
            f"{fence(self.file)}: {self.rows:,} rows ({self.valid_rows:,} valid, {self.invalid_rows:,} invalid), "
            f"{self.users:,} users, {self.memberships:,} memberships; {verdict}, {self.warning_count:,} warnings.",
        ]
        if self.unknown_columns:
            lines.append("Unknown columns (ignored): " + ", ".join(fence(name) for name in self.unknown_columns))
        if self.issues:
            lines.append("Issues by rule:")
            lines += _issue_lines(self.issues, total_rules)
        if self.fixed_csv:
            lines.append(f"Fixed copy: {fence(self.fixed_csv)} ({self.fixed_rows:,} rows changed)")
        lines.append(self.next.text())
        return "\n".join(lines)


# -- jobs ---------------------------------------------------------------------------------------------

StateName = Annotated[JobState, WithJsonSchema({})]
"""A job's state in a result other than get_migration_status's, whose output schema lists the states: a tool's
schema does not repeat them (tools/list stays small)."""


class ErrorSample(BaseModel):
    """One failed row. Everything but the row number and flags is data from the file or WorkOS."""

    row: int = Field(description="The header is row 1.")
    email: Untrusted | None
    phase: str | None
    status: int | None = Field(description="WorkOS's HTTP status.")
    code: Untrusted | None
    message: Untrusted | None
    retryable: bool

    @classmethod
    def of(cls, outcome: RowOutcome) -> ErrorSample:
        message = outcome.error_message[:500] if outcome.error_message else None
        return cls(
            row=outcome.row,
            email=outcome.email,
            phase=outcome.error_phase,
            status=outcome.error_status,
            code=outcome.error_code,
            message=tool_terms(message) if message else None,
            retryable=bool(outcome.retryable),
        )

    def line(self) -> str:
        status = f" {self.status}" if self.status else ""
        return (
            f"row {self.row} {self.phase}{status} {fence(self.code)}: {fence(self.message)} (email {fence(self.email)})"
        )


class JobStatus(BaseModel):
    """Where a job stands, what changed since the caller's cursor, and what to call next."""

    job_id: str
    state: JobState
    file: Untrusted
    worker_running: bool
    cancel_requested: bool
    total_rows: int = Field(description="0 until the worker has read the file.")
    succeeded: int
    skipped: int
    failed: int = Field(description="Failed rows, invalid ones included.")
    invalid: int
    pending: int
    percent: float
    rows_per_second: float
    eta_seconds: float | None
    retries: int
    rate_limited: int = Field(description="429 answers so far.")
    circuit: Literal["closed", "open"] = Field(
        default="closed",
        description="open: WorkOS looks down, requests wait and probe, no row fails meanwhile.",
    )
    outage_since: float | None = Field(default=None, description="Start of the current outage (Unix time).")
    outage_seconds: float = Field(default=0.0, description="Seconds WorkOS was down during this job.")
    last_error: Untrusted | None
    new_failures: int = Field(description="Failed since the cursor.")
    new_errors: list[ErrorSample] = Field(description="The latest 5 of them.")
    unchanged: bool = Field(description="Nothing changed since the cursor.")
    cursor: str = Field(description="Pass as since next time.")
    next: NextCall

    def text(self) -> str:
        """A few lines for the model: counts, rate, ETA, new failures (fenced), the next call."""
        if self.unchanged:
            return f"Job {self.job_id}: {self.state.value}, no change since the last call. {self._next()}"
        progress = (
            f"{self.succeeded:,} succeeded, {self.skipped:,} skipped, {self.failed:,} failed "
            f"({self.invalid:,} invalid), {self.pending:,} pending of {self.total_rows:,} rows ({self.percent:g}%)"
        )
        lines = [f"Job {self.job_id} ({fence(self.file)}): {self.state.value}. {progress}."]
        if self.rows_per_second:
            eta = f", about {human(self.eta_seconds)} left" if self.eta_seconds else ""
            lines.append(
                f"Rate {self.rows_per_second:g} rows/s{eta}; {self.retries:,} retries, {self.rate_limited:,} 429s."
            )
        if self.circuit == "open" or self.outage_seconds:
            since = time.strftime("%H:%M:%S UTC", time.gmtime(self.outage_since)) if self.outage_since else None
            now = f"unreachable now (since {since}), requests wait; " if self.circuit == "open" else ""
            lines.append(f"WorkOS {now}{self.outage_seconds:,.1f} s of outage so far; no row failed for it.")
        if self.last_error or self.new_errors:
            lines.insert(0, NOTICE)
        if self.last_error:
            lines.append(f"Last error: {fence(self.last_error)}")
        if self.new_errors:
            lines.append(f"{self.new_failures:,} rows failed since the last call; the latest:")
            lines += [f"  {sample.line()}" for sample in self.new_errors]
        lines.append(self._next())
        return "\n".join(lines)

    def _next(self) -> str:
        step = self.next
        if step.tool == "get_migration_status" and "wait_seconds" in step.arguments:
            return (
                f'Next: {step.why}; call {step.tool}(job_id="{self.job_id}", since="{self.cursor}", '
                f"wait_seconds={FOLLOW_SECONDS})."
            )
        if step.tool == "get_migration_status":
            left = human(self.eta_seconds)
            return (
                f'Next: about {left} left: {step.why}; later, call {step.tool}(job_id="{self.job_id}", '
                f'since="{self.cursor}").'
            )
        return step.text()


def human(seconds: float | None) -> str:
    """A duration in words: 45 s, 12 min, 2.5 h."""
    if not seconds:
        return "0 s"
    if seconds < 90:
        return f"{round(seconds)} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


class ExecutionStarted(BaseModel):
    """The job of a plan: started now, or found already started by an earlier call."""

    job_id: str
    plan_id: str
    plan_hash: str = Field(description="Of what runs (another if the form chose an organization).")
    started: bool = Field(description="False: the plan's job existed already.")
    confirmation: str | None
    state: StateName
    next: NextCall

    @classmethod
    def of(
        cls, status: JobStatus, *, plan_id: str, plan_hash: str, started: bool, confirmation: str | None
    ) -> ExecutionStarted:
        return cls(
            job_id=status.job_id,
            plan_id=plan_id,
            plan_hash=plan_hash,
            started=started,
            confirmation=confirmation,
            state=status.state,
            next=status.next,
        )

    def text(self, status: JobStatus) -> str:
        if not self.started:
            head = f"Plan {self.plan_id} already has job {self.job_id}: nothing new was started (one job per plan)."
        else:
            head = (
                f"Started job {self.job_id} for plan {self.plan_id} (confirmed: {self.confirmation}). It runs in its "
                "own process and keeps going if this conversation ends."
            )
        return head + "\n" + status.text()


class ResumeResult(BaseModel):
    """The job after resume_migration: a new worker, or the one already running it."""

    job_id: str
    started: bool = Field(description="False: a worker was running it already.")
    confirmation: str | None
    state: StateName
    next: NextCall

    @classmethod
    def of(cls, status: JobStatus, *, started: bool, confirmation: str | None) -> ResumeResult:
        return cls(
            job_id=status.job_id, started=started, confirmation=confirmation, state=status.state, next=status.next
        )

    def text(self, status: JobStatus) -> str:
        head = (
            f"Resumed job {self.job_id} in a new worker (confirmed: {self.confirmation})."
            if self.started
            else f"Job {self.job_id} is already running; nothing was started."
        )
        return head + "\n" + status.text()


class CancelResult(BaseModel):
    """A job after cancel_migration."""

    job_id: str
    state: StateName
    cancel_requested: bool
    worker_running: bool
    next: NextCall

    @classmethod
    def of(cls, status: JobStatus) -> CancelResult:
        return cls(
            job_id=status.job_id,
            state=status.state,
            cancel_requested=status.cancel_requested,
            worker_running=status.worker_running,
            next=status.next,
        )


class JobSummary(BaseModel):
    """One job of a list."""

    job_id: str
    state: StateName
    file: Untrusted
    succeeded: int
    failed: int
    pending: int
    total_rows: int


class JobList(BaseModel):
    """Jobs in the server's state directory, newest first."""

    jobs: list[JobSummary]

    def text(self) -> str:
        if not self.jobs:
            return "No jobs yet."
        lines = [NOTICE, f"{len(self.jobs)} jobs, newest first:"]
        for job in self.jobs:
            lines.append(
                f"  {job.job_id}: {job.state.value}, {job.succeeded:,} succeeded, {job.failed:,} failed, "
                f"{job.pending:,} pending of {job.total_rows:,} ({fence(job.file)})"
            )
        return "\n".join(lines)


# -- analysis -----------------------------------------------------------------------------------------


class ExampleLine(BaseModel):
    row: int
    email: Untrusted | None


class GroupLine(BaseModel):
    """Failures that share a cause."""

    count: int
    phase: str
    status: int | None
    code: Untrusted
    category: str
    retryable: bool = Field(description="Sending them again, unchanged, should import them.")
    message: Untrusted = Field(description="Untrusted data, fenced; masked.")
    reason: str
    examples: list[ExampleLine]


class AnalysisResult(BaseModel):
    """A job's failures explained: groups by cause, what a retry fixes, what to change, the retry file."""

    job_id: str
    failures: int
    retryable: int
    not_retryable: int
    pending_rows: int
    by_phase: dict[str, int]
    by_category: dict[str, int]
    groups: list[GroupLine] = Field(description=f"The {MAX_GROUPS_SHOWN} largest.")
    suggestions: list[str] = Field(description="Each once, most rows first.")
    retry_file: Untrusted | None
    retry_rows: int
    warnings: list[Untrusted]
    next: NextCall

    @classmethod
    def of(cls, analysis: ErrorAnalysis, job_id: str, step: NextAction) -> AnalysisResult:
        suggestions: list[str] = []
        for group in analysis.groups:
            advice = tool_terms(group.suggestion)
            if group.suggestion != RERUN_SUGGESTION and advice not in suggestions:
                suggestions.append(advice)
        return cls(
            job_id=job_id,
            failures=analysis.failures,
            retryable=analysis.retryable,
            not_retryable=analysis.not_retryable,
            pending_rows=analysis.pending_rows,
            by_phase=analysis.by_phase,
            by_category=analysis.by_category,
            groups=[
                GroupLine(
                    count=group.count,
                    phase=group.phase,
                    status=group.status,
                    code=group.code,
                    category=group.category,
                    retryable=group.retryable,
                    message=tool_terms(group.message),
                    reason=tool_terms(group.reason),
                    examples=[ExampleLine(row=row.row, email=row.email) for row in group.examples],
                )
                for group in analysis.groups[:MAX_GROUPS_SHOWN]
            ],
            suggestions=suggestions,
            retry_file=analysis.retry_file.path if analysis.retry_file else None,
            retry_rows=analysis.retry_file.rows if analysis.retry_file else 0,
            warnings=_advice(analysis.warnings),
            next=NextCall.of(step),
        )

    def text(self) -> str:
        share = self.retryable / self.failures if self.failures else 0.0
        lines = [
            NOTICE,
            f"Job {self.job_id}: {self.failures:,} failed rows, {self.retryable:,} retryable ({share:.0%}), "
            f"{self.not_retryable:,} not; {self.pending_rows:,} rows pending.",
        ]
        if self.groups:
            lines.append("Groups, largest first (messages masked):")
        for group in self.groups:
            status = f" {group.status}" if group.status else ""
            examples = ", ".join(f"row {example.row} {fence(example.email)}" for example in group.examples)
            retry = "retryable" if group.retryable else "not retryable"
            lines.append(
                f"  {group.count:,} x {group.phase}{status} {fence(group.code)} ({group.category}, {retry}): "
                f"{fence(group.message)}; e.g. {examples}."
            )
        lines += [f"Suggestion: {item}" for item in self.suggestions]
        if self.retry_file:
            lines.append(f"Retry file: {fence(self.retry_file)} ({self.retry_rows:,} rows, with the source's hashes)")
        lines += [f"Warning: {fence(warning)}" for warning in self.warnings]
        lines.append(self.next.text())
        return "\n".join(lines)


class ConversionResult(BaseModel):
    """A provider's export converted to the canonical CSV. Counts only: no hash, secret or email."""

    source: str
    converted: int
    reset: int
    skipped: int
    reasons: dict[str, dict[str, int]]
    roles_dropped: list[Untrusted]
    warnings: list[str]
    out_csv: Untrusted
    next: NextCall

    @classmethod
    def of(cls, report: ConvertReport) -> ConversionResult:
        return cls(
            source=report.source,
            converted=report.converted,
            reset=report.reset,
            skipped=report.skipped,
            reasons=report.reasons,
            roles_dropped=list(report.roles_dropped),
            warnings=report.warnings,
            out_csv=report.out,
            next=NextCall.of(
                NextAction(
                    action=Action.PLAN,
                    arguments={"csv_path": report.out},
                    why="the CSV is written: plan it (planning checks every row); tell the user who must reset",
                )
            ),
        )

    def text(self) -> str:
        lines = [
            NOTICE,
            f"{self.source}: {self.converted:,} users keep their password, {self.reset:,} must reset it, "
            f"{self.skipped:,} skipped; written to {fence(self.out_csv)}.",
        ]
        for outcome, reasons in self.reasons.items():
            if reasons:
                lines.append(f"{outcome}: " + ", ".join(f"{reason} {count:,}" for reason, count in reasons.items()))
        lines += [f"Warning: {warning}" for warning in self.warnings]
        if self.roles_dropped:
            lines.append("Role names left out: " + ", ".join(fence(name) for name in self.roles_dropped[:10]))
        lines.append(self.next.text())
        return "\n".join(lines)


_KIND_NAMES = {
    UndoKind.MEMBERSHIP: "membership",
    UndoKind.FACTOR: "TOTP factor",
    UndoKind.USER: "user",
    UndoKind.ORGANIZATION: "organization",
}


def counted(kind: UndoKind, count: int) -> str:
    """``3 users``, ``1 organization``."""
    return f"{count:,} {_KIND_NAMES[kind]}{'' if count == 1 else 's'}"


class UndoSample(BaseModel):
    """An object undo keeps, and why; the email is untrusted."""

    kind: UndoKind
    row: int | None
    email: Untrusted | None
    reason: str | None


class UndoAnswer(BaseModel):
    """What undo deletes (``delete``) and never touches (``kept``), and the undo as it stands."""

    job_id: str
    started: bool
    confirmation: str | None
    delete: dict[UndoKind, int]
    kept: dict[str, int]
    to_keep: list[UndoSample]
    state: UndoState | None
    deleted: dict[UndoKind, int]
    kept_now: dict[str, int]
    failed: int
    pending: int
    next: NextCall

    @classmethod
    def of(
        cls,
        preview: UndoPreview,
        result: UndoResult | None,
        *,
        started: bool,
        confirmation: str | None,
        next_step: NextAction,
    ) -> UndoAnswer:
        samples = (result.kept_examples if result is not None and result.kept_examples else preview.to_keep)[:5]
        return cls(
            job_id=preview.job_id,
            started=started,
            confirmation=confirmation,
            delete=preview.delete,
            kept=preview.kept,
            to_keep=[UndoSample(kind=e.kind, row=e.row, email=e.email, reason=e.reason) for e in samples],
            state=result.state if result is not None else None,
            deleted={k: n + result.absent.get(k, 0) for k, n in result.deleted.items()} if result is not None else {},
            kept_now=result.kept if result is not None else {},
            failed=result.failed if result is not None else 0,
            pending=result.pending if result is not None else 0,
            next=NextCall.of(next_step),
        )

    def text(self) -> str:
        deletes = ", ".join(counted(kind, count) for kind, count in self.delete.items() if count) or "nothing"
        keeps = "; ".join(f"{count:,} {kept_always_text(key)}" for key, count in self.kept.items()) or "nothing else"
        state = f" Undo {self.state.value}." if self.state is not None else ""
        done = ", ".join(counted(kind, count) for kind, count in self.deleted.items())
        progress = f" Deleted so far: {done}." if done else ""
        left = f" {self.pending:,} pending, {self.failed:,} failed." if self.pending or self.failed else ""
        return (
            f"Undo of job {self.job_id} deletes what it created: {deletes}. It keeps {keeps}.{state}{progress}{left} "
            + self.next.text()
        )


class VerifySample(BaseModel):
    """One discrepancy; the email and organization are untrusted."""

    row: int
    email: Untrusted
    organization: Untrusted
    kind: DiscrepancyKind
    expected: Untrusted
    found: Untrusted


class VerifyAnswer(BaseModel):
    """How WorkOS compares with the file: counts by kind and the first discrepancies."""

    job_id: str | None
    matches: bool
    checked: int
    invalid: int
    discrepancies: int
    by_kind: dict[DiscrepancyKind, int]
    examples: list[VerifySample]
    recorded_done_missing: int
    discrepancies_file: str | None
    missing_csv: str | None
    next: NextCall

    @classmethod
    def of(cls, report: VerifyReport, next_step: NextAction) -> VerifyAnswer:
        return cls(
            job_id=report.job_id,
            matches=report.matches,
            checked=report.checked,
            invalid=report.invalid,
            discrepancies=report.discrepancies,
            by_kind=report.by_kind,
            examples=[VerifySample(**d._asdict()) for d in report.examples[:5]],
            recorded_done_missing=report.recorded_done_missing,
            discrepancies_file=report.discrepancies_file,
            missing_csv=report.missing_csv,
            next=NextCall.of(next_step),
        )

    def text(self) -> str:
        if self.matches:
            head = (
                f"WorkOS matches the file: {self.checked:,} rows checked ({self.invalid:,} invalid rows not compared)."
            )
        else:
            kinds = ", ".join(f"{count:,} {kind.value}" for kind, count in self.by_kind.items())
            head = f"WorkOS does not match the file: {kinds} ({self.checked:,} rows checked)."
        return f"{head} {self.next.text()}"
