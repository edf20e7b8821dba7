"""Error analysis: from a run's failures to groups, suggestions, a retry file and the command to re-run.

``analyze_errors`` streams the failed rows of a job's ledger (by job id) or of an errors file (JSONL, or
CSV by suffix; bad lines are skipped, counted and warned about, never fatal), groups them by phase, HTTP
status, code, sub-codes and normalised message, and classifies each group with ``failures.classify``.
Memory holds the groups (at most ``MAX_GROUPS``) and 8 bytes per row to retry, nothing else per row, so a
million-line file fits in a few megabytes. With ``retry_csv`` it rebuilds those rows from the job's
source CSV (``retrycsv``) and gives the exact command that re-runs them in the job's organization context.
The result is an ``ErrorAnalysis`` whose ``exit_code`` follows the tool this replaces: 0 when there is
something to retry or nothing failed, 1 when failures remain that no retry fixes, 2 when the input was
unusable. The retry file exists afterwards exactly when there are rows to retry. Printing is left to the
front doors.
"""

from __future__ import annotations

import logging
from collections import Counter
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from core.errorlog import iter_records, record_cause, record_row
from core.errors import JobStateError, OptionsError, SourceError
from core.failures import RERUN_SUGGESTION, Category, Severity, Verdict, classify, normalise_message
from core.options import output_problem
from core.outfile import private_output
from core.retrycsv import RowSet, email_check, rerun_step, write_retry_csv
from core.steps import Action, NextAction, job_arguments, resume_step
from core.store import STORE_FILENAME, Job, JobStore

__all__ = [
    "DEFAULT_CHECKPOINT_DIR",
    "MAX_GROUPS",
    "ErrorAnalysis",
    "ErrorGroup",
    "ExampleRow",
    "RetryFile",
    "Suggestion",
    "analyze_errors",
]

logger = logging.getLogger(__name__)

DEFAULT_CHECKPOINT_DIR = Path(".workos-checkpoints")
MAX_GROUPS = 1000
"""Distinct groups kept; failures with yet other causes fold into two ``(other causes)`` groups (retryable or not)."""
_EXAMPLES = 3
_RAW_CACHE = 20_000
_BAD_LINES_LISTED = 5
_SUGGESTIONS = 10


class ExampleRow(BaseModel):
    """A failed row, by number and email only."""

    row: int = Field(description="Row number in the source CSV (the header is row 1).")
    email: str | None


class ErrorGroup(BaseModel):
    """Failures that share a phase, status, code, sub-codes and normalised message."""

    phase: str = Field(description="organization, user, membership, role, totp or validation.")
    status: int | None = Field(description="HTTP status WorkOS answered, when there was one.")
    code: str = Field(description="WorkOS code or sub-code, validation rule code, or the engine's own code.")
    sub_codes: list[str]
    message: str = Field(description="The message with emails, ids, quoted values and numbers masked.")
    count: int
    share: float = Field(description="Fraction of all failures in this group (0 to 1).")
    severity: Severity = Field(description="error: stays out until changed; warning: a re-run imports it; info.")
    category: Category = Field(description="transient, data, configuration or policy: how to act.")
    retryable: bool = Field(description="A re-run of these rows, unchanged, is expected to import them.")
    reason: str = Field(description="Why they failed and why a re-run will or will not fix them.")
    suggestion: str = Field(description="What to do about them.")
    examples: list[ExampleRow] = Field(description=f"Up to {_EXAMPLES} rows of this group.")


class Suggestion(BaseModel):
    """What to do about some failures: advice, and the step that does it when there is one (data, not CLI text)."""

    text: str
    step: NextAction | None = None


class RetryFile(BaseModel):
    """The retry CSV that was written."""

    path: str
    source_csv: str = Field(description="The CSV the rows were copied from.")
    rows: int = Field(description="Rows written.")
    retryable_rows: int
    non_retryable_rows: int = Field(description="Rows added by --include-non-retryable (fix them before re-running).")


