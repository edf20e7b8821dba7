"""Human text for the CLI: the boxed MIGRATION PLAN, validation summaries, error analyses, configuration errors.

Pure functions from core's pydantic results to strings, so the CLI only prints and tests read plain text.
``--json`` output does not come here: it is the model's own ``model_dump_json()``.
"""

from __future__ import annotations

import shlex
import time
from typing import TYPE_CHECKING

from core.analyze import ErrorAnalysis, ErrorGroup, Suggestion
from core.app import LARGE_IMPORT_ROWS
from core.engine import MigrationResult
from core.live import LiveCheck, rows_text
from core.options import MigrationOptions, flag_name
from core.orchestrator import Reopened
from core.planner import IssueSummary, MigrationPlan
from core.steps import Action, NextAction, run_step
from core.store import JobState
from core.validation import ValidationReport

if TYPE_CHECKING:
    from core.sources import ConvertReport

__all__ = [
    "LARGE_IMPORT_ROWS",
    "command_for",
    "configuration_errors",
    "execute_command",
    "render_analysis",
    "render_brief",
    "render_confirmation",
    "render_conversion",
    "render_issues",
    "render_jobs",
    "render_plan",
    "render_reopened",
    "render_result",
    "render_validation",
    "suggestion_text",
]

# -- next steps as commands -------------------------------------------------------------------------

# The command each action runs; core.steps.NextAction carries option names, spelled here as flags.
_COMMANDS = {
    Action.PLAN: "plan",
    Action.RUN: "execute",
    Action.FOLLOW: "status",
    Action.CHECK_LATER: "status",
    Action.RESUME: "resume",
    Action.ANALYZE: "analyze",
}


def command_for(step: NextAction) -> str:
    """The ``workos-migrate`` command line that takes ``step``: the job id first, then each argument as a flag.

    True is a bare flag, False is left out, floats are written short (``2.5``, ``50``). Raises ``ValueError``
    for an action no command takes (``execute`` of a kept plan, fixing the data, nothing; ``fix``,
    whose ``validate --auto-fix`` needs a name for the fixed copy).
    """
    command = _COMMANDS.get(step.action)
    if command is None:
        raise ValueError(f"no workos-migrate command takes the step {step.action.value!r}")
    parts = ["workos-migrate", command]
    job_id = step.arguments.get("job_id")
    if job_id:
        parts.append(str(job_id))
    for name, value in step.arguments.items():
        if name == "job_id" or value is False:
            continue
        if value is True:
            parts.append(flag_name(name))
        else:
            parts += [flag_name(name), f"{value:g}" if isinstance(value, float) else str(value)]
    return shlex.join(parts)


def execute_command(options: MigrationOptions) -> str:
    """The ``workos-migrate execute`` command that runs ``options``: the CSV plus every non-default option."""
    return command_for(run_step(options, why="execute the plan"))


def suggestion_text(suggestion: Suggestion) -> str:
    """A suggestion, followed by the command that takes it when there is one."""
    if suggestion.step is None:
        return suggestion.text
    return f"{suggestion.text}: {command_for(suggestion.step)}"


# Above this many rows an import asks for confirmation (the orchestrator document's threshold).

_BOX = (
    "╔════════════════════════════════════════════════════╗\n"
    "║              MIGRATION PLAN                        ║\n"
    "╚════════════════════════════════════════════════════╝"
)


def configuration_errors(problems: list[str]) -> str:
    """The ``❌ Configuration errors:`` block, one bullet per problem."""
    return "❌ Configuration errors:\n" + "\n".join(f"  • {problem}" for problem in problems)


def render_issues(issues: list[IssueSummary], total: int) -> list[str]:
    """One line per rule: mark, code, count, example rows, first message."""
    if not issues:
        return []
    lines = [f"Issues ({total:,}):"]
    for issue in issues:
        mark = "✗" if issue.severity == "error" else "!"
        rows = ", ".join(str(row) for row in issue.rows) + (", ..." if issue.count > len(issue.rows) else "")
        fixable = ", auto-fixable" if issue.fixable else ""
        lines.append(f"  {mark} {issue.code} ({issue.severity}{fixable}) x{issue.count:,}, rows {rows}")
        lines.append(f"      {issue.message}")
        lines.append(f"      fix: {issue.fix}")
    return lines


