"""What the MCP tools take and return: argument types, result models, and the short text each result shows.

Argument types reuse ``MigrationOptions``' own descriptions and ranges, so the schema an assistant reads
is the validation that runs. Every result is a pydantic model sent as structured content, with a few lines
of text for the model that carry the ids and the next call; anything that comes from a row of the file or
from WorkOS is quoted as a JSON string there (data, never instructions). Job status lives in
``server.jobs``; the tools themselves in ``server.mcp``.
"""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, Field

from core.analyze import ErrorAnalysis
from core.options import MigrationOptions, OnExistingUser
from core.planner import IssueSummary, MigrationPlan
from core.validation import ValidationReport
from server.jobs import JobStatus, quoted
from server.settings import ServerSettings
from server.untrusted import Untrusted, fence
from server.workspace import Workspace

if TYPE_CHECKING:
    from core.sources import ConvertReport

__all__ = [
    "MAX_GROUPS_SHOWN",
    "MAX_ISSUES",
    "AnalysisResult",
    "ChunkSizeArg",
    "ConcurrencyArg",
    "ConversionResult",
    "CreateOrgArg",
    "CsvPathArg",
    "ExecutionStarted",
    "JobIdArg",
    "JobList",
    "OnExistingUserArg",
    "OrgExternalIdArg",
    "OrgIdArg",
    "OrgNameArg",
    "PlanArguments",
    "PlanResult",
    "RateLimitArg",
    "RequireMembershipArg",
    "ResumeResult",
    "ValidationResult",
    "WorkersArg",
    "blocking_errors",
    "issue_lines",
    "plan_id_for",
]

MAX_ISSUES = 10
"""Issue groups (one per rule) a result lists; the counts always cover every row."""


def _option(name: str) -> Any:
    """The ``MigrationOptions`` field ``name`` (description, range, default) for use in an ``Annotated``."""
    return copy.copy(MigrationOptions.model_fields[name])


CsvPathArg = Annotated[
    str, Field(description="CSV file of users: relative to the server's workspace, or an absolute path inside it.")
]
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
JobIdArg = Annotated[str | None, _option("job_id")]


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
    job_id: JobIdArg = None

    def options(self, settings: ServerSettings, workspace: Workspace) -> MigrationOptions:
        """Options for this server: the CSV confined to the workspace, state, target and rates from settings.

        Raises ``OptionsError``.
        """
        values: dict[str, Any] = self.model_dump(exclude_none=True)
        values["csv_path"] = workspace.readable(self.csv_path, argument="csv_path")
        values["checkpoint_dir"] = settings.state_dir
        values["base_url"] = settings.base_url
        for name in ("read_rate_limit", "global_rate_limit"):
            if getattr(settings, name) is not None:
                values[name] = getattr(settings, name)
        return MigrationOptions.build(**values)


def plan_id_for(plan: MigrationPlan) -> str:
    """A stable id for a plan: the same file and options give the same id, in any server process."""
    digest = hashlib.sha256((plan.csv_sha256 + plan.options.model_dump_json()).encode()).hexdigest()
    return "plan-" + digest[:16]


def blocking_errors(plan: MigrationPlan) -> list[str]:
    """What stops the server from starting a plan: the plan's own blocking errors (invalid rows are not one:
    the engine records them without sending them), and no valid row at all."""
    errors = list(plan.blocking_errors)
    if not plan.valid_rows:
        errors.append("the file has no valid row to import")
    return errors


def issue_lines(issues: list[IssueSummary]) -> list[str]:
    """One line per rule: code, severity, count, first rows, and the first message quoted as data."""
    lines = []
    for issue in issues[:MAX_ISSUES]:
        rows = ", ".join(str(row) for row in issue.rows) + (", ..." if issue.count > len(issue.rows) else "")
        fix = " (validate_csv auto_fix fixes it)" if issue.fixable else ""
        lines.append(f"  {issue.code} ({issue.severity}) x{issue.count:,}, rows {rows}{fix}: {quoted(issue.message)}")
    if len(issues) > MAX_ISSUES:
        lines.append(f"  ... and {len(issues) - MAX_ISSUES} more rules")
    return lines