class ErrorAnalysis(BaseModel):
    """What failed, what a re-run fixes, what to change, and how to re-run."""

    job_id: str | None
    job_state: str | None = Field(description="The job's state, when its record was found.")
    errors_file: str | None = Field(description="The errors file analysed (None: the job's ledger).")
    source_csv: str | None = Field(description="The CSV the job ran on, when known.")
    failures: int = Field(description="Failed rows analysed.")
    retryable: int
    not_retryable: int
    retryable_share: float = Field(description="retryable / failures (0 to 1).")
    by_phase: dict[str, int]
    by_category: dict[str, int]
    bad_lines: int = Field(description="Lines of the errors file skipped as unreadable.")
    pending_rows: int = Field(description="Rows of the job without any outcome yet (resume the job for them).")
    groups: list[ErrorGroup] = Field(description="Largest first.")
    suggestions: list[Suggestion]
    retry_file: RetryFile | None
    rerun_step: NextAction | None = Field(description="The import that re-runs the retry file.")
    warnings: list[str]
    exit_code: int = Field(
        description="0: something to retry, or nothing failed; 1: failures, none retryable; 2: unusable input."
    )


@dataclass(slots=True)
class _Group:
    phase: str
    status: int | None
    code: str
    sub_codes: tuple[str, ...]
    message: str
    verdict: Verdict
    retryable: bool
    count: int = 0
    examples: list[tuple[int, str | None]] = field(default_factory=list)


_RawKey = tuple[str, int | None, str, tuple[str, ...], str]
_OTHER_CAUSES = "(other causes)"
_MESSAGE_CHARS = 300


class _Tally:
    """Counts failures into groups and keeps the rows to retry (and the others), when a retry file is asked for."""

    def __init__(self, *, keep_rows: bool, keep_others: bool) -> None:
        self.groups: dict[_RawKey, _Group] = {}
        self.retry: RowSet | None = RowSet() if keep_rows else None
        self.others: RowSet | None = RowSet() if keep_rows and keep_others else None
        self._by_raw: dict[_RawKey, _Group] = {}

    @property
    def failures(self) -> int:
        return sum(group.count for group in self.groups.values())

    @property
    def retryable(self) -> int:
        return sum(group.count for group in self.groups.values() if group.retryable)

    def group(
        self,
        phase: str,
        status: int | None,
        code: str,
        sub_codes: tuple[str, ...],
        message: str,
        retryable: bool | None,
    ) -> _Group:
        """The group of a failure with this cause (created and classified on first sight).

        Validation failures group by rule alone: their messages name the row and its values, so they would
        otherwise make one group per row; the group shows the first one's message, normalised.
        """
        raw = (phase, status, code, sub_codes, "" if phase == "validation" else message)
        found = self._by_raw.get(raw)
        if found is None:
            found = self._new_group(raw, message, retryable)
            if len(self._by_raw) >= _RAW_CACHE:
                self._by_raw.clear()
            self._by_raw[raw] = found
        return found

    def count(self, group: _Group, row: int, email: str | None) -> None:
        """Count one failed row in ``group``."""
        group.count += 1
        if len(group.examples) < _EXAMPLES:
            group.examples.append((row, str(email) if email else None))
        rows = self.retry if group.retryable else self.others
        if rows is not None:
            rows.add(row, email_check(email))

    def _new_group(self, raw: _RawKey, message: str, retryable: bool | None) -> _Group:
        phase, status, code, sub_codes, _ = raw
        shown = normalise_message(message[: 4 * _MESSAGE_CHARS])[:_MESSAGE_CHARS]
        key = raw if phase == "validation" else (phase, status, code, sub_codes, shown)
        group = self.groups.get(key)
        if group is not None:
            return group
        verdict = classify(phase, status, code, sub_codes, retryable)
        if len(self.groups) >= MAX_GROUPS:
            # Past the cap every new cause lands in one of two catch-all groups, so memory stays bounded.
            verdict = _OTHER_RETRYABLE if verdict.retryable else _OTHER_NOT_RETRYABLE
            phase, status, code, sub_codes, shown = key = ("(other)", None, _OTHER_CAUSES, (), verdict.reason)
            group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = _Group(phase, status, code, sub_codes, shown, verdict, verdict.retryable)
        return group


