"""Verify: prove that the environment holds what a file implies, row by row, with reads only.

The input is a job (its CSV, options and ledger) or a CSV with the options ``execute`` takes. The environment
is read into the snapshot (``core.environment``: organizations, every user, the memberships of the file's
organizations, refreshed), then the file is streamed once and each valid row compared with it:
- the user is missing, or its external id or name differs from the row's;
- the membership is missing (or not active), or has other roles than the row asks for;
- the organization the row names does not exist (or its name is ambiguous);
- against the ledger of a job: a row recorded done whose user or membership is missing (a lie in the ledger),
  and a row recorded failed whose user and membership are in fact present.
Invalid rows are listed apart (they were never meant to be imported). Memory stays flat: the snapshot lives
in SQLite, the ledger is read in row order beside the file, and only counts and the first examples are kept;
every discrepancy is streamed to the ``discrepancies`` CSV (0600). Optional login canaries (``core.canaries``)
prove which hash types sign in. Rendering and exit codes are the front doors' business.
"""

from __future__ import annotations

import csv
import json
import logging
import time
from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import NamedTuple, TextIO

from pydantic import BaseModel, Field

from core.canaries import CanaryReport, hash_types_of, read_canaries, run_canaries
from core.csvsource import CsvSource, sha256_file
from core.environment import EnvironmentSnapshot, SnapshotProgress
from core.errors import OptionsError, SourceError
from core.options import MigrationOptions, check_paths
from core.orgs import OrgKey, org_key_from
from core.outfile import private_output
from core.preflight import preflight_client
from core.records import Issue, UserRecord, has_error, to_record
from core.retrycsv import RowSet, email_check, write_retry_csv
from core.rules import CROSS_ROW_CODES
from core.scan import scan
from core.store import JobStore, RowOutcome, RowState

__all__ = [
    "EXAMPLES",
    "Discrepancy",
    "DiscrepancyKind",
    "InvalidRow",
    "VerifyProgress",
    "VerifyReport",
    "verify_migration",
]

logger = logging.getLogger(__name__)

EXAMPLES = 20
"""How many discrepancies and invalid rows a report lists (the discrepancies file has them all)."""
DISCREPANCY_COLUMNS = ("row", "email", "organization", "kind", "expected", "found")
_PROGRESS_ROWS = 1000


class DiscrepancyKind(StrEnum):
    """How the environment differs from what a row implies."""

    USER_MISSING = "user_missing"  # no user with the row's email
    EXTERNAL_ID_DIFFERS = "external_id_differs"  # the user's external id is not the row's
    NAME_DIFFERS = "name_differs"  # the user's first or last name is not the row's
    ORGANIZATION_MISSING = "organization_missing"  # the organization the row names does not exist (or is ambiguous)
    MEMBERSHIP_MISSING = "membership_missing"  # the user is not a member (or not an active one) of the organization
    ROLES_DIFFER = "roles_differ"  # the membership's roles are not the ones the row asks for
    FAILED_BUT_PRESENT = "failed_but_present"  # the job recorded the row failed, yet its user and membership exist


class Discrepancy(NamedTuple):
    """One difference, as a line of the discrepancies file."""

    row: int
    email: str
    organization: str
    kind: DiscrepancyKind
    expected: str
    found: str


class InvalidRow(BaseModel):
    """A row of the file that is not meant to be imported: it breaks a validation rule."""

    row: int
    code: str


class VerifyProgress(NamedTuple):
    """Where verify is: ``step`` (``reading`` the environment or ``comparing`` rows), and how far."""

    step: str
    done: int
    total: int


class VerifyReport(BaseModel):
    """How the environment compares with a file: counts by kind and the first examples."""

    job_id: str | None = Field(description="The job verified, when a job was the input.")
    csv_path: str
    base_url: str
    rows: int = Field(description="Data rows in the file.")
    checked: int = Field(description="Valid rows compared with the environment.")
    invalid: int = Field(description="Rows that break a validation rule: listed apart, not compared.")
    invalid_examples: list[InvalidRow]
    matching: int = Field(description="Checked rows whose user and membership are as the row says.")
    discrepancies: int = Field(description="Discrepancies found (a row may have several).")
    by_kind: dict[DiscrepancyKind, int]
    examples: list[Discrepancy] = Field(description="The first discrepancies, in row order.")
    recorded_done_missing: int = Field(
        0, description="Rows the job recorded done whose user or membership the environment lacks."
    )
    pending: int = Field(0, description="Rows the job has not processed yet (compared all the same).")
    discrepancies_file: str | None = None
    missing_csv: str | None = Field(None, description="A CSV of the rows with something missing, to import again.")
    canaries: CanaryReport | None = None
    reads: int = Field(description="List and get requests sent to WorkOS.")
    duration_seconds: float

    @property
    def matches(self) -> bool:
        return self.discrepancies == 0 and (self.canaries is None or self.canaries.all_signed_in)

    @property
    def exit_code(self) -> int:
        """0 when the environment matches the file (and every canary signed in), 1 when it does not."""
        return 0 if self.matches else 1