class PlanResult(BaseModel):
    """A plan: what the migration will do, kept under ``plan_id`` for execute_migration."""

    plan_id: str = Field(description="Pass to execute_migration.")
    plan_hash: str = Field(description="Changes whenever the file, the options or the target change.")
    valid: bool
    summary: str = Field(description="Two sentences to relay to the user.")
    next_step: str
    plan: MigrationPlan = Field(description=f"The full plan; issues are the first {MAX_ISSUES} rules.")

    @classmethod
    def of(cls, plan_id: str, plan: MigrationPlan) -> PlanResult:
        org = f" in {plan.organizations:,} organizations" if plan.organizations else ""
        hashes = ", ".join(f"{kind} {count:,}" for kind, count in sorted(plan.hash_types.items())) or "none"
        key = {"test": "test key", "live": "LIVE key", "none": "no API key configured"}[plan.target.key]
        summary = (
            f"{Path(plan.csv_path).name}: {plan.rows:,} rows ({plan.valid_rows:,} valid, {plan.invalid_rows:,} "
            f"invalid) -> {plan.users:,} users and {plan.memberships:,} memberships{org}, mode {plan.mode}, "
            f"password hashes: {hashes}. Target {plan.target.base_url} ({key}); estimated time "
            f"{plan.estimate.human} (limited by the {plan.estimate.bottleneck})."
        )
        execute = (
            f'call execute_migration(plan_id="{plan_id}"). Imports over 10,000 rows, live keys and files without '
            "organizations need their confirmation."
        )
        if blocking_errors(plan):
            next_step = "the plan cannot run: show the errors to the user, fix them, then call plan_migration again"
        elif plan.invalid_rows:
            next_step = (
                f"show this plan to the user: {plan.invalid_rows:,} rows have errors and would be recorded as failed "
                "without being sent. Fix them first (validate_csv with auto_fix=true fixes some) and plan again, or, "
                f"if the user wants to go ahead anyway, {execute}"
            )
        else:
            next_step = f"show this plan to the user; when they agree, {execute}"
        capped = plan.model_copy(update={"issues": plan.issues[:MAX_ISSUES]})
        return cls(
            plan_id=plan_id,
            plan_hash=plan.plan_hash,
            valid=plan.valid,
            summary=summary,
            next_step=next_step,
            plan=capped,
        )

    def text(self) -> str:
        plan = self.plan
        lines = [
            f"Plan {self.plan_id} ({'valid' if self.valid else 'INVALID'}, hash {self.plan_hash[:12]})",
            self.summary,
        ]
        lines += [f"Error: {error}" for error in plan.errors]
        lines += [f"Warning: {warning}" for warning in plan.warnings]
        if plan.issues:
            lines.append(f"Issues ({plan.issue_count:,}: {plan.error_count:,} errors), by rule (row data quoted):")
            lines += issue_lines(plan.issues)
        lines += [f"Recommendation: {item}" for item in plan.recommendations]
        lines.append(f"Next: {self.next_step}")
        return "\n".join(lines)