_OTHER_RETRYABLE = Verdict(
    True,
    "transient",
    f"more than {MAX_GROUPS} distinct causes; each of these was classified retryable",
    RERUN_SUGGESTION,
)
_OTHER_NOT_RETRYABLE = Verdict(
    False,
    "data",
    f"more than {MAX_GROUPS} distinct causes; each of these needs a change",
    "Read these rows in the errors file (the groups above cover the most frequent causes).",
)


@dataclass(slots=True)
class _BadLines:
    """Counts skipped lines and keeps the first few reasons for the warnings."""

    count: int = 0
    listed: list[str] = field(default_factory=list)

    def add(self, line: int, why: str) -> None:
        self.count += 1
        if len(self.listed) < _BAD_LINES_LISTED:
            self.listed.append(f"line {line}: {why}")
            logger.warning("errors file line %d skipped: %s", line, why)

    def warnings(self, path: Path) -> list[str]:
        if not self.count:
            return []
        more = f"; and {self.count - len(self.listed):,} more" if self.count > len(self.listed) else ""
        return [f"{self.count:,} unreadable lines of {path} were skipped ({'; '.join(self.listed)}{more})"]


def analyze_errors(
    job_id: str | None = None,
    *,
    errors_file: Path | None = None,
    checkpoint_dir: Path | None = None,
    source_csv: Path | None = None,
    retry_csv: Path | None = None,
    include_non_retryable: bool = False,
    report: Path | None = None,
    overwrite: bool = True,
) -> ErrorAnalysis:
    """Analyse the failures of a job (``job_id``; the latest job when neither it nor ``errors_file`` is given)
    or of an ``errors_file``, optionally writing the retry CSV and the JSON report.

    With an errors file the job is looked up by the ``job_id`` its records carry (or ``job_id``, which then
    wins), in ``checkpoint_dir``, else ``.workos-checkpoints``, else the directory above the file (where the
    job's own ``errors.jsonl`` lives). ``source_csv`` replaces the job's CSV path (a moved file; needed when
    the job's record is not found). The retry CSV and the report are private (0600); an existing one is
    replaced only with ``overwrite``. Raises ``OptionsError`` for unusable arguments (an existing output
    without ``overwrite`` included), ``JobStateError`` for an
    unknown job, ``StoreError`` for an unreadable store, and ``SourceError`` when a file is missing or the
    source CSV is not the one the job ran on (then no retry file is written).
    """
    _check_outputs(retry_csv=retry_csv, report=report, inputs=(errors_file, source_csv))
    tally = _Tally(keep_rows=retry_csv is not None, keep_others=include_non_retryable)
    bad = _BadLines()
    warnings: list[str] = []
    found: tuple[Job, int] | None
    if errors_file is not None:
        if not errors_file.is_file():
            raise SourceError(f"errors file not found: {errors_file}")
        job_id = _read_errors_file(errors_file, tally, bad, job_id=job_id, warnings=warnings)
        found = _find_job(job_id, errors_file, checkpoint_dir)
        warnings[:0] = bad.warnings(errors_file)
        if found is None and job_id is not None:
            warnings.append(
                f"job {job_id!r} was not found (looked in {_where(errors_file, checkpoint_dir)}): its source CSV and "
                "organization options are unknown; pass --checkpoint-dir, or --csv for the retry file"
            )
    else:
        found = _read_ledger(job_id, checkpoint_dir or DEFAULT_CHECKPOINT_DIR, tally)
    job, pending = found if found is not None else (None, 0)
    if job is not None:
        _job_warnings(job, pending, warnings)
    retry_file, command = _retry(tally, job, source_csv, retry_csv, warnings, overwrite=overwrite)
    analysis = _result(tally, bad, job, job_id, errors_file, source_csv, pending, retry_file, command, warnings)
    if report is not None:
        with private_output(report, overwrite=overwrite) as handle:
            handle.write(analysis.model_dump_json(indent=2) + "\n")
    return analysis