def _size(count: int) -> str:
    if count < 1000:
        return f"{count} bytes"
    value, unit = count / 1000, 0
    while value >= 1000 and unit < 2:
        value, unit = value / 1000, unit + 1
    return f"{value:.1f} {('KB', 'MB', 'GB')[unit]}"


def render_plan(plan: MigrationPlan) -> str:
    """The document's boxed MIGRATION PLAN, with this tool's fuller counts and its estimate model."""
    calls = plan.api_calls
    hashes = ", ".join(f"{kind} {count:,}" for kind, count in sorted(plan.hash_types.items())) or "none"
    key = {"test": "test key", "live": "LIVE key", "none": "no API key set; none is needed to plan"}[plan.target.key]
    call_parts = [f"{calls.user_creates:,} user creates", f"{calls.membership_creates:,} memberships"]
    if calls.totp_enrollments:
        call_parts.append(f"{calls.totp_enrollments:,} TOTP enrollments")
    if calls.organization_lookups:
        call_parts.append(f"{calls.organization_lookups:,} organization lookups")
    if calls.organization_creates_max:
        call_parts.append(f"up to {calls.organization_creates_max:,} organization creates")
    several = ""
    if plan.users_in_several_orgs:
        who = "user" if plan.users_in_several_orgs == 1 else "users"
        several = f" ({plan.users_in_several_orgs:,} {who} in several organizations)"
    lines = [
        _BOX,
        "",
        f"CSV:              {plan.csv_path} ({_size(plan.csv_bytes)}, sha256 {plan.csv_sha256[:12]})",
        f"Total rows:       {plan.rows:,} ({plan.valid_rows:,} valid, {plan.invalid_rows:,} invalid)",
        f"Users:            {plan.users:,}",
        f"Memberships:      {plan.memberships:,}{several}",
        f"Organizations:    {plan.organizations:,}",
        f"Mode:             {plan.mode}",
        f"Password hashes:  {hashes}",
        f"API calls:        {calls.total:,} ({', '.join(call_parts)})",
        f"Target:           {plan.target.base_url} ({key})",
        f"Estimated time:   {_estimate(plan, long=True)}",
        "",
        "Configuration:",
        f"  Workers:        {plan.workers}",
        f"  Concurrency:    {plan.concurrency} per worker",
        f"  Rate limit:     {plan.rate_limit:g} writes/s",
        f"  Chunks:         {plan.chunks:,} of {plan.chunk_size:,} rows",
        f"  Org resolution: {plan.org_resolution}",
    ]
    if plan.live is not None:
        lines += ["", *_live_lines(plan.live)]
    if plan.warnings:
        lines += ["", "⚠️  Warnings:", *(f"  • {warning}" for warning in plan.warnings)]
    issues = render_issues(plan.issues, plan.issue_count)
    if issues:
        lines += ["", *issues]
    if plan.recommendations:
        lines += ["", "Recommendations:", *(f"  • {item}" for item in plan.recommendations)]
    lines.append("")
    if plan.valid:
        lines += [
            "✓ Plan is valid",
            "",
            f"Ready to import {plan.users:,} users ({plan.rows:,} rows)",
            f"To execute: {execute_command(plan.options)}",
        ]
    else:
        lines += ["❌ Plan is invalid:", *(f"  • {error}" for error in plan.errors)]
        rows = "the rows above (workos-migrate validate --auto-fix fixes some)" if plan.error_count else ""
        options = "the options" if plan.blocking_errors else ""
        lines.append(f"Fix {' and '.join(part for part in (options, rows) if part)}, then plan again.")
    lines.append(f"Plan hash: {plan.plan_hash}")
    return "\n".join(lines)


