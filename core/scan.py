"""One streaming pass over a CSV: every rule, the counts a plan needs, memory flat in the row count.

``scan`` reads the file in blocks. A block that ``make_block_check`` proves clean in bulk (the usual case)
costs a few C-level calls per column; so does a block whose only issues are the warnings it proves in bulk
(yes/no booleans, numbers in metadata), counted without a call per row. Any other block goes row by row
through ``make_row_check``, the source of truth for every issue. Cross-row state is 64-bit keys of the
clean rows (email; email and organization; external_id; external_id and email) in arrays split by the
keys' top bits, 8 bytes a key and no per-row object. At the end, set sizes per bucket give the distinct
users and reveal whether any key repeats where a cross-row rule forbids it; only then is a second pass
made, which judges just those few suspect keys row by row with ``RowValidator``, so a file with a duplicate
still gets exact rows and counts, and a clean file is read once. One process does it all: a second one
halved the time of a big file but doubled the memory a plan takes. Turning the result into a plan or a
report is left to ``planner`` and ``validation``.
"""

from __future__ import annotations

import logging
from array import array
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from core.csvsource import CsvSource, is_blank
from core.records import (
    BlockProof,
    BlockWarnings,
    Issue,
    RowValidator,
    has_error,
    make_block_check,
    make_row_check,
    org_columns_ignored,
)
from core.rules import RULES

__all__ = ["EXAMPLE_ROWS", "IssueTally", "ScanResult", "scan"]

logger = logging.getLogger(__name__)

EXAMPLE_ROWS = 5
_BUCKET_BITS = 5
_SHIFT = 64 - _BUCKET_BITS  # key >> _SHIFT is -16..15: a valid (negative or not) index into 32 buckets
_SPREAD_EVERY = 4096
"""Keys wait in lists until this many rows have them, then are spread into their buckets together."""

RowHook = Callable[[int, list[str], list[Issue] | None], None]
IssueHook = Callable[[Issue], None]


@dataclass(slots=True)
class IssueTally:
    """Issues of one code: how many, the first message, and the first few rows."""

    code: str
    count: int = 0
    rows: list[int] = field(default_factory=list)
    message: str = ""


@dataclass(slots=True)
class ScanResult:
    """Counts and grouped issues from ``scan``. ``rows`` counts non-blank data records."""

    rows: int = 0
    last_row: int = 1
    invalid_rows: int = 0
    users: int = 0
    memberships: int = 0
    users_in_several_orgs: int = 0
    organizations: set[str] = field(default_factory=set)
    hash_types: Counter[str] = field(default_factory=Counter)
    plaintext_passwords: int = 0
    totp_users: int = 0
    issues: dict[str, IssueTally] = field(default_factory=dict)
    issue_count: int = 0

    @property
    def valid_rows(self) -> int:
        return self.rows - self.invalid_rows

    @property
    def blank_rows(self) -> int:
        """Blank records before the last data row (they count in row numbers, never as users)."""
        return self.last_row - 1 - self.rows

    @property
    def error_count(self) -> int:
        return sum(tally.count for tally in self.issues.values() if RULES[tally.code].severity == "error")


def scan(
    source: CsvSource,
    *,
    single_org: bool = False,
    require_membership: bool = False,
    on_row: RowHook | None = None,
    on_issue: IssueHook | None = None,
) -> ScanResult:
    """Check every row of ``source`` and count what a migration of it would do.

    ``on_row(row, fields, issues)`` sees each non-blank row once with its per-row issues (None when it has
    none); ``on_issue`` sees every issue once, per-row issues in row order, then cross-row ones. Raises
    ``SourceError`` when the file is unreadable.
    """
    first = _Pass(source, single_org=single_org, require_membership=require_membership)
    first.run(on_row=on_row, on_issue=on_issue)
    if not first.breaks_cross_row_rules():
        return first.finish()
    finder = first
    if first.externals_conflict():
        # Which external_ids are shared needs each one next to its emails: one more pass, keeping them so.
        finder = _Pass(source, single_org=single_org, require_membership=require_membership, align_externals=True)
        finder.run(on_row=None, on_issue=None)
    suspects = finder.suspects()
    second = _Pass(source, single_org=single_org, require_membership=require_membership, suspects=suspects)
    # The per-row issues are final after the first pass; the second adds only cross-row ones.
    second.result.issues = first.result.issues
    second.result.issue_count = first.result.issue_count
    second.run(on_row=None, on_issue=on_issue)
    return second.finish()