def _check_outputs(*, retry_csv: Path | None, report: Path | None, inputs: tuple[Path | None, ...]) -> None:
    problems = []
    for target, flag in ((retry_csv, "--retry-csv"), (report, "--report")):
        if target is None:
            continue
        if problem := output_problem(target, flag):
            problems.append(problem)
        elif any(other is not None and other.exists() and target.resolve() == other.resolve() for other in inputs):
            problems.append(f"{flag} must not overwrite an input file: {target}")
    if retry_csv is not None and report is not None and retry_csv.resolve() == report.resolve():
        problems.append("--retry-csv and --report name the same file")
    if problems:
        raise OptionsError(problems)


def _read_ledger(job_id: str | None, directory: Path, tally: _Tally) -> tuple[Job, int]:
    """Read a job's failed rows from its ledger into ``tally``; returns the job and its rows without outcome."""
    if not (directory / STORE_FILENAME).is_file():
        raise JobStateError(f"no job store in {directory}: pass --checkpoint-dir, or --errors FILE")
    store = JobStore.open(directory)
    try:
        job = store.get_job(job_id) if job_id else store.latest_job()
        if job is None:
            raise JobStateError(f"no job in {directory} to analyse")
        group, count = tally.group, tally.count
        for row, email, phase, status, code, sub_codes, message, retryable in store.iter_failures(job.id):
            cause = group(
                phase or "unknown",
                status,
                code or "unknown",
                tuple(sub_codes.split(",")) if sub_codes else (),
                message or "",
                None if retryable is None else bool(retryable),
            )
            count(cause, row, email)
        return job, store.counts(job.id).pending
    finally:
        store.close()


def _read_errors_file(
    path: Path, tally: _Tally, bad: _BadLines, *, job_id: str | None, warnings: list[str]
) -> str | None:
    """Read an errors file into ``tally``; returns ``job_id``, else the job id of its first record.

    Records of any other job are skipped (with a warning): their row numbers name rows of another file.
    The loop runs once per line of files with a million lines: a record's cause is read and classified once
    per distinct set of raw values (``causes``), then only the row and email are read.
    """
    seen_job = job_id
    other_jobs: Counter[str] = Counter()
    causes: dict[tuple[Any, ...], _Group | None] = {}  # None: a record of another job
    count = tally.count
    for line, record in iter_records(path, bad.add):
        get = record.get
        row = record_row(get("row"))
        if row is None:
            bad.add(line, "no valid row number")
            continue
        sub_codes = get("sub_codes")
        phase = get("phase")
        raw = (
            get("job_id"),
            phase,
            get("status"),
            get("code"),
            None if phase == "validation" else get("message"),
            get("retryable"),
            tuple(sub_codes) if type(sub_codes) is list else sub_codes,
        )
        try:
            group = causes.get(raw, _MISSING)
        except TypeError:  # a hand-made record with a list or object where text belongs
            group = _MISSING
        if group is _MISSING:
            cause = record_cause(record)
            if seen_job is None:
                seen_job = cause.job_id
            if cause.job_id is not None and cause.job_id != seen_job:
                group = None
            else:
                group = tally.group(
                    cause.phase, cause.status, cause.code, cause.sub_codes, cause.message, cause.retryable
                )
            if len(causes) >= _RAW_CACHE:
                causes.clear()
            with suppress(TypeError):
                causes[raw] = group
        if group is None:
            other_jobs[str(get("job_id"))] += 1
            continue
        count(group, row, get("email"))
    if other_jobs:
        named = ", ".join(f"{job} ({count:,})" for job, count in other_jobs.most_common(3))
        warnings.append(f"{other_jobs.total():,} records of other jobs than {seen_job} were skipped: {named}")
    return seen_job


_MISSING: Any = object()


def _find_job(job_id: str | None, errors_file: Path, checkpoint_dir: Path | None) -> tuple[Job, int] | None:
    """The job record of an errors file and its rows without outcome, from the first store that has it."""
    if job_id is None:
        return None
    for directory in _store_candidates(errors_file, checkpoint_dir):
        if not (directory / STORE_FILENAME).is_file():
            continue
        store = JobStore.open(directory)
        try:
            job = store.get_job(job_id)
            return job, store.counts(job.id).pending
        except JobStateError:
            continue
        finally:
            store.close()
    return None


def _store_candidates(errors_file: Path, checkpoint_dir: Path | None) -> list[Path]:
    if checkpoint_dir is not None:
        return [checkpoint_dir]
    return [DEFAULT_CHECKPOINT_DIR, errors_file.resolve().parent.parent]