_MISSING_KINDS = frozenset(
    {DiscrepancyKind.USER_MISSING, DiscrepancyKind.MEMBERSHIP_MISSING, DiscrepancyKind.ORGANIZATION_MISSING}
)


async def verify_migration(
    store: JobStore,
    *,
    api_key: str,
    job_id: str | None = None,
    options: MigrationOptions | None = None,
    discrepancies: Path | None = None,
    report: Path | None = None,
    missing_csv: Path | None = None,
    login_canary: Path | None = None,
    client_id: str | None = None,
    on_progress: Callable[[VerifyProgress], None] | None = None,
) -> VerifyReport:
    """Compare the environment with a job's file (``job_id``) or a CSV (``options``); reads only.

    Raises ``SourceError`` (the file is missing, unreadable, or changed since the job), ``OptionsError``
    (unusable options or outputs, a canary file without ``client_id``), ``JobStateError`` (unknown job), the
    client's ``WorkOSError`` (``AuthenticationError`` for a rejected key) and ``WorkOSUnavailable`` (an outage
    longer than ``PREFLIGHT_MAX_OUTAGE_SECONDS``).
    """
    started = time.monotonic()
    if job_id is not None:
        job = store.get_job(job_id)
        options = job.options
        if not job.csv_path.is_file():
            raise SourceError(f"the job's CSV {job.csv_path} is missing: put it back to verify the job")
        if sha256_file(job.csv_path) != job.csv_sha256:
            raise SourceError(f"the CSV {job.csv_path} changed since job {job_id!r} began: verify the new file alone")
    if options is None:
        raise OptionsError("verify needs a job id or a CSV with its options")
    check_paths(options)
    if login_canary is not None and not client_id:
        raise OptionsError("--login-canary needs WORKOS_CLIENT_ID: the client id of this environment's application")
    canaries = read_canaries(login_canary) if login_canary is not None else None
    source = CsvSource(options.csv_path)
    invalid, invalid_examples, org_keys = _validate(source, options, store, job_id)
    # Read-only, at the job's rates; an outage is waited out briefly, then raised (a verify is simply run again).
    async with preflight_client(options, api_key) as client:
        snapshot = EnvironmentSnapshot.of(store, base_url=options.base_url, api_key=api_key)

        def reading(step: SnapshotProgress) -> None:
            if on_progress is not None:
                on_progress(VerifyProgress(f"reading {step.part.split(':')[0]}", step.objects, 0))

        await snapshot.read(client, max_age=0, on_progress=reading)
        organizations = {key: snapshot.organizations_for(key.cache_key) for key in org_keys}
        member_of = sorted({ids[0] for ids in organizations.values() if len(ids) == 1})
        await snapshot.read(client, users=True, memberships_of=member_of, max_age=0, on_progress=reading)
        comparison = _Comparison(snapshot, organizations, options, invalid)
        ledger = _ledger(store, job_id)
        with _sink(discrepancies) as sink:
            for record_row, fields in source.records():
                comparison.row(record_row, fields, source, ledger, sink)
                if on_progress is not None and comparison.seen % _PROGRESS_ROWS == 0:
                    on_progress(VerifyProgress("comparing", comparison.seen, 0))
        canary_report = None
        if canaries is not None:
            assert client_id is not None
            types = hash_types_of(CsvSource(options.csv_path), {email for email, _ in canaries})
            canary_report = await run_canaries(client, canaries, client_id=client_id, hash_types=types)
        reads = snapshot.requests + len(canaries or ())
    if missing_csv is not None and len(comparison.missing_rows):
        write_retry_csv(options.csv_path, missing_csv, rows=comparison.missing_rows)
    result = VerifyReport(
        job_id=job_id,
        csv_path=str(options.csv_path),
        base_url=options.base_url,
        rows=comparison.seen,
        checked=comparison.checked,
        invalid=len(invalid),
        invalid_examples=invalid_examples,
        matching=comparison.matching,
        discrepancies=sum(comparison.by_kind.values()),
        by_kind=comparison.by_kind,
        examples=comparison.examples,
        recorded_done_missing=comparison.recorded_done_missing,
        pending=comparison.pending,
        discrepancies_file=str(discrepancies) if discrepancies is not None else None,
        missing_csv=str(missing_csv) if missing_csv is not None and len(comparison.missing_rows) else None,
        canaries=canary_report,
        reads=reads,
        duration_seconds=round(time.monotonic() - started, 3),
    )
    if report is not None:
        with private_output(report) as handle:
            handle.write(json.dumps(result.model_dump(mode="json"), indent=2) + "\n")
    return result