def _live_lines(live: LiveCheck) -> list[str]:
    """What the live check found: the writes it leaves, and why rows would fail."""
    if not live.key_valid:
        return ["Live check:       the API key was rejected by WorkOS: nothing could be checked"]
    lines = [
        f"Live check:       {live.requests:,} reads ({live.users_counted}), nothing written",
        f"  Organizations:  {live.organizations_existing:,} exist, {live.organizations_to_create:,} to create,"
        f" {live.organizations_failing:,} cannot work",
        f"  Users:          {live.users_to_create:,} to create, {live.users_to_adopt:,} to adopt,"
        f" {live.users_to_update:,} to update, {live.users_to_skip:,} to skip",
        f"  Memberships:    {live.memberships_to_create:,} to create, {live.memberships_present:,} present"
        f" ({live.memberships_kept_with_other_roles:,} of them kept with other roles),"
        f" {live.memberships_to_update:,} roles to update",
        f"  Writes left:    {live.writes:,}",
    ]
    for verdict in live.organizations:
        if verdict.status.value not in ("exists", "will_be_created"):
            rows = rows_text(verdict.first_rows, verdict.rows)
            lines.append(f"  ✗ {verdict.message} ({verdict.rows:,} rows: {rows})")
    for issue in live.issues:
        lines.append(f"  ✗ {issue.code} x{issue.count:,} (rows {rows_text(issue.rows, issue.count)}): {issue.message}")
    return lines


def render_validation(report: ValidationReport) -> str:
    """Counts, grouped issues, where the fixed copy and report went, and the verdict."""
    blank = f", {report.blank_rows:,} blank" if report.blank_rows else ""
    lines = [
        f"Validated {report.csv_path}: {report.rows:,} rows ({report.valid_rows:,} valid, "
        f"{report.invalid_rows:,} invalid{blank}), {report.users:,} users, {report.memberships:,} memberships"
    ]
    if report.unknown_columns:
        lines.append("Unknown columns are ignored: " + ", ".join(report.unknown_columns))
    issues = render_issues(report.issues, report.issue_count)
    if issues:
        lines += ["", *issues, ""]
    if report.fixed_csv:
        lines.append(f"Fixed copy: {report.fixed_csv} ({report.fixed_rows:,} rows changed)")
    if report.report:
        lines.append(f"Report: {report.report}")
    if report.valid:
        lines.append(f"✓ No errors ({report.warning_count:,} warnings)")
    else:
        lines.append(f"❌ {report.error_count:,} errors in {report.invalid_rows:,} rows")
    if report.fixed_error_count == 0:
        lines.append(f"✓ The fixed copy has no errors: import {report.fixed_csv}")
    elif report.fixed_error_count is not None:
        lines.append(f"❌ The fixed copy still has {report.fixed_error_count:,} errors: fix them by hand")
    return "\n".join(lines)


def render_conversion(report: ConvertReport) -> str:
    """Outcome counts with their reasons, warnings, where the files went and the next command."""
    lines = [
        f"Converted {report.source} export: {report.input_users:,} users -> {report.converted:,} with their "
        f"password, {report.reset:,} to reset, {report.skipped:,} skipped",
    ]
    for outcome in ("converted", "reset", "skipped"):
        if report.reasons.get(outcome):
            reasons = ", ".join(f"{reason} {count:,}" for reason, count in report.reasons[outcome].items())
            lines.append(f"  {outcome}: {reasons}")
    lines.append(
        f"CSV: {report.out} ({report.rows:,} rows, {report.memberships:,} memberships in "
        f"{report.organizations:,} organizations)"
    )
    if report.reset_list:
        lines.append(f"Reset list: {report.reset_list}")
    if report.report:
        lines.append(f"Report: {report.report}")
    if report.warnings:
        lines += ["", "Warnings:", *(f"  ⚠️  {warning}" for warning in report.warnings)]
    lines += ["", f"Next: workos-migrate validate --csv {report.out}, then workos-migrate plan --csv {report.out}"]
    return "\n".join(lines)


def _estimate(plan: MigrationPlan, *, long: bool) -> str:
    """The estimate and what bounds it; a plan with no call to make says so instead."""
    timing = plan.estimate
    if timing.bottleneck == "none":
        return "nothing to send (no API call needed)"
    if long:
        return f"{timing.human} (bottleneck: {timing.bottleneck}, {timing.bottleneck_detail})"
    return f"{timing.human} (bound by {timing.bottleneck})"