def _where(errors_file: Path, checkpoint_dir: Path | None) -> str:
    return " and ".join(str(directory) for directory in _store_candidates(errors_file, checkpoint_dir))


def _job_warnings(job: Job, pending: int, warnings: list[str]) -> None:
    """Add what the job's own state means for a re-run."""
    if job.last_error:
        warnings.append(f"job {job.id} stopped on a fatal error: {job.last_error}")
    if pending:
        warnings.append(
            f"{pending:,} rows of job {job.id} have no outcome yet ({job.state.value}): they are not in this analysis; "
            f"finish them with: workos-migrate resume {job.id}"
        )


def _retry(
    tally: _Tally,
    job: Job | None,
    source_csv: Path | None,
    retry_csv: Path | None,
    warnings: list[str],
    *,
    overwrite: bool,
) -> tuple[RetryFile | None, NextAction | None]:
    """Write the retry file when asked and there is something in it; returns it and the re-run step."""
    if retry_csv is None:
        return None, None
    rows, others = tally.retry, tally.others
    assert rows is not None, "a tally for a retry file keeps its rows"
    if not len(rows) and not (others is not None and len(others)):
        # The retry file exists exactly when there are rows to retry: a script tests for it.
        stale = ""
        if retry_csv.exists():
            if overwrite:
                retry_csv.unlink()
                stale = " (the one there, from an earlier analysis, was removed)"
            else:
                stale = " (the file there is from before: it is not this analysis' retry file)"
        if tally.failures:
            warnings.append(f"nothing to retry: {retry_csv} was not written{stale}")
        elif stale:
            warnings.append(f"nothing failed: {retry_csv} was not written{stale}")
        return None, None
    source = source_csv or (job.csv_path if job is not None else None)
    if source is None:
        raise OptionsError(
            "--retry-csv needs the job's source CSV: the job's record was not found; pass --csv SOURCE (or "
            "--checkpoint-dir, where the job's record is)"
        )
    if retry_csv.resolve() == source.resolve():
        raise OptionsError(f"--retry-csv must not overwrite the job's CSV: {retry_csv}")
    if job is None:
        warnings.append(f"the job's record was not found: {source} is checked row by row by email, not by sha256")
    retryable, extra = write_retry_csv(
        source,
        retry_csv,
        rows=rows,
        extra_rows=others,
        expected_sha256=job.csv_sha256 if job else None,
        overwrite=overwrite,
    )
    options = job.options if job is not None else None
    if options is None:
        warnings.append(
            "the re-run command cannot restore the job's organization options (--org-id, --org-external-id, "
            "--org-name, --create-org-if-missing): add the ones the first run used"
        )
    elif options.on_existing_user in ("skip", "fail"):
        warnings.append(
            f"the first run used --on-existing-user {options.on_existing_user}, which would refuse the users it "
            "created itself: the re-run command uses adopt, so it adds their missing memberships"
            + (" (and adopts the users of the non-retryable rows that fail refused)" if extra else "")
        )
    if extra:
        warnings.append(
            f"{extra:,} non-retryable rows are in {retry_csv}: fix them there (see the groups) before re-running"
        )
    written = RetryFile(
        path=str(retry_csv),
        source_csv=str(source),
        rows=retryable + extra,
        retryable_rows=retryable,
        non_retryable_rows=extra,
    )
    return written, rerun_step(options, retry_csv)