def _validate(
    source: CsvSource, options: MigrationOptions, store: JobStore, job_id: str | None
) -> tuple[set[int], list[InvalidRow], set[OrgKey]]:
    """The invalid rows (the job's ledger says which; a file is validated), the first of them, and the distinct
    organizations the valid rows name."""
    invalid: set[int] = set()
    examples: list[InvalidRow] = []
    if job_id is not None:
        for outcome in store.iter_rows(job_id, state=RowState.FAILED):
            if outcome.error_phase == "validation":
                invalid.add(outcome.row)
                if len(examples) < EXAMPLES:
                    examples.append(InvalidRow(row=outcome.row, code=outcome.error_code or "invalid"))
    else:

        def on_row(row: int, fields: list[str], issues: list[Issue] | None) -> None:
            if has_error(issues):
                invalid.add(row)

        def on_issue(issue: Issue) -> None:
            if issue.severity != "error":
                return
            if issue.code in CROSS_ROW_CODES:
                invalid.add(issue.row)
            if len(examples) < EXAMPLES and not any(e.row == issue.row for e in examples):
                examples.append(InvalidRow(row=issue.row, code=issue.code))

        scan(source, single_org=options.single_org, require_membership=options.require_membership,
             on_row=on_row, on_issue=on_issue)  # fmt: skip
    fixed = org_key_from(options.org_id, options.org_external_id, options.org_name)
    keys: set[OrgKey] = set()
    if fixed is not None:
        keys.add(fixed)
    else:
        columns = source.columns
        for row, fields in source.records():
            if row in invalid:
                continue
            key = org_key_from(*(_cell(fields, getattr(columns, name)) for name in ("org_id", "org_external_id",
                                                                                      "org_name")))  # fmt: skip
            if key is not None:
                keys.add(key)
    return invalid, sorted(examples, key=lambda e: e.row), keys


def _cell(fields: list[str], index: int | None) -> str | None:
    if index is None or index >= len(fields):
        return None
    return fields[index].strip() or None


class _Ledger:
    """The job's row outcomes, read in row order beside the file (one page in memory)."""

    def __init__(self, outcomes: Iterator[RowOutcome] | None) -> None:
        self._outcomes = outcomes
        self._next: RowOutcome | None = None
        self._advance()

    def _advance(self) -> None:
        self._next = next(self._outcomes, None) if self._outcomes is not None else None

    @property
    def present(self) -> bool:
        return self._outcomes is not None

    def at(self, row: int) -> RowOutcome | None:
        while self._next is not None and self._next.row < row:
            self._advance()
        if self._next is not None and self._next.row == row:
            return self._next
        return None


def _ledger(store: JobStore, job_id: str | None) -> _Ledger:
    return _Ledger(store.iter_rows(job_id) if job_id is not None else None)


class _Sink:
    """Where discrepancies go: the CSV file when one is asked for."""

    def __init__(self, handle: TextIO | None) -> None:
        self._writer = csv.writer(handle) if handle is not None else None
        if self._writer is not None:
            self._writer.writerow(DISCREPANCY_COLUMNS)

    def write(self, discrepancy: Discrepancy) -> None:
        if self._writer is not None:
            self._writer.writerow(discrepancy)


class _NoFile:
    def __enter__(self) -> _Sink:
        return _Sink(None)

    def __exit__(self, *exc: object) -> None:
        return None


class _File:
    def __init__(self, path: Path) -> None:
        self._context = private_output(path)

    def __enter__(self) -> _Sink:
        return _Sink(self._context.__enter__())

    def __exit__(self, *exc: object) -> None:
        self._context.__exit__(*exc)  # type: ignore[arg-type]


def _sink(path: Path | None) -> _NoFile | _File:
    return _File(path) if path is not None else _NoFile()