class ValidationResult(BaseModel):
    """Validation of a CSV, with the fixed copy when one was asked for."""

    report: ValidationReport = Field(description=f"Counts and the first {MAX_ISSUES} issue rules.")
    next_step: str

    @classmethod
    def of(cls, report: ValidationReport) -> ValidationResult:
        if report.fixed_csv:
            next_step = f"plan the fixed copy: plan_migration(csv_path={quoted(report.fixed_csv)})"
        elif report.valid:
            next_step = "no errors: call plan_migration with this file"
        else:
            fixable = any(issue.fixable for issue in report.issues)
            next_step = "fix the rows listed" + (" (auto_fix=true fixes some)" if fixable else "")
        capped = report.model_copy(update={"issues": report.issues[:MAX_ISSUES]})
        return cls(report=capped, next_step=next_step)

    def text(self) -> str:
        report = self.report
        verdict = "no errors" if report.valid else f"{report.error_count:,} errors in {report.invalid_rows:,} rows"
        lines = [
            f"{Path(report.csv_path).name}: {report.rows:,} rows ({report.valid_rows:,} valid, "
            f"{report.invalid_rows:,} invalid), {report.users:,} users, {report.memberships:,} memberships; {verdict}, "
            f"{report.warning_count:,} warnings."
        ]
        if report.issues:
            lines.append("Issues by rule (row data quoted):")
            lines += issue_lines(report.issues)
        if report.fixed_csv:
            lines.append(f"Fixed copy: {report.fixed_csv} ({report.fixed_rows:,} rows changed)")
        lines.append(f"Next: {self.next_step}")
        return "\n".join(lines)


class ExecutionStarted(BaseModel):
    """A job started for a plan, in a worker process that outlives this server."""

    job_id: str
    plan_id: str
    plan_hash: str = Field(
        description="The hash of what runs (it differs from the plan's when the form chose an organization)."
    )
    confirmation: str = Field(description="How the write was confirmed: yes, elicitation or not needed.")
    status: JobStatus

    def text(self) -> str:
        return (
            f"Started job {self.job_id} for plan {self.plan_id} (confirmed: {self.confirmation}). It runs in its "
            f'own process and keeps going if this conversation ends. Follow it with get_migration_status(job_id="'
            f'{self.job_id}", wait_seconds=25).'
        )


class ResumeResult(BaseModel):
    """The job after resume_migration: a new worker, or the one already running it."""

    started: bool = Field(description="False when a worker was already running the job (nothing was done).")
    confirmation: str | None
    status: JobStatus

    def text(self) -> str:
        head = (
            f"Resumed job {self.status.job_id} in a new worker (confirmed: {self.confirmation})."
            if self.started
            else f"Job {self.status.job_id} is already running; nothing was started."
        )
        return head + "\n" + self.status.text()


class JobList(BaseModel):
    """Jobs in the server's state directory, newest first."""

    state_dir: str
    jobs: list[JobStatus]

    def text(self) -> str:
        if not self.jobs:
            return f"No jobs in {self.state_dir}."
        lines = [f"{len(self.jobs)} jobs in {self.state_dir}, newest first:"]
        for job in self.jobs:
            lines.append(
                f"  {job.job_id}: {job.state.value}, {job.succeeded:,} succeeded, {job.failed:,} failed, "
                f"{job.pending:,} pending of {job.total_rows:,} ({Path(job.csv_path).name})"
            )
        return "\n".join(lines)


MAX_GROUPS_SHOWN = 10
"""Error groups an analysis result lists (largest first); the totals always cover every failure."""