def render_brief(plan: MigrationPlan) -> str:
    """The few lines shown before an import starts."""
    key = {"test": "test key", "live": "LIVE key", "none": "no API key set"}[plan.target.key]
    target = f"{plan.target.base_url} ({key})"
    return "\n".join(
        [
            f"CSV:          {plan.csv_path}",
            f"Rows:         {plan.rows:,} ({plan.valid_rows:,} valid, {plan.invalid_rows:,} invalid: recorded as"
            " failures, never sent)",
            f"Users:        {plan.users:,}   Memberships: {plan.memberships:,}   Organizations: {plan.organizations:,}",
            f"Mode:         {plan.mode}",
            f"Target:       {target}",
            f"Estimate:     {_estimate(plan, long=False)}",
        ]
    )


def render_confirmation(plan: MigrationPlan) -> str:
    """Why the import asks before it starts: size, live key, duration."""
    lines = []
    if plan.rows > LARGE_IMPORT_ROWS:
        lines.append(f"⚠️  Large import detected: {plan.rows:,} rows")
    if plan.target.key == "live":
        lines.append(f"⚠️  Target is a LIVE environment: {plan.target.base_url}")
    lines.append(f"Estimated duration: {plan.estimate.human}")
    return "\n".join(lines)


_STATE_MARKS = {
    JobState.COMPLETED: "✓ Migration completed",
    JobState.COMPLETED_WITH_ERRORS: "⚠️  Migration completed with failed rows",
    JobState.FAILED: "✗ Migration stopped by a fatal error",
    JobState.CANCELLED: "⏸  Migration cancelled",
    JobState.INTERRUPTED: "⏸  Migration interrupted",
    JobState.RUNNING: "… Migration running",
    JobState.CREATED: "… Migration not started",
    JobState.PREPARING: "… Migration being prepared",
    JobState.DRY_RUN: "✓ Dry run (nothing was sent)",
}


def render_result(result: MigrationResult) -> str:
    """The final summary of a run (also ``status``)."""
    job = (
        "none recorded (a dry run writes no job store)" if result.dry_run else f"{result.job_id} ({result.state.value})"
    )
    lines = [
        _STATE_MARKS[result.state],
        f"Job:          {job}",
        f"Rows:         {result.total_rows:,} total, {result.succeeded:,} succeeded, {result.skipped:,} skipped,"
        f" {result.failed:,} failed ({result.invalid:,} invalid), {result.pending:,} pending",
    ]
    if not result.dry_run:
        lines += [
            f"Users:        {result.users_created:,} created, {result.users_adopted:,} adopted,"
            f" {result.users_updated:,} updated",
            f"Memberships:  {result.memberships_created:,} created, {result.memberships_existed:,} already present"
            + (f", {result.memberships_updated:,} roles updated" if result.memberships_updated else ""),
        ]
        if result.totp_enrolled:
            lines.append(f"TOTP:         {result.totp_enrolled:,} enrolled")
        lines += [
            f"Retries:      {result.retries:,}   429s: {result.rate_limited:,}",
            f"Duration:     {result.duration_seconds:,.1f} s ({result.rows_per_second:,.1f} rows/s)",
        ]
        if result.circuit == "open" or result.outage_seconds:
            lines.append(f"WorkOS down:  {outage_text(result)}")
    if result.last_error:
        lines.append(f"Error:        {result.last_error}")
    if result.failed:
        where = result.errors_out or result.errors_file
        if where:
            lines.append(f"Errors:       {where}")
        if result.analyze_step:
            lines.append(f"Analyze:      {command_for(result.analyze_step)}")
    if result.resume_step:
        lines.append(f"Resume:       {command_for(result.resume_step)}")
    return "\n".join(lines)


def outage_text(result: MigrationResult) -> str:
    """The job's WorkOS outage: open now (since when) or how long it lasted; no row fails for it."""
    total = f"{result.outage_seconds:,.1f} s in all"
    if result.circuit == "open" and result.outage_since is not None:
        since = time.strftime("%H:%M:%S UTC", time.gmtime(result.outage_since))
        return f"now (circuit open since {since}: every request waits for WorkOS), {total}"
    return f"{total} (circuit breaker: requests waited, no row failed for it)"