class _Comparison:
    """The row-by-row comparison: counts, the first examples, and the rows with something missing."""

    def __init__(
        self,
        snapshot: EnvironmentSnapshot,
        organizations: dict[OrgKey, list[str]],
        options: MigrationOptions,
        invalid: set[int],
    ) -> None:
        self._snapshot = snapshot
        self._organizations = organizations
        self._fixed = org_key_from(options.org_id, options.org_external_id, options.org_name)
        self._invalid = invalid
        self.seen = self.checked = self.matching = self.recorded_done_missing = self.pending = 0
        self.by_kind: dict[DiscrepancyKind, int] = {}
        self.examples: list[Discrepancy] = []
        self.missing_rows = RowSet()

    def row(self, row: int, fields: list[str], source: CsvSource, ledger: _Ledger, sink: _Sink) -> None:
        self.seen += 1
        if row in self._invalid:
            return
        record = to_record(row, fields, source.columns)
        outcome = ledger.at(row)
        if ledger.present and outcome is None:
            self.pending += 1
        self.checked += 1
        found = list(self._differences(record, outcome))
        if outcome is not None and outcome.state is RowState.FAILED and not found:
            found.append(self._discrepancy(record.row, record.email, "", DiscrepancyKind.FAILED_BUT_PRESENT,
                                           "failed (the ledger)", "user and membership present"))  # fmt: skip
        if not found:
            self.matching += 1
            return
        if any(d.kind in _MISSING_KINDS for d in found):
            self.missing_rows.add(row, email_check(record.email))
            if outcome is not None and outcome.state is RowState.DONE:
                self.recorded_done_missing += 1
        for discrepancy in found:
            self.by_kind[discrepancy.kind] = self.by_kind.get(discrepancy.kind, 0) + 1
            if len(self.examples) < EXAMPLES:
                self.examples.append(discrepancy)
            sink.write(discrepancy)

    def _discrepancy(
        self, row: int, email: str, organization: str, kind: DiscrepancyKind, expected: str, found: str
    ) -> Discrepancy:
        return Discrepancy(row, email, organization, kind, expected, found)

    def _differences(self, record: UserRecord, outcome: RowOutcome | None) -> Iterator[Discrepancy]:
        row, email = record.row, record.email
        user = self._snapshot.user(email)
        key = self._fixed or org_key_from(record.org_id, record.org_external_id, record.org_name)
        label = key.describe().removeprefix("organization ") if key is not None else ""
        if user is None:
            yield self._discrepancy(row, email, label, DiscrepancyKind.USER_MISSING, "user", "none")
            return
        user_id, _email, external_id, _created, first_name, last_name = user
        wanted_external = record.external_id
        if wanted_external and wanted_external != external_id:
            yield self._discrepancy(row, email, label, DiscrepancyKind.EXTERNAL_ID_DIFFERS, wanted_external,
                                    external_id or "none")  # fmt: skip
        # Only the names the row gives: an empty cell sends no name, so any name WorkOS holds is as expected.
        wanted_names = [(mine, theirs) for mine, theirs in ((record.first_name, first_name),
                                                           (record.last_name, last_name)) if mine]  # fmt: skip
        if any(mine != theirs for mine, theirs in wanted_names):
            yield self._discrepancy(row, email, label, DiscrepancyKind.NAME_DIFFERS,
                                    " / ".join(mine for mine, _ in wanted_names),
                                    " / ".join(theirs or "none" for _, theirs in wanted_names))  # fmt: skip
        if key is None or (outcome is not None and outcome.state is RowState.SKIPPED):
            return
        ids = self._organizations.get(key, [])
        if len(ids) != 1:
            found = "none" if not ids else f"{len(ids)} organizations"
            yield self._discrepancy(row, email, label, DiscrepancyKind.ORGANIZATION_MISSING, key.describe(), found)
            return
        membership = self._snapshot.membership(user_id, ids[0])
        if membership is None or membership[4] != "active":
            found = "none" if membership is None else membership[4]
            yield self._discrepancy(row, email, label, DiscrepancyKind.MEMBERSHIP_MISSING, "active membership", found)
            return
        wanted_roles = record.role_slugs
        if wanted_roles and set(wanted_roles) != set(membership[3]):
            yield self._discrepancy(row, email, label, DiscrepancyKind.ROLES_DIFFER, ",".join(sorted(wanted_roles)),
                                    ",".join(sorted(membership[3])) or "none")  # fmt: skip
