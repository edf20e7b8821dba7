"""Terminal text for undo and verify: the preview, the result, the comparison. Data in, text out.

Row-derived values (emails, names) are printed with ``repr``-style quoting, so a hostile value cannot pass
for the tool's own words.
"""

from __future__ import annotations

from core.store import UndoKind, UndoState
from core.undo import UndoExample, UndoPreview, UndoResult, kept_always_text
from core.verify import DiscrepancyKind, VerifyReport

__all__ = ["render_undo_preview", "render_undo_result", "render_verify"]

_PLURAL = {
    UndoKind.MEMBERSHIP: "memberships",
    UndoKind.FACTOR: "TOTP factors",
    UndoKind.USER: "users",
    UndoKind.ORGANIZATION: "organizations",
}


def _example(example: UndoExample) -> str:
    where = f"row {example.row}, " if example.row is not None else ""
    what = f"{example.kind.value} {example.object_id or '(to be found)'}"
    reason = f": {example.reason.replace('_', ' ')}" if example.reason else ""
    label = "name" if example.kind is UndoKind.ORGANIZATION else "email"
    return f"    {what} ({where}{label} {example.email!r}){reason}"


def render_undo_preview(preview: UndoPreview, *, live: bool) -> str:
    """What undo would delete and keep, and why."""
    environment = "LIVE (production)" if live else "test"
    lines = [f"Undo of job {preview.job_id} in the {environment} environment at {preview.base_url}", "", "Deletes:"]
    lines += [f"  {preview.delete.get(kind, 0):>9,}  {_PLURAL[kind]} the job created" for kind in _PLURAL]
    lines.append("Keeps (never touched):")
    lines += [f"  {count:>9,}  {kept_always_text(key)}" for key, count in preview.kept.items()] or ["  nothing"]
    users = preview.delete.get(UndoKind.USER, 0)
    if users:
        lines.append(f"Checked {preview.users_checked:,} of the {users:,} users the job created:")
        lines.append(f"  {preview.users_changed:>9,}  changed since the import: kept unless --include-changed")
        lines.append(f"  {preview.users_with_other_memberships:>9,}  with memberships the job did not create: kept")
        if preview.unchecked_users:
            lines.append(f"  the other {preview.unchecked_users:,} are checked one by one as undo runs")
    lines.append("Organizations the job created are deleted only once they are empty.")
    if preview.to_delete:
        lines += ["", "First to delete:", *(_example(example) for example in preview.to_delete)]
    if preview.to_keep:
        lines += ["", "First kept:", *(_example(example) for example in preview.to_keep)]
    if preview.previous is not None:
        lines += ["", f"An earlier undo of this job is {preview.previous.state.value}: undo goes on from where it is."]
    return "\n".join(lines)


def render_undo_result(result: UndoResult) -> str:
    """What an undo did."""
    icon = {UndoState.COMPLETED: "✅", UndoState.FAILED: "❌"}.get(result.state, "⚠️")
    lines = [f"{icon} Undo of job {result.job_id}: {result.state.value.replace('_', ' ')}"]
    for kind in _PLURAL:
        deleted, absent = result.deleted.get(kind, 0), result.absent.get(kind, 0)
        if deleted or absent:
            gone = f" ({absent:,} were already gone)" if absent else ""
            lines.append(f"  Deleted {deleted:,} {_PLURAL[kind]}{gone}")
    for reason, count in result.kept.items():
        lines.append(f"  Kept {count:,}: {reason.replace('_', ' ')}")
    if result.failed:
        lines.append(f"  Failed {result.failed:,}: run undo again to retry them")
    if result.pending:
        lines.append(f"  Pending {result.pending:,}: run undo again to go on")
    if result.last_error:
        lines.append(f"  Stopped: {result.last_error}")
    if result.kept_examples:
        lines += ["  First kept:", *(_example(example) for example in result.kept_examples)]
    if result.failed_examples:
        lines += ["  First failed:", *(_example(example) for example in result.failed_examples)]
    return "\n".join(lines)


_KIND_TEXT = {
    DiscrepancyKind.USER_MISSING: "users missing",
    DiscrepancyKind.EXTERNAL_ID_DIFFERS: "users whose external id differs",
    DiscrepancyKind.NAME_DIFFERS: "users whose name differs",
    DiscrepancyKind.ORGANIZATION_MISSING: "organizations missing (or ambiguous)",
    DiscrepancyKind.MEMBERSHIP_MISSING: "memberships missing (or not active)",
    DiscrepancyKind.ROLES_DIFFER: "memberships with other roles",
    DiscrepancyKind.FAILED_BUT_PRESENT: "rows recorded failed that are present",
}


def render_verify(report: VerifyReport) -> str:
    """How the environment compares with the file."""
    what = f"job {report.job_id}" if report.job_id else repr(report.csv_path)
    icon = "✅" if report.matches else "❌"
    verdict = "matches the file" if report.discrepancies == 0 else "does not match the file"
    lines = [
        f"{icon} The environment at {report.base_url} {verdict} ({what})",
        f"  {report.rows:,} rows: {report.checked:,} checked, {report.matching:,} as the file says, "
        f"{report.invalid:,} invalid (not compared)",
    ]
    if report.pending:
        lines.append(f"  {report.pending:,} rows the job has not processed yet (compared all the same)")
    for kind, count in report.by_kind.items():
        lines.append(f"  {count:>9,}  {_KIND_TEXT[kind]}")
    if report.recorded_done_missing:
        lines.append(
            f"  {report.recorded_done_missing:,} of the rows with something missing were recorded done by the job"
        )
    if report.examples:
        lines.append("  First discrepancies:")
        for d in report.examples:
            where = f" in {d.organization!r}" if d.organization else ""
            lines.append(
                f"    row {d.row} {d.email!r}{where}: {d.kind.value}: expected {d.expected!r}, found {d.found!r}"
            )
    if report.invalid_examples:
        lines.append("  First invalid rows: " + ", ".join(f"row {i.row} ({i.code})" for i in report.invalid_examples))
    if report.canaries is not None:
        lines.append(
            f"  Login canaries: proven {', '.join(report.canaries.proven) or 'none'}; "
            f"failed {', '.join(report.canaries.failed) or 'none'}"
        )
        for result in report.canaries.results:
            lines.append(
                f"    {result.email!r} ({result.hash_type or 'no password'}): {result.outcome.value}: {result.reason}"
            )
    for label, path in (("Discrepancies", report.discrepancies_file), ("Rows to import again", report.missing_csv)):
        if path:
            lines.append(f"  {label}: {path}")
    lines.append(f"  {report.reads:,} reads in {report.duration_seconds:.1f} s")
    return "\n".join(lines)