def render_reopened(reopened: Reopened) -> str:
    """Which job a resume continues, why that one, and the options it changed."""
    job = reopened.job
    lines = [f"Resuming job {job.id} ({job.state.value}, {job.total_rows:,} rows, {job.csv_path})"]
    if reopened.newest:
        newer = ", ".join(f"{other.id} {other.state.value}" for other in reopened.passed_over[:3])
        more = f" and {len(reopened.passed_over) - 3:,} more" if len(reopened.passed_over) > 3 else ""
        lines[0] += ": the newest job that can be resumed" + (f" (newer: {newer}{more})" if newer else "")
    if reopened.changed:
        lines.append("Changed from now on: " + ", ".join(reopened.changed))
    return "\n".join(lines)


def render_jobs(results: list[MigrationResult]) -> str:
    """One line per job, newest first."""
    if not results:
        return "No jobs."
    lines = [f"{'JOB':<34} {'STATE':<22} {'ROWS':>9} {'DONE':>9} {'FAILED':>8} {'PENDING':>8}"]
    for r in results:
        lines.append(
            f"{r.job_id:<34} {r.state.value:<22} {r.total_rows:>9,} {r.succeeded + r.skipped:>9,}"
            f" {r.failed:>8,} {r.pending:>8,}"
        )
    return "\n".join(lines)


_TOP_GROUPS = 8
_MARKS = {"warning": "↻", "error": "✗", "info": "○"}


def _render_group(group: ErrorGroup) -> list[str]:
    status = f" · {group.status}" if group.status is not None else ""
    subs = f" ({', '.join(group.sub_codes)})" if group.sub_codes else ""
    kind = "retryable" if group.retryable else group.category
    rows = ", ".join(f"{example.row} {example.email or '(no email)'}" for example in group.examples)
    lines = [
        f"  {_MARKS[group.severity]} {group.count:,} ({group.share:.1%})  {group.phase}{status} · {group.code}{subs}"
        f"  [{kind}]"
    ]
    if group.message:
        lines.append(f"      {group.message}")
    lines += [f"      why: {group.reason}", f"      rows: {rows}"]
    if not group.retryable:
        lines.append(f"      fix: {group.suggestion}")
    return lines


def render_analysis(analysis: ErrorAnalysis) -> str:
    """The top groups, the retryable share, suggestions, warnings, the retry file and the command to re-run."""
    job = f"job {analysis.job_id}" if analysis.job_id else "unknown job"
    state = f" ({analysis.job_state})" if analysis.job_state else ""
    lines = [f"Error analysis of {job}{state}: {analysis.failures:,} failed rows"]
    if analysis.errors_file:
        skipped = f" ({analysis.bad_lines:,} unreadable lines skipped)" if analysis.bad_lines else ""
        lines.append(f"  from {analysis.errors_file}{skipped}")
    if analysis.failures:
        phases = ", ".join(f"{phase} {count:,}" for phase, count in analysis.by_phase.items())
        lines += [
            f"Retryable:   {analysis.retryable:,} of {analysis.failures:,} ({analysis.retryable_share:.0%})",
            f"By phase:    {phases}",
            "",
            "Top causes (↻ retryable, ✗ needs a fix, ○ policy):",
        ]
        for group in analysis.groups[:_TOP_GROUPS]:
            lines += _render_group(group)
        hidden = len(analysis.groups) - _TOP_GROUPS
        if hidden > 0:
            lines.append(f"  ... and {hidden:,} more groups (--json or --report shows all)")
    if analysis.suggestions:
        lines += ["", "Suggestions:", *(f"  • {suggestion_text(item)}" for item in analysis.suggestions)]
    if analysis.warnings:
        lines += ["", "⚠️  Warnings:", *(f"  • {item}" for item in analysis.warnings)]
    lines.append("")
    retry = analysis.retry_file
    if retry is not None:
        extra = f", {retry.non_retryable_rows:,} to fix first" if retry.non_retryable_rows else ""
        lines.append(f"Retry file:  {retry.path} ({retry.retryable_rows:,} retryable rows{extra})")
    if analysis.rerun_step:
        lines.append(f"To re-run:   {command_for(analysis.rerun_step)}")
    elif not analysis.failures and not analysis.bad_lines and not analysis.pending_rows:
        lines.append("Nothing failed: there is nothing to retry.")
    elif analysis.failures and analysis.exit_code == 1:
        lines.append("Nothing retryable: see the fixes above.")
    return "\n".join(lines)