class _Suspects:
    """The keys that break a cross-row rule somewhere, and the row-by-row judge for rows holding them."""

    def __init__(self, pairs: set[int], externals: set[int], validator: RowValidator) -> None:
        self.pairs = pairs
        self.externals = externals
        self.validator = validator


def _buckets() -> list[array[int]]:
    return [array("q") for _ in range(1 << _BUCKET_BITS)]


def _spread(buckets: list[array[int]], keys: list[int], *companions: tuple[list[array[int]], list[int]]) -> None:
    """Append ``keys`` to ``buckets`` by their top bits; each companion list follows its key's bucket.

    A plain loop: partitioning needs no order, and it costs about two thirds of a sort and bisect.
    """
    appends = [bucket.append for bucket in buckets]
    if companions:
        ((targets, values),) = companions
        partners = [target.append for target in targets]
        for key, value in zip(keys, values, strict=True):
            index = key >> _SHIFT
            appends[index](key)
            partners[index](value)
    else:
        for key in keys:
            appends[key >> _SHIFT](key)


class _Pass:
    def __init__(
        self,
        source: CsvSource,
        *,
        single_org: bool,
        require_membership: bool,
        suspects: _Suspects | None = None,
        align_externals: bool = False,
    ) -> None:
        self.source = source
        self.columns = source.columns
        self.single_org = single_org
        self.multi_org = not single_org and bool(source.columns.org_columns)
        self.check_row = make_row_check(source.columns, single_org=single_org, require_membership=require_membership)
        self.suspected = suspects
        self.align_externals = align_externals
        self.on_issue: IssueHook | None = None
        self.result = ScanResult()
        self.member_keys = _buckets()  # email keys of rows with a membership
        self.loner_keys = _buckets()  # email keys of rows without one
        self.pair_keys = _buckets()  # (email, organization) keys, multi-org only
        self.external_keys = _buckets()
        # (external_id, email) keys: bucketed by their own bits, or next to their external_id when aligned.
        self.external_pairs = _buckets()
        self.totp_keys = _buckets()
        # Row-by-row results waiting to be spread in bulk with the next block.
        self.pending: dict[str, list[int]] = {
            name: [] for name in ("member", "loner", "pair", "ext", "ext_pair", "totp")
        }

    def tally(self, issue: Issue) -> None:
        result = self.result
        tally = result.issues.get(issue.code)
        if tally is None:
            tally = result.issues[issue.code] = IssueTally(issue.code, message=issue.message)
        tally.count += 1
        if len(tally.rows) < EXAMPLE_ROWS:
            tally.rows.append(issue.row)
        result.issue_count += 1
        if self.on_issue is not None:
            self.on_issue(issue)

    def run(self, *, on_row: RowHook | None, on_issue: IssueHook | None) -> None:
        """Read every block; prove it clean (or warned) in bulk, or check it row by row.

        Warnings are proved in bulk only without hooks: a hook sees each row's or issue's own object.
        """
        self.on_issue = on_issue
        columns = self.columns
        result = self.result
        suspects = self.suspected
        cross_row_only = suspects is not None
        bulk_warnings = on_row is None and on_issue is None
        check_block = make_block_check(columns, single_org=self.single_org, warnings=bulk_warnings)
        # Said with the first record, as the row check says it: a file of blank records has nothing to ignore.
        warn_org_columns = self.single_org and bool(columns.org_columns) and not cross_row_only
        for first, block in self.source.blocks():
            proof = check_block(block)
            if proof is not None and suspects is not None and self.touches_suspects(proof):
                proof = None
            if proof is None:
                for row, fields in enumerate(block, first):
                    if fields and ((fields[0] and not fields[0].isspace()) or not is_blank(fields)):
                        if warn_org_columns:
                            warn_org_columns = False
                            self.tally(org_columns_ignored(columns))
                        self.one_row(row, fields, on_row, cross_row_only)
                self.flush(_SPREAD_EVERY)
                continue
            if warn_org_columns:
                warn_org_columns = False
                self.tally(org_columns_ignored(columns))
            emails, orgs, cols, warned = proof
            size = len(block)
            result.rows += size
            result.last_row = first + size - 1
            if on_row is not None:
                for row, fields in enumerate(block, first):
                    on_row(row, fields, None)
            if warned and not cross_row_only:
                self.tally_in_bulk(first, block, warned)
            self.add_block(emails, orgs, cols)
        self.flush()

    def tally_in_bulk(self, first: int, block: list[list[str]], warned: BlockWarnings) -> None:
        """Count the warnings the block check proved; the first of a code gets its message from the row check."""
        result = self.result
        for code, indices in warned.items():
            tally = result.issues.get(code)
            if tally is None:
                index = indices[0]
                _, _, issues = self.check_row(first + index, block[index])
                message = next(issue.message for issue in issues or () if issue.code == code)
                tally = result.issues[code] = IssueTally(code, message=message)
            tally.count += len(indices)
            if len(tally.rows) < EXAMPLE_ROWS:
                tally.rows += [first + index for index in indices[: EXAMPLE_ROWS - len(tally.rows)]]
            result.issue_count += len(indices)

    def touches_suspects(self, proof: BlockProof) -> bool:
        emails, orgs, cols, _ = proof
        suspects = self.suspected
        assert suspects is not None
        keys = map(hash, zip(emails, orgs, strict=True)) if orgs is not None else map(hash, emails)
        if not suspects.pairs.isdisjoint(keys):
            return True
        index = self.columns.external_id
        return index is not None and not suspects.externals.isdisjoint(map(hash, map(str.strip, cols[index])))

    def add_block(self, emails: list[str], orgs: list[str] | None, cols: list[tuple[str, ...]]) -> None:
        columns = self.columns
        result = self.result
        pending = self.pending
        keys = list(map(hash, emails))
        if orgs is not None:
            pending["pair"].extend(map(hash, zip(emails, orgs, strict=True)))
            result.organizations.update(orgs)
        if orgs is not None or self.single_org:
            result.memberships += len(keys)
            pending["member"].extend(keys)
        else:
            pending["loner"].extend(keys)
        if columns.external_id is not None:
            externals = list(map(str.strip, cols[columns.external_id]))
            if all(externals):
                pending["ext"].extend(map(hash, externals))
                pending["ext_pair"].extend(map(hash, zip(externals, emails, strict=True)))
            elif any(externals):
                pairs = [(external, email) for external, email in zip(externals, emails, strict=True) if external]
                pending["ext"].extend(hash(external) for external, _ in pairs)
                pending["ext_pair"].extend(map(hash, pairs))
        if columns.password_hash is not None:
            result.hash_types["bcrypt"] += sum(map(bool, cols[columns.password_hash]))
        if columns.totp_secret is not None:
            pending["totp"].extend(key for key, secret in zip(keys, cols[columns.totp_secret], strict=True) if secret)
        self.flush(_SPREAD_EVERY)

    def add_externals(self, keys: list[int], pairs: list[int]) -> None:
        if self.align_externals:
            _spread(self.external_keys, keys, (self.external_pairs, pairs))
        else:
            _spread(self.external_keys, keys)
            _spread(self.external_pairs, pairs)

    def one_row(self, row: int, fields: list[str], on_row: RowHook | None, cross_row_only: bool) -> None:
        result = self.result
        columns = self.columns
        result.rows += 1
        result.last_row = row
        email, org, issues = self.check_row(row, fields)
        if on_row is not None:
            on_row(row, fields, issues)
        if issues is not None:
            if not cross_row_only:
                for issue in issues:
                    self.tally(issue)
            if email is None or has_error(issues):
                result.invalid_rows += 1
                return
        assert email is not None
        width = columns.width
        if len(fields) < width:
            fields = fields + [""] * (width - len(fields))
        external = fields[columns.external_id].strip() if columns.external_id is not None else ""
        suspects = self.suspected
        if suspects is not None and (
            (hash((email, org)) if self.multi_org else hash(email)) in suspects.pairs
            or (external and hash(external) in suspects.externals)
        ):
            cross = suspects.validator.cross_row(row, email, org, external)
            if cross:
                for issue in cross:
                    self.tally(issue)
                result.invalid_rows += 1
                return
        pending = self.pending
        key = hash(email)
        if self.multi_org:
            pending["pair"].append(hash((email, org)))
        if org is not None or self.single_org:
            result.memberships += 1
            pending["member"].append(key)
            if org is not None:
                result.organizations.add(org)
        else:
            pending["loner"].append(key)
        if external:
            pending["ext"].append(hash(external))
            pending["ext_pair"].append(hash((external, email)))
        if columns.password_hash is not None and fields[columns.password_hash]:
            kind = fields[columns.password_hash_type] if columns.password_hash_type is not None else ""
            result.hash_types[kind.strip().lower()] += 1
        elif columns.password is not None and fields[columns.password]:
            result.plaintext_passwords += 1
        if columns.totp_secret is not None and fields[columns.totp_secret].strip():
            pending["totp"].append(key)

    def flush(self, at_least: int = 0) -> None:
        """Spread the waiting keys into their buckets (only once ``at_least`` rows wait)."""
        pending = self.pending
        if len(pending["member"]) + len(pending["loner"]) < at_least:
            return
        _spread(self.member_keys, pending["member"])
        _spread(self.loner_keys, pending["loner"])
        _spread(self.pair_keys, pending["pair"])
        self.add_externals(pending["ext"], pending["ext_pair"])
        _spread(self.totp_keys, pending["totp"])
        for values in pending.values():
            values.clear()

    def pair_buckets(self) -> Iterator[array[int]]:
        if self.multi_org:
            yield from self.pair_keys
        else:
            yield from self.member_keys
            yield from self.loner_keys

    def externals_conflict(self) -> bool:
        """Some external_id goes with two emails: more distinct (external_id, email) pairs than external_ids."""
        distinct = sum(len(set(keys)) for keys in self.external_keys)
        return distinct != sum(len(set(pairs)) for pairs in self.external_pairs)

    def breaks_cross_row_rules(self) -> bool:
        """Some (email, organization) repeats, or some external_id goes with two emails."""
        repeated = any(len(set(keys)) != len(keys) for keys in self.pair_buckets())
        return repeated or self.externals_conflict()

    def suspects(self) -> _Suspects:
        """The keys that repeat where they must not (external_ids need a pass with ``align_externals``)."""
        pairs: set[int] = set()
        externals: set[int] = set()
        for keys in self.pair_buckets():
            if len(set(keys)) != len(keys):
                pairs.update(key for key, count in Counter(keys).items() if count > 1)
        for keys, owned in zip(self.external_keys, self.external_pairs, strict=True):
            if self.align_externals and len(set(keys)) != len(set(owned)):
                owners: dict[int, set[int]] = {}
                for key, pair in zip(keys, owned, strict=True):
                    owners.setdefault(key, set()).add(pair)
                externals.update(key for key, seen in owners.items() if len(seen) > 1)
        return _Suspects(pairs, externals, RowValidator(self.columns, single_org=self.single_org))

    def finish(self) -> ScanResult:
        result = self.result
        users = several = 0
        for members, loners in zip(self.member_keys, self.loner_keys, strict=True):
            per_user = Counter(members)
            # Each clean membership row is a distinct (email, organization): a count above 1 is several orgs.
            several += len(per_user) - Counter(per_user.values())[1]
            users += len(per_user.keys() | set(loners)) if loners else len(per_user)
        result.users = users
        result.users_in_several_orgs = several if self.multi_org else 0
        result.totp_users = sum(len(set(keys)) for keys in self.totp_keys)
        kinds = result.hash_types
        result.hash_types = Counter()
        for kind, count in kinds.items():
            if count:
                result.hash_types[kind] += count
        return result
