"""Human text for the CLI: the boxed MIGRATION PLAN, validation summaries, configuration errors.

Pure functions from core's pydantic results to strings, so the CLI only prints and tests read plain text.
``--json`` output does not come here: it is the model's own ``model_dump_json()``.
"""

from __future__ import annotations

import shlex

from core.options import MigrationOptions, flag_name
from core.planner import IssueSummary, MigrationPlan
from core.validation import ValidationReport

__all__ = ["configuration_errors", "execute_command", "render_issues", "render_plan", "render_validation"]

_BOX = (
    "╔════════════════════════════════════════════════════╗\n"
    "║              MIGRATION PLAN                        ║\n"
    "╚════════════════════════════════════════════════════╝"
)
_RUN_CONTROL = frozenset({"csv_path", "quiet", "yes", "base_url"})


def configuration_errors(problems: list[str]) -> str:
    """The ``❌ Configuration errors:`` block, one bullet per problem."""
    return "❌ Configuration errors:\n" + "\n".join(f"  • {problem}" for problem in problems)


def execute_command(options: MigrationOptions) -> str:
    """The ``workos-migrate execute`` command that runs this plan: the CSV plus every non-default option."""
    parts = ["workos-migrate", "execute", "--csv", str(options.csv_path)]
    defaults = MigrationOptions.model_construct()
    for name in MigrationOptions.model_fields:
        if name in _RUN_CONTROL:
            continue
        value = getattr(options, name)
        if value == getattr(defaults, name, None) or value is None or value is False:
            continue
        if value is True:
            parts.append(flag_name(name))
        else:
            parts += [flag_name(name), f"{value:g}" if isinstance(value, float) else str(value)]
    return shlex.join(parts)


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
        f"Estimated time:   {plan.estimate.human} (bottleneck: {plan.estimate.bottleneck}, "
        f"{plan.estimate.bottleneck_detail})",
        "",
        "Configuration:",
        f"  Workers:        {plan.workers}",
        f"  Concurrency:    {plan.concurrency} per worker",
        f"  Rate limit:     {plan.rate_limit:g} writes/s",
        f"  Chunks:         {plan.chunks:,} of {plan.chunk_size:,} rows",
        f"  Org resolution: {plan.org_resolution}",
    ]
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
        lines.append("Fix the rows above (workos-migrate validate --auto-fix fixes some), then plan again.")
    lines.append(f"Plan hash: {plan.plan_hash}")
    return "\n".join(lines)


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
    return "\n".join(lines)
