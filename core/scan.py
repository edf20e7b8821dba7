"""One streaming pass over a CSV: every rule, the counts a plan needs, memory flat in the row count.

``scan`` reads the file in blocks. A block that ``make_block_check`` proves clean in bulk (the usual case)
costs a few C-level calls per column; any other block goes row by row through ``make_row_check``, the
source of truth for every issue. Cross-row state is 64-bit keys of the clean rows (email; email and
organization; external_id; external_id and email) in arrays split by the keys' top bits, 8 bytes a key
and no per-row object. At the end, set sizes per bucket give the distinct users and reveal whether any
key repeats where a cross-row rule forbids it; only then is a second pass made, which judges just those
few suspect keys row by row with ``RowValidator``, so a file with a duplicate still gets exact rows and
counts, and a clean file is read once. Turning the result into a plan or a report is left to ``planner``
and ``validation``.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import tempfile
from array import array
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from core.csvsource import CsvSource, is_blank
from core.errors import SourceError
from core.records import (
    Issue,
    RowValidator,
    has_error,
    make_block_check,
    make_row_check,
    org_columns_ignored,
)
from core.rules import RULES

__all__ = ["EXAMPLE_ROWS", "PARALLEL_MIN_BYTES", "IssueTally", "ScanResult", "scan", "two_processes_help"]

logger = logging.getLogger(__name__)

EXAMPLE_ROWS = 5
PARALLEL_MIN_BYTES = 32 << 20
"""Files this big are read by two processes (a fork and the hand-back of keys are not worth it below)."""
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
    processes: int | None = None,
) -> ScanResult:
    """Check every row of ``source`` and count what a migration of it would do.

    ``on_row(row, fields, issues)`` sees each non-blank row once with its per-row issues (None when it has
    none); ``on_issue`` sees every issue once, per-row issues in row order, then cross-row ones.
    ``processes`` 2 reads each half of the file in its own process (without hooks only), 1 reads it in
    this one; None decides by ``two_processes_help``. Raises ``SourceError`` when the file is unreadable.
    """
    if processes is None:
        processes = 2 if two_processes_help(source.size) else 1
    with tempfile.TemporaryDirectory(prefix="workos-migrate-") as scratch:
        return _scan(
            source,
            single_org=single_org,
            require_membership=require_membership,
            on_row=on_row,
            on_issue=on_issue,
            keys_file=Path(scratch) / "keys" if processes > 1 and on_row is None and on_issue is None else None,
        )


def two_processes_help(size: int, min_bytes: int = PARALLEL_MIN_BYTES) -> bool:
    """A second process helps when the file is big enough and a core is idle (by the 1-minute load)."""
    cores = os.cpu_count() or 1
    return size >= min_bytes and cores > 1 and os.getloadavg()[0] < cores - 0.5


def _scan(
    source: CsvSource,
    *,
    single_org: bool,
    require_membership: bool,
    on_row: RowHook | None,
    on_issue: IssueHook | None,
    keys_file: Path | None,
) -> ScanResult:
    first = None
    if keys_file is not None:
        first = _two_process_pass(
            source, single_org=single_org, require_membership=require_membership, keys_file=keys_file
        )
    if first is None:
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


_KEY_ARRAYS = ("member_keys", "loner_keys", "pair_keys", "external_keys", "external_pairs", "totp_keys")


@dataclass(slots=True)
class _Partial:
    """The first pass over a window, as another process returns it."""

    result: ScanResult
    next_row: int
    key_counts: dict[str, list[int]]


def _scan_window(path: str, start: int, single_org: bool, require_membership: bool, keys_file: str) -> _Partial:
    """Run in the second process: the first pass over the file from ``start`` (rows counted from 1)."""
    part = _Pass(CsvSource(Path(path)), single_org=single_org, require_membership=require_membership)
    part.run(on_row=None, on_issue=None, start=start, first_row=1)
    return part.export(Path(keys_file))


def _two_process_pass(
    source: CsvSource, *, single_org: bool, require_membership: bool, keys_file: Path
) -> _Pass | None:
    """The first pass with the file's second half in another process; None when the halves do not split
    cleanly (a quoted field spans the middle, or a half does not parse), so the caller reads it whole."""
    split = source.midpoint()
    if (
        split is None
        or "fork" not in multiprocessing.get_all_start_methods()
        or multiprocessing.current_process().daemon
    ):
        return None  # no middle, no fork (Windows), or a daemonic process, which may not start children
    # fork, not spawn: the child must share this process's str hash secret, or its keys would not match.
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        future = pool.submit(_scan_window, str(source.path), split, single_org, require_membership, str(keys_file))
        first = _Pass(source, single_org=single_org, require_membership=require_membership)
        try:
            first.run(on_row=None, on_issue=None, stop=split)
            part = future.result()
        except SourceError:
            logger.debug("the halves of %s do not split at byte %d; reading it whole", source.path, split)
            return None
    first.merge(part, keys_file, row_offset=first.next_row - 1)
    return first


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
        self.check_block = make_block_check(source.columns, single_org=single_org)
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
        self.spill: tuple[Path, dict[str, list[tuple[int, int]]]] | None = None
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

    def run(
        self,
        *,
        on_row: RowHook | None,
        on_issue: IssueHook | None,
        start: int | None = None,
        stop: int | None = None,
        first_row: int = 2,
    ) -> None:
        """Read every block (of the window, when given); prove it clean in bulk, or check it row by row."""
        self.on_issue = on_issue
        columns = self.columns
        result = self.result
        suspects = self.suspected
        cross_row_only = suspects is not None
        if self.single_org and columns.org_columns and not cross_row_only and start is None:
            self.tally(org_columns_ignored(columns))
        self.next_row = first_row
        for first, block in self.source.blocks(start=start, stop=stop, first_row=first_row):
            self.next_row = first + len(block)
            proof = self.check_block(block)
            if proof is not None and suspects is not None and self.touches_suspects(proof):
                proof = None
            if proof is None:
                for row, fields in enumerate(block, first):
                    if fields and ((fields[0] and not fields[0].isspace()) or not is_blank(fields)):
                        self.one_row(row, fields, on_row, cross_row_only)
                self.flush(_SPREAD_EVERY)
                continue
            emails, orgs, cols = proof
            size = len(block)
            result.rows += size
            result.last_row = first + size - 1
            if on_row is not None:
                for row, fields in enumerate(block, first):
                    on_row(row, fields, None)
            self.add_block(emails, orgs, cols)
        self.flush()

    def touches_suspects(self, proof: tuple[list[str], list[str] | None, list[tuple[str, ...]]]) -> bool:
        emails, orgs, cols = proof
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

    def export(self, keys_file: Path) -> _Partial:
        """What a second process hands back: its counts and issues; its keys go to ``keys_file``."""
        self.flush()
        lengths = {}
        with open(keys_file, "wb") as handle:
            for name in _KEY_ARRAYS:
                lengths[name] = [len(bucket) for bucket in getattr(self, name)]
                for bucket in getattr(self, name):
                    bucket.tofile(handle)
        return _Partial(self.result, self.next_row, lengths)

    def merge(self, part: _Partial, keys_file: Path, row_offset: int) -> None:
        """Add the counts, issues and keys of the window after this one; its rows start after ``row_offset``."""
        mine, theirs = self.result, part.result
        mine.rows += theirs.rows
        mine.invalid_rows += theirs.invalid_rows
        mine.memberships += theirs.memberships
        mine.plaintext_passwords += theirs.plaintext_passwords
        mine.hash_types.update(theirs.hash_types)
        mine.organizations |= theirs.organizations
        if theirs.rows:
            mine.last_row = theirs.last_row + row_offset
        mine.issue_count += theirs.issue_count
        for code, tally in theirs.issues.items():
            rows = [row + row_offset for row in tally.rows]
            if code not in mine.issues:
                first = tally.rows[0]
                message = f"Row {first + row_offset}" + tally.message.removeprefix(f"Row {first}")
                mine.issues[code] = IssueTally(code, message=message)
            ours = mine.issues[code]
            ours.count += tally.count
            ours.rows = (ours.rows + rows)[:EXAMPLE_ROWS]
        self.next_row = part.next_row + row_offset
        # The other half's keys stay in its file, read back one bucket at a time: memory holds one half.
        places: dict[str, list[tuple[int, int]]] = {}
        offset = 0
        for name, counts in part.key_counts.items():
            places[name] = []
            for count in counts:
                places[name].append((offset, count))
                offset += count * 8
        self.spill = (keys_file, places)

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

    def buckets(self, name: str) -> Iterator[array[int]]:
        """The key buckets called ``name``, each with the other process's keys for it read back in."""
        if self.spill is None:
            yield from getattr(self, name)
            return
        path, places = self.spill
        with open(path, "rb") as handle:
            for bucket, (offset, count) in zip(getattr(self, name), places[name], strict=True):
                combined = array("q", bucket)
                handle.seek(offset)
                combined.fromfile(handle, count)
                yield combined

    def pair_buckets(self) -> Iterator[array[int]]:
        if self.multi_org:
            yield from self.buckets("pair_keys")
        else:
            yield from self.buckets("member_keys")
            yield from self.buckets("loner_keys")

    def externals_conflict(self) -> bool:
        """Some external_id goes with two emails: more distinct (external_id, email) pairs than external_ids."""
        distinct = sum(len(set(keys)) for keys in self.buckets("external_keys"))
        return distinct != sum(len(set(pairs)) for pairs in self.buckets("external_pairs"))

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
        for keys, owned in zip(self.buckets("external_keys"), self.buckets("external_pairs"), strict=True):
            if self.align_externals and len(set(keys)) != len(set(owned)):
                owners: dict[int, set[int]] = {}
                for key, pair in zip(keys, owned, strict=True):
                    owners.setdefault(key, set()).add(pair)
                externals.update(key for key, seen in owners.items() if len(seen) > 1)
        return _Suspects(pairs, externals, RowValidator(self.columns, single_org=self.single_org))

    def finish(self) -> ScanResult:
        result = self.result
        users = several = 0
        for members, loners in zip(self.buckets("member_keys"), self.buckets("loner_keys"), strict=True):
            per_user = Counter(members)
            # Each clean membership row is a distinct (email, organization): a count above 1 is several orgs.
            several += len(per_user) - Counter(per_user.values())[1]
            users += len(per_user.keys() | set(loners)) if loners else len(per_user)
        result.users = users
        result.users_in_several_orgs = several if self.multi_org else 0
        result.totp_users = sum(len(set(keys)) for keys in self.buckets("totp_keys"))
        kinds = result.hash_types
        result.hash_types = Counter()
        for kind, count in kinds.items():
            if count:
                result.hash_types[kind] += count
        return result
