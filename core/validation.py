"""validate_csv(): check a CSV against every rule, optionally write a fixed copy and a JSON report.

The same streaming ``scan`` as planning, so ``validate`` and ``plan`` always agree on rows and issues.
The fixed copy keeps the header, the column order and the row numbers (blank rows stay blank); only
fixable issues change a cell, and the copy is scanned again so the report says what is left in it. The
report lists every issue. Printing is left to the front doors.
"""

from __future__ import annotations

import csv
import json
from contextlib import ExitStack
from pathlib import Path
from typing import IO

from pydantic import BaseModel, Field

from core.csvsource import CsvSource
from core.errors import OptionsError
from core.outfile import partial_path, private_output
from core.planner import IssueSummary, summarize_issues
from core.records import Issue, apply_fixes
from core.scan import scan

__all__ = ["ValidationReport", "validate_csv"]


class ValidationReport(BaseModel):
    """The outcome of validating a CSV."""

    csv_path: str
    rows: int = Field(description="Data rows (blank rows excluded).")
    blank_rows: int
    valid_rows: int
    invalid_rows: int
    users: int = Field(description="Distinct emails among valid rows.")
    memberships: int
    unknown_columns: list[str]
    issue_count: int
    error_count: int
    warning_count: int
    issues: list[IssueSummary] = Field(description="Issues grouped by rule, errors first.")
    fixed_rows: int = Field(description="Rows changed in the fixed copy.")
    fixed_csv: str | None = Field(description="Where the fixed copy was written.")
    fixed_error_count: int | None = Field(
        default=None, description="Errors left in the fixed copy (None: no fixed copy was asked for)."
    )
    report: str | None = Field(description="Where the full JSON report was written.")
    valid: bool = Field(description="No row has an error.")

    @property
    def exit_code(self) -> int:
        """0 when the file to import has no error: the fixed copy when one was written, else the file itself."""
        errors = self.error_count if self.fixed_error_count is None else self.fixed_error_count
        return 0 if errors == 0 else 1


class _FixedCopy:
    """Writes the fixed CSV row by row, keeping row numbers (blank rows are written back as blank)."""

    def __init__(self, handle: IO[str], source: CsvSource) -> None:
        self.writer = csv.writer(handle)
        self.writer.writerow(source.header)
        self.columns = source.columns
        self.next_row = 2
        self.fixed = 0

    def __call__(self, row: int, fields: list[str], issues: list[Issue] | None) -> None:
        while self.next_row < row:
            self.writer.writerow([])
            self.next_row += 1
        fixed = apply_fixes(fields, self.columns, issues) if issues else None
        if fixed is not None:
            self.fixed += 1
        self.writer.writerow(fields if fixed is None else fixed)
        self.next_row = row + 1


def _writable(path: Path, flag: str) -> None:
    if path.is_dir():
        raise OptionsError(f"{flag} is a directory, not a file: {path}")
    if not path.parent.exists():
        raise OptionsError(f"{flag}: the directory {path.parent} does not exist")


def validate_csv(
    path: Path,
    *,
    single_org: bool = False,
    require_membership: bool = False,
    fixed_csv: Path | None = None,
    report: Path | None = None,
    overwrite: bool = True,
) -> ValidationReport:
    """Validate ``path``; write the fixed copy to ``fixed_csv`` and every issue to ``report`` when given.

    ``single_org`` validates as if an organization option will be given. Both files are private (0600) and
    written through ``core.outfile.private_output``; an existing one is replaced only with ``overwrite``.
    Raises ``SourceError`` when the CSV is unusable and ``OptionsError`` when an output path cannot be
    written, exists (without ``overwrite``) or is the input itself.
    """
    source = CsvSource(path)
    for target, flag in ((fixed_csv, "--fixed-csv"), (report, "--report")):
        if target is not None:
            _writable(target, flag)
            if target.resolve() == source.path.resolve():
                raise OptionsError(f"{flag} must not overwrite the input CSV: {target}")
    with ExitStack() as outputs:
        fixer_handle = outputs.enter_context(private_output(fixed_csv, overwrite=overwrite)) if fixed_csv else None
        report_handle = outputs.enter_context(private_output(report, overwrite=overwrite)) if report else None
        fixer = _FixedCopy(fixer_handle, source) if fixer_handle else None
        first = [True]

        def write_issue(issue: Issue) -> None:
            assert report_handle is not None
            report_handle.write(("\n  " if first[0] else ",\n  ") + json.dumps(issue._asdict(), ensure_ascii=False))
            first[0] = False

        if report_handle:
            report_handle.write('{"issues": [')
        result = scan(
            source,
            single_org=single_org,
            require_membership=require_membership,
            on_row=fixer,
            on_issue=write_issue if report_handle else None,
        )
        outcome = ValidationReport(
            csv_path=str(path),
            rows=result.rows,
            blank_rows=result.blank_rows,
            valid_rows=result.valid_rows,
            invalid_rows=result.invalid_rows,
            users=result.users,
            memberships=result.memberships,
            unknown_columns=source.unknown_columns,
            issue_count=result.issue_count,
            error_count=result.error_count,
            warning_count=result.issue_count - result.error_count,
            issues=summarize_issues(result),
            fixed_rows=fixer.fixed if fixer else 0,
            fixed_csv=str(fixed_csv) if fixed_csv else None,
            report=str(report) if report else None,
            valid=result.error_count == 0,
        )
        if fixer_handle is not None and fixed_csv is not None:
            fixer_handle.close()
            # What is left in the copy decides whether it can be imported: scan it (still at its .partial
            # name until every output is complete), do not guess from the rules.
            copy = CsvSource(partial_path(fixed_csv))
            left = scan(copy, single_org=single_org, require_membership=require_membership)
            outcome = outcome.model_copy(update={"fixed_error_count": left.error_count})
        if report_handle:
            report_handle.write('\n],\n"summary": ' + outcome.model_dump_json() + "}\n")
        return outcome