def _result(
    tally: _Tally,
    bad: _BadLines,
    job: Job | None,
    job_id: str | None,
    errors_file: Path | None,
    source_csv: Path | None,
    pending: int,
    retry_file: RetryFile | None,
    command: NextAction | None,
    warnings: list[str],
) -> ErrorAnalysis:
    total = tally.failures
    groups = sorted(tally.groups.values(), key=lambda g: (-g.count, g.phase, g.code, g.message))
    by_phase: Counter[str] = Counter()
    by_category: Counter[str] = Counter()
    for group in groups:
        by_phase[group.phase] += group.count
        by_category[group.verdict.category] += group.count
    to_retry = retry_file.rows if retry_file else tally.retryable + (len(tally.others) if tally.others else 0)
    # Nothing failed (a clean run's empty errors file) is success; failures no retry fixes, or rows that
    # still wait for an outcome, are 1.
    exit_code = 2 if total == 0 and bad.count else 0 if to_retry or (total == 0 and not pending) else 1
    source = source_csv or (job.csv_path if job is not None else None)
    return ErrorAnalysis(
        job_id=job.id if job is not None else job_id,
        job_state=job.state.value if job is not None else None,
        errors_file=str(errors_file) if errors_file is not None else None,
        source_csv=str(source) if source is not None else None,
        failures=total,
        retryable=tally.retryable,
        not_retryable=total - tally.retryable,
        retryable_share=round(tally.retryable / total, 4) if total else 0.0,
        by_phase=dict(by_phase.most_common()),
        by_category=dict(by_category.most_common()),
        bad_lines=bad.count,
        pending_rows=pending,
        groups=[_group_model(group, total) for group in groups],
        suggestions=_suggestions(groups, tally, job, job_id, errors_file, pending, command),
        retry_file=retry_file,
        rerun_step=command,
        warnings=warnings,
        exit_code=exit_code,
    )


def _group_model(group: _Group, total: int) -> ErrorGroup:
    verdict = group.verdict
    return ErrorGroup(
        phase=group.phase,
        status=group.status,
        code=group.code,
        sub_codes=list(group.sub_codes),
        message=group.message,
        count=group.count,
        share=round(group.count / total, 4),
        severity=verdict.severity,
        category=verdict.category,
        retryable=verdict.retryable,
        reason=verdict.reason,
        suggestion=verdict.suggestion,
        examples=[ExampleRow(row=row, email=email) for row, email in group.examples],
    )


def _suggestions(
    groups: list[_Group],
    tally: _Tally,
    job: Job | None,
    job_id: str | None,
    errors_file: Path | None,
    pending: int,
    command: NextAction | None,
) -> list[Suggestion]:
    """The actions, most rows first: resume, re-run the transient failures, then each distinct fix."""
    found: list[Suggestion] = []
    if pending and job is not None:
        found.append(Suggestion(text=f"Finish the {pending:,} rows without an outcome first", step=resume_step(job)))
    if tally.retryable:
        share = tally.retryable / tally.failures
        if command:
            found.append(
                Suggestion(
                    text=f"Re-run the {tally.retryable:,} retryable rows ({share:.0%} of failures) with the re-run "
                    "command."
                )
            )
        else:
            found.append(
                Suggestion(
                    text=f"Write the {tally.retryable:,} retryable rows ({share:.0%} of failures) to a retry file "
                    "and re-run it",
                    step=_write_retry_step(job_id, errors_file, job),
                )
            )
    rows_by_advice: dict[str, int] = {}
    codes: dict[str, list[str]] = {}
    for group in groups:
        if group.verdict.retryable and group.verdict.suggestion == RERUN_SUGGESTION:
            continue
        advice = group.verdict.suggestion
        rows_by_advice[advice] = rows_by_advice.get(advice, 0) + group.count
        if group.code not in codes.setdefault(advice, []):
            codes[advice].append(group.code)
    for advice, count in sorted(rows_by_advice.items(), key=lambda item: -item[1]):
        found.append(Suggestion(text=f"{', '.join(codes[advice][:3])} ({_rows(count)}): {advice}"))
    return found[:_SUGGESTIONS]


def _write_retry_step(job_id: str | None, errors_file: Path | None, job: Job | None) -> NextAction:
    arguments: dict[str, str | int | float | bool]
    if errors_file is not None:
        arguments = {"errors": str(errors_file)}
    else:
        name = job_id or (job.id if job is not None else "")
        arguments = job_arguments(name, job.options.checkpoint_dir if job is not None else DEFAULT_CHECKPOINT_DIR)
    arguments["retry_csv"] = "retry.csv"
    return NextAction(action=Action.ANALYZE, arguments=arguments, why="write the retryable rows to a retry file")


def _rows(count: int) -> str:
    return f"{count:,} row" + ("" if count == 1 else "s")