class AnalysisResult(BaseModel):
    """A job's failures explained: groups by cause, what a retry fixes, what to change, the retry file."""

    analysis: ErrorAnalysis = Field(description=f"Totals, suggestions and the {MAX_GROUPS_SHOWN} largest groups.")
    next_step: str

    @classmethod
    def of(cls, analysis: ErrorAnalysis, job_id: str) -> AnalysisResult:
        retry = f'resume_migration(job_id="{job_id}", retry_failed=true)'
        if analysis.retryable:
            next_step = (
                f"explain the groups to the user; with their agreement, call {retry} to send the failed rows "
                "again (rows already imported are never sent twice)"
            )
        elif analysis.failures:
            next_step = "no failure is fixed by a retry alone: explain the suggestions; fix the data, then plan again"
        else:
            next_step = "nothing failed"
        capped = analysis.model_copy(update={"groups": analysis.groups[:MAX_GROUPS_SHOWN]})
        return cls(analysis=capped, next_step=next_step)

    def text(self) -> str:
        analysis = self.analysis
        lines = [
            f"Job {analysis.job_id}: {analysis.failures:,} failed rows, {analysis.retryable:,} retryable "
            f"({analysis.retryable_share:.0%}), {analysis.not_retryable:,} not; {analysis.pending_rows:,} rows pending."
        ]
        if analysis.groups:
            lines.append("Groups, largest first (messages masked; emails are row data, quoted):")
        for group in analysis.groups:
            status = f" {group.status}" if group.status else ""
            examples = ", ".join(f"row {row.row} {quoted(row.email)}" for row in group.examples)
            retry = "retryable" if group.retryable else "not retryable"
            lines.append(
                f"  {group.count:,} x {group.phase}{status} {group.code} ({group.category}, {retry}): "
                f"{quoted(group.message)}; e.g. {examples}. {group.suggestion}"
            )
        lines += [f"Suggestion: {item}" for item in analysis.suggestions]
        if analysis.retry_file:
            lines.append(
                f"Retry file: {analysis.retry_file.path} ({analysis.retry_file.rows:,} rows, with the source's hashes)"
            )
        lines += [f"Warning: {warning}" for warning in analysis.warnings]
        lines.append(f"Next: {self.next_step}")
        return "\n".join(lines)


class DroppedName(BaseModel):
    """A metadata key or role name from the export that did not fit, and how many users it concerned."""

    name: Untrusted
    users: int


class ConversionResult(BaseModel):
    """A provider's export converted to the canonical CSV. Counts only: no hash, secret or email."""

    source: str
    input_users: int = Field(description="Identities read from the export.")
    converted: int = Field(description="Users written with their password hash.")
    reset: int = Field(description="Users written without a password, each on the reset list.")
    skipped: int = Field(description="Users left out by a stated policy (see reasons).")
    reasons: dict[str, dict[str, int]] = Field(description="converted/reset/skipped -> reason or hash type -> users.")
    rows: int = Field(description="CSV rows written (one per user and organization).")
    memberships: int
    organizations: int
    unproven_hash_types: list[str] = Field(description="Hash types whose WorkOS form is not documented.")
    metadata_dropped: list[DroppedName] = Field(description="Metadata entries that did not fit WorkOS's limits.")
    roles_dropped: list[DroppedName] = Field(description="Role names that are not WorkOS slugs after role_map.")
    warnings: list[str]
    out_csv: str
    report_path: str | None
    reset_list_path: str | None
    next_step: str

    @classmethod
    def of(cls, report: ConvertReport) -> ConversionResult:
        return cls(
            **report.model_dump(include=set(_CONVERSION_COUNTS)),
            metadata_dropped=[DroppedName(name=key, users=count) for key, count in report.metadata_dropped.items()],
            roles_dropped=[DroppedName(name=key, users=count) for key, count in report.roles_dropped.items()],
            out_csv=report.out,
            report_path=report.report,
            reset_list_path=report.reset_list,
            next_step=f"validate_csv(csv_path={quoted(report.out)}), then plan_migration with it",
        )

    def text(self) -> str:
        lines = [
            f"{self.source}: {self.input_users:,} users -> {self.converted:,} keep their password, {self.reset:,} "
            f"must reset it, {self.skipped:,} skipped; {self.rows:,} rows written to {self.out_csv}."
        ]
        for outcome, reasons in self.reasons.items():
            if reasons:
                lines.append(f"{outcome}: " + ", ".join(f"{reason} {count:,}" for reason, count in reasons.items()))
        lines += [f"Warning: {warning}" for warning in self.warnings]
        if self.roles_dropped:
            lines.append("Role names left out: " + ", ".join(fence(item.name) for item in self.roles_dropped[:10]))
        lines.append(f"Next: {self.next_step}")
        return "\n".join(lines)


_CONVERSION_COUNTS = (
    "source", "input_users", "converted", "reset", "skipped", "reasons", "rows", "memberships", "organizations",
    "unproven_hash_types", "warnings",
)  # fmt: skip
