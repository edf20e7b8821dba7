"""What one CSV row means: ``UserRecord``, validation ``Issue``s and the checks that produce them.

Per-row checks (email, hashes, metadata, roles, TOTP, ...) and the cross-row rules (an email twice in the
same organization; an external_id shared by two emails) live here; their codes are listed in
``rules.RULES`` and docs/csv-format.md. Cross-row state is 64-bit keys, never rows. The rules run two ways
with one meaning ("the first clean row wins"): ``RowValidator`` decides row by row, for callers that need
the verdict at once, and ``scan`` checks the keys in bulk after its pass. Messages name the row and column
and never quote a password, hash or TOTP secret. Reading the file is left to ``csvsource``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any, NamedTuple

from core import hashes
from core.csvsource import Columns
from core.rules import (
    EXTERNAL_ID_MAX_CHARS,
    HASH_TYPES,
    METADATA_MAX_KEY_CHARS,
    METADATA_MAX_KEYS,
    METADATA_MAX_VALUE_CHARS,
    RULES,
    Severity,
)

__all__ = [
    "BlockCheck",
    "BlockProof",
    "BlockWarnings",
    "Issue",
    "RowCheck",
    "RowValidator",
    "UserRecord",
    "apply_fixes",
    "email_key",
    "email_ok",
    "external_key",
    "has_error",
    "make_block_check",
    "make_row_check",
    "org_columns_ignored",
    "pair_key",
    "parse_bool",
    "parse_roles",
    "to_record",
]


class Issue(NamedTuple):
    """One problem found in the CSV. ``row`` 1 is the header; ``fixable`` means ``validate --auto-fix`` fixes it."""

    row: int
    column: str | None
    code: str
    severity: Severity
    message: str
    fixable: bool


@dataclass(frozen=True, slots=True)
class UserRecord:
    """One valid row, ready to send: trimmed values, empty cells as None, auto-fixes applied."""

    row: int
    email: str
    first_name: str | None = None
    last_name: str | None = None
    email_verified: bool | None = None
    password: str | None = field(default=None, repr=False)
    password_hash: str | None = field(default=None, repr=False)
    password_hash_type: str | None = None
    password_salt_position: str | None = None
    external_id: str | None = None
    metadata: dict[str, str] | None = None
    org_id: str | None = None
    org_external_id: str | None = None
    org_name: str | None = None
    role_slugs: tuple[str, ...] = ()
    totp_secret: str | None = field(default=None, repr=False)


def email_key(email: str) -> int:
    """The 64-bit key of a normalised email."""
    return hash(email)


def pair_key(email: str, org: str | None) -> int:
    """The 64-bit key of (email, organization); ``org`` None means "no organization"."""
    return hash((email, org))


def external_key(external_id: str) -> int:
    """The 64-bit key of an external_id."""
    return hash(external_id)


# Possessive quantifiers: these grammars never need to give characters back, and the regex engine runs
# about twice as fast without keeping backtracking points.
_ATOM = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]++"
_LABEL = r"[a-z0-9]++(?:-++[a-z0-9]++)*+"
_EMAIL_RE = _ATOM + r"(?:\." + _ATOM + r")*+@(?:" + _LABEL + r"\.)++(?:[a-z]{2,63}|xn--[a-z0-9-]++)"
_BCRYPT_RE = hashes.BCRYPT_PATTERN
_EMAIL = re.compile(_EMAIL_RE).fullmatch
# Whole blocks at once ("line\nline\n..."): one regex call proves every line valid.
_EMAIL_LINES = re.compile(f"(?:{_EMAIL_RE}\n)*{_EMAIL_RE}").fullmatch
_BCRYPT_LINES = re.compile(f"(?:{_BCRYPT_RE}\n)*{_BCRYPT_RE}").fullmatch
_BCRYPT = re.compile(_BCRYPT_RE).fullmatch
_ROLE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}").fullmatch
_BASE32 = re.compile(r"[A-Z2-7]+=*").fullmatch
_TRUE = frozenset({"true", "1", "yes", "y", "t"})
_FALSE = frozenset({"false", "0", "no", "n", "f"})
_CANONICAL_BOOL = frozenset({"true", "false", "TRUE", "FALSE", "True", "False"})


def email_ok(email: str) -> bool:
    """Whether a trimmed, lower-cased email passes the ``email_invalid`` rule."""
    return len(email) <= 254 and bool(_EMAIL(email))


def parse_bool(value: str) -> bool | None:
    """``true``/``false`` and the usual variants (1/0, yes/no, y/n, t/f, any case); None otherwise."""
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    return None


def parse_roles(value: str) -> tuple[str, ...] | None:
    """Role slugs from a JSON array of strings or a comma list, de-duplicated in order; None if malformed."""
    text = value.strip()
    if not text:
        return ()
    if text.startswith("["):
        try:
            items = json.loads(text)
        except (ValueError, RecursionError):
            return None
        if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
            return None
    else:
        items = text.split(",")
    slugs = tuple(dict.fromkeys(item.strip() for item in items if item.strip()))
    return slugs if all(_ROLE(slug) for slug in slugs) else None


def _stringify(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _normal_totp(value: str) -> str:
    return value.replace(" ", "").strip().upper()


def _totp_ok(secret: str) -> bool:
    return bool(_BASE32(secret)) and len(secret.rstrip("=")) % 8 not in (1, 3, 6)


RowCheck = Callable[[int, list[str]], tuple[str | None, str | None, list[Issue] | None]]
"""``check(row, fields) -> (email, org, issues)``: the normalised email (None when unusable), the row's
organization key (None when it has none; always None in single-org mode) and its issues (None when none)."""


def _issue(code: str, row: int, detail: str) -> Issue:
    rule = RULES[code]
    where = f"Row {row}, column {rule.column}" if rule.column else f"Row {row}"
    return Issue(row, rule.column, code, rule.severity, f"{where}: {detail}", rule.fixable)


# The decoder's scanner parses one JSON value at an offset without building a second string (not in typeshed).
_scan_json = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def _metadata_fast_ok(text: str) -> bool:
    """True for the common case (a small JSON object of short strings), decided without ``json.loads``.

    Text with a ``\\u`` escape is left to ``_metadata_issues``: only an escape can make a lone surrogate.
    """
    if "\\u" in text:
        return False
    try:
        value, end = _scan_json(text, 0)
    except (StopIteration, ValueError, RecursionError):
        return False
    return end == len(text) and _clean_metadata(value)


def _clean_metadata(value: object) -> bool:
    """A JSON object within WorkOS's limits whose values are all strings."""
    if type(value) is not dict or len(value) > METADATA_MAX_KEYS:
        return False
    for key, item in value.items():
        if type(item) is not str or len(key) > METADATA_MAX_KEY_CHARS or len(item) > METADATA_MAX_VALUE_CHARS:
            return False
    return True


def _clean_metadata_all(values: list[Any]) -> bool:
    """``_clean_metadata`` for a whole column at once, with C-level passes instead of a loop per object."""
    if not _ONLY_DICT.issuperset(map(type, values)) or max(map(len, values), default=0) > METADATA_MAX_KEYS:
        return False
    items: list[Any] = list(chain.from_iterable(map(dict.values, values)))
    return (
        _ONLY_STR.issuperset(map(type, items))
        and max(map(len, items), default=0) <= METADATA_MAX_VALUE_CHARS
        and max(map(len, chain.from_iterable(values)), default=0) <= METADATA_MAX_KEY_CHARS
    )


def _metadata_issues(row: int, text: str) -> list[Issue]:
    if text.isspace():
        return []
    try:
        value = json.loads(text)
        encoded = json.dumps(value, ensure_ascii=False)
    except ValueError:
        return [_issue("metadata_not_json", row, "metadata is not valid JSON")]
    except RecursionError:
        return [_issue("metadata_too_deep", row, "metadata nests objects or arrays too deeply to read")]
    if not isinstance(value, dict):
        return [_issue("metadata_not_object", row, f"metadata is a JSON {type(value).__name__}, not an object")]
    try:
        encoded.encode("utf-8")
    except UnicodeEncodeError:
        return [_issue("metadata_invalid_unicode", row, "metadata escapes a lone surrogate, which is not a character")]
    issues = []
    if len(value) > METADATA_MAX_KEYS:
        issues.append(_issue("metadata_too_many_keys", row, f"metadata has {len(value)} keys (at most 50)"))
    not_strings = []
    for key, item in value.items():
        if len(key) > METADATA_MAX_KEY_CHARS:
            issues.append(_issue("metadata_key_too_long", row, f"metadata key {key[:40]!r}... is over 40 characters"))
        if not isinstance(item, str):
            not_strings.append(key)
        if len(_stringify(item)) > METADATA_MAX_VALUE_CHARS:
            issues.append(_issue("metadata_value_too_long", row, f"metadata value of {key!r} is over 600 characters"))
    if not_strings:
        names = ", ".join(repr(key) for key in not_strings[:5])
        issues.append(_issue("metadata_value_not_string", row, f"metadata values of {names} are not strings"))
    return issues


def _password_issues(row: int, password: str, hashed: str, kind: str, salt: str) -> list[Issue]:
    issues = []
    kind = kind.strip().lower()
    salt = salt.strip().lower()
    if hashed:
        if password:
            issues.append(_issue("password_with_hash", row, "both password and password_hash are set"))
        if not kind:
            issues.append(_issue("password_hash_type_missing", row, "password_hash is set without a type"))
        elif kind not in HASH_TYPES:
            issues.append(_issue("password_hash_type_unsupported", row, f"{kind[:20]!r} is not a WorkOS hash type"))
        elif problem := hashes.check(kind, hashed.strip()):
            issues.append(_issue("password_hash_invalid", row, problem))
    elif kind:
        issues.append(_issue("password_hash_type_without_hash", row, "password_hash_type is set without a hash"))
    if salt:
        if salt not in ("prefix", "suffix"):
            issues.append(_issue("password_salt_position_invalid", row, f"{salt[:20]!r} is not prefix or suffix"))
        elif not hashed or kind != "ssha256":
            issues.append(_issue("password_salt_position_not_ssha256", row, "salt position needs an ssha256 hash"))
    return issues


def _bool_issue(row: int, value: str) -> Issue | None:
    if parse_bool(value) is None:
        return _issue("email_verified_invalid", row, f"{value[:20]!r} is not true or false")
    if value.strip().lower() not in ("true", "false"):
        return _issue("email_verified_format", row, f"{value.strip()!r} is read as {parse_bool(value)}")
    return None


def make_row_check(columns: Columns, *, single_org: bool = False, require_membership: bool = False) -> RowCheck:
    """Build the per-row rule check for one file's columns (see ``RowCheck``).

    The returned function is the hot loop of planning: common valid values take a fast path and anything
    unusual falls through to the full checks above.
    """
    width = columns.width
    e_i, v_i, p_i, h_i, t_i = (
        columns.email,
        columns.email_verified,
        columns.password,
        columns.password_hash,
        (columns.password_hash_type),
    )
    s_i, x_i, m_i, k_i, r_i = (
        columns.password_salt_position,
        columns.external_id,
        columns.metadata,
        columns.totp_secret,
        columns.role_slugs,
    )
    o_i, ox_i, on_i = (None, None, None) if single_org else (columns.org_id, columns.org_external_id, columns.org_name)
    multi_org = not single_org and bool(columns.org_columns)
    has_password_cols = any(index is not None for index in (p_i, h_i, t_i, s_i))
    good_roles: dict[str, None] = {}

    def check(row: int, fields: list[str]) -> tuple[str | None, str | None, list[Issue] | None]:
        issues: list[Issue] | None = None
        if len(fields) != width:
            if len(fields) > width and any(value.strip() for value in fields[width:]):
                issues = [_issue("row_too_long", row, f"{len(fields)} fields for {width} header columns")]
            elif len(fields) < width:
                issues = [_issue("row_too_short", row, f"{len(fields)} fields for {width} header columns")]
            fields = (fields + [""] * width)[:width]
        email: str | None = fields[e_i].strip().lower()
        if not email:
            issues = (issues or []) + [_issue("email_missing", row, "the email is empty")]
            email = None
        elif len(email) > 254 or not _EMAIL(email):
            issues = (issues or []) + [_issue("email_invalid", row, f"{email[:80]!r} is not a valid email address")]
            email = None
        if v_i is not None:
            value = fields[v_i]
            if value and value not in _CANONICAL_BOOL and (found := _bool_issue(row, value)):
                issues = (issues or []) + [found]
        if has_password_cols:
            hashed = fields[h_i] if h_i is not None else ""
            kind = fields[t_i] if t_i is not None else ""
            password = fields[p_i] if p_i is not None else ""
            salt = fields[s_i] if s_i is not None else ""
            fast = (not password and not salt) and (
                (hashed and kind == "bcrypt" and _BCRYPT(hashed)) or not (hashed or kind)
            )
            if not fast and (found_list := _password_issues(row, password, hashed, kind, salt)):
                issues = (issues or []) + found_list
        if x_i is not None:
            external = fields[x_i]
            if external and (len(external) > EXTERNAL_ID_MAX_CHARS or not external.isascii()):
                code = "external_id_not_ascii" if not external.isascii() else "external_id_too_long"
                issues = (issues or []) + [_issue(code, row, f"external_id is {len(external)} characters")]
        if (
            m_i is not None
            and (text := fields[m_i])
            and not _metadata_fast_ok(text)
            and (found_list := _metadata_issues(row, text))
        ):
            issues = (issues or []) + found_list
        if k_i is not None and (secret := fields[k_i]) and not _totp_ok(_normal_totp(secret)):
            issues = (issues or []) + [_issue("totp_secret_invalid", row, "the TOTP secret is not base32")]
        org: str | None = None
        if multi_org:
            org_id = fields[o_i].strip() if o_i is not None else ""
            org_external = fields[ox_i].strip() if ox_i is not None else ""
            if org_id:
                org = org_id
                if org_external:
                    issues = (issues or []) + [_issue("org_id_and_external_id", row, "both org_id and org_external_id")]
                if not org_id.startswith("org_"):
                    issues = (issues or []) + [
                        _issue("org_id_invalid", row, f"{org_id[:40]!r} does not start with org_")
                    ]
            elif org_external:
                org = "\x00ext:" + org_external
            elif on_i is not None and (org_name := fields[on_i].strip()):
                org = "\x00name:" + org_name
            elif require_membership:
                issues = (issues or []) + [_issue("org_required", row, "no organization on this row")]
            else:
                issues = (issues or []) + [_issue("org_missing", row, "no organization: user without membership")]
        if r_i is not None and (roles := fields[r_i]) and roles not in good_roles:
            if parse_roles(roles) is None:
                issues = (issues or []) + [_issue("role_slug_invalid", row, f"{roles[:80]!r} has a malformed slug")]
            elif org is None and not single_org and roles.strip():
                issues = (issues or []) + [
                    _issue("roles_without_org", row, "roles are ignored without an organization")
                ]
            elif len(good_roles) < 1024:
                good_roles[roles] = None
        return email, org, issues

    return check


BlockColumns = list[tuple[str, ...]]
BlockWarnings = dict[str, list[int]]
"""Rows (indices in the block) with a warning the bulk check proved, by rule code."""
BlockProof = tuple[list[str], list[str] | None, BlockColumns, BlockWarnings]
BlockCheck = Callable[[list[list[str]]], BlockProof | None]
"""``check_block(block) -> (emails, orgs, columns, warnings) | None``: for a block of rows that are all
valid, each row's normalised email, its organization key (``orgs`` None when rows have no organization),
the block as columns and the rows with a warning it can prove in bulk (always empty unless the check was
built with ``warnings=True``); None when any row may have another issue, so the caller runs the per-row
check on that block."""

_CLEAN_BOOLS = frozenset({"", "true", "false", "TRUE", "FALSE", "True", "False"})
_CLEAN_PASSWORDS = frozenset({(False, ""), (True, "bcrypt")})
_ONLY_BCRYPT = frozenset({"bcrypt"})
_ONLY_DICT = frozenset({dict})
_ONLY_STR = frozenset({str})
_ONLY_EMPTY = frozenset({""})
_load_json = json.JSONDecoder().decode


def _only_not_strings(value: object) -> bool:
    """A metadata object whose one problem is values that are not strings (``metadata_value_not_string``)."""
    if type(value) is not dict or len(value) > METADATA_MAX_KEYS:
        return False
    try:
        return all(
            len(key) <= METADATA_MAX_KEY_CHARS and len(_stringify(item)) <= METADATA_MAX_VALUE_CHARS
            for key, item in value.items()
        )
    except RecursionError:  # nested too deep to write back: the row check names it
        return False


def make_block_check(columns: Columns, *, single_org: bool = False, warnings: bool = False) -> BlockCheck:
    """Build the bulk proof that a block of rows has no issue (see ``BlockCheck``).

    It only ever answers "all clean" or "look row by row": every test here is a stricter, whole-column
    form of a test in ``make_row_check``, run with one C-level call per column instead of one per cell.
    With ``warnings`` it also proves the two warnings exports most often carry on every row
    (``email_verified_format``: yes/no/1/0; ``metadata_value_not_string``: numbers or booleans in
    metadata) and returns their rows, so such a file stays on the bulk path; their messages are the row
    check's to write.
    """
    width = columns.width
    e_i, v_i, p_i, h_i, t_i = (
        columns.email,
        columns.email_verified,
        columns.password,
        columns.password_hash,
        columns.password_hash_type,
    )
    s_i, x_i, m_i, k_i, r_i = (
        columns.password_salt_position,
        columns.external_id,
        columns.metadata,
        columns.totp_secret,
        columns.role_slugs,
    )
    multi_org = not single_org and bool(columns.org_columns)
    o_i, ox_i, on_i = columns.org_id, columns.org_external_id, columns.org_name
    good_roles: set[str] = set()
    known_org_ids: set[str] = set()
    readable_bools: dict[str, bool] = {}  # value -> whether the row check warns about it (never an error)

    def bool_warnings(values: tuple[str, ...]) -> list[int] | None:
        """Rows whose email_verified is a readable non-canonical boolean; None when any is unreadable."""
        for value in set(values) - _CLEAN_BOOLS - readable_bools.keys():
            if parse_bool(value) is None:
                return None
            if len(readable_bools) < 1024:
                readable_bools[value] = value.strip().lower() not in ("true", "false")
        if len(readable_bools) >= 1024:
            return None
        return [index for index, value in enumerate(values) if readable_bools.get(value)]

    def stripped(cols: BlockColumns, index: int | None) -> list[str]:
        return [] if index is None else list(map(str.strip, cols[index]))

    def organizations(cols: BlockColumns) -> list[str] | None:
        """The rows' organization keys when every row names one the same unambiguous way, else None."""
        ids, externals, names = stripped(cols, o_i), stripped(cols, ox_i), stripped(cols, on_i)
        if ids and all(ids):
            if any(externals):
                return None
            new = set(ids) - known_org_ids
            if not all(value.startswith("org_") for value in new):
                return None
            if len(known_org_ids) < 100_000:
                known_org_ids.update(new)
            return ids
        if any(ids):
            return None
        if externals and all(externals):
            return ["\x00ext:" + value for value in externals]
        if not any(externals) and names and all(names):
            return ["\x00name:" + value for value in names]
        return None

    def check_block(block: list[list[str]]) -> BlockProof | None:
        size = len(block)
        if not size or min(map(len, block)) != width or max(map(len, block)) != width:
            return None
        cols = list(zip(*block, strict=True))
        text = "\n".join(cols[e_i]).lower()
        if text.count("\n") != size - 1 or not _EMAIL_LINES(text) or len(max(cols[e_i], key=len)) > 254:
            return None
        warned: BlockWarnings = {}
        if v_i is not None and not _CLEAN_BOOLS.issuperset(cols[v_i]):
            if not warnings or (rows := bool_warnings(cols[v_i])) is None:
                return None
            if rows:
                warned["email_verified_format"] = rows
        if (p_i is not None and any(cols[p_i])) or (s_i is not None and any(cols[s_i])):
            return None
        if h_i is not None or t_i is not None:
            cells = cols[h_i] if h_i is not None else ("",) * size
            kinds = set(cols[t_i]) if t_i is not None else {""}
            if kinds == _ONLY_BCRYPT and all(cells):
                present: Sequence[str] = cells
            elif kinds == _ONLY_EMPTY and not any(cells):
                present = ()
            elif t_i is not None and _CLEAN_PASSWORDS.issuperset(zip(map(bool, cells), cols[t_i], strict=True)):
                present = list(filter(None, cells))
            else:
                return None
            joined = "\n".join(present)
            if joined and (joined.count("\n") != len(present) - 1 or not _BCRYPT_LINES(joined)):
                return None
        if x_i is not None:
            joined = "".join(cols[x_i])
            if not joined.isascii() or (joined and len(max(cols[x_i], key=len)) > EXTERNAL_ID_MAX_CHARS):
                return None
        if m_i is not None and (texts := list(filter(None, cols[m_i]))):
            joined = "[" + ",".join(texts) + "]"
            if "\\u" in joined:
                return None  # an escape may hide a lone surrogate: the row check decides
            try:
                values = _load_json(joined)
            except (ValueError, RecursionError):
                return None
            if len(values) != len(texts):
                return None
            if not _clean_metadata_all(values):
                if not warnings or not all(map(_only_not_strings, values)):
                    return None
                # Values are read in the column's order: map them back to their rows, then keep the
                # rows with a value that is not a string.
                filled = [index for index, cell in enumerate(cols[m_i]) if cell]
                rows = [index for index, value in zip(filled, values, strict=True) if not _clean_metadata(value)]
                if rows:
                    warned["metadata_value_not_string"] = rows
        if k_i is not None and not all(_totp_ok(_normal_totp(value)) for value in filter(None, cols[k_i])):
            return None
        orgs = None
        if multi_org and (orgs := organizations(cols)) is None:
            return None
        if r_i is not None:
            for value in set(cols[r_i]) - good_roles:
                if parse_roles(value) is None or (not multi_org and not single_org and value.strip()):
                    return None
                if len(good_roles) < 1024:
                    good_roles.add(value)
        return text.split("\n"), orgs, cols, warned

    return check_block


def has_error(issues: list[Issue] | None) -> bool:
    """True when any issue is an error (warnings leave a row valid)."""
    return issues is not None and any(issue.severity == "error" for issue in issues)


def to_record(row: int, fields: list[str], columns: Columns) -> UserRecord:
    """The record of a row already known to be valid, with auto-fixes applied (no cross-row state).

    Metadata values are stringified, boolean-like ``email_verified`` is parsed, a hash type without a hash
    is dropped, empty cells become None.
    """

    def value(index: int | None) -> str | None:
        if index is None or index >= len(fields):
            return None
        return fields[index].strip() or None

    metadata_text = value(columns.metadata)
    metadata = None
    if metadata_text is not None:
        metadata = {key: _stringify(item) for key, item in json.loads(metadata_text).items()}
    verified = value(columns.email_verified)
    password_hash = value(columns.password_hash)
    hash_type = value(columns.password_hash_type)
    salt = value(columns.password_salt_position)
    roles_text = value(columns.role_slugs)
    secret = value(columns.totp_secret)
    return UserRecord(
        row=row,
        email=(value(columns.email) or "").lower(),
        first_name=value(columns.first_name),
        last_name=value(columns.last_name),
        email_verified=None if verified is None else parse_bool(verified),
        password=value(columns.password),
        password_hash=password_hash,
        password_hash_type=hash_type.lower() if hash_type and password_hash else None,
        password_salt_position=salt.lower() if salt else None,
        external_id=value(columns.external_id),
        metadata=metadata,
        org_id=value(columns.org_id),
        org_external_id=value(columns.org_external_id),
        org_name=value(columns.org_name),
        role_slugs=parse_roles(roles_text) or () if roles_text else (),
        totp_secret=_normal_totp(secret) if secret else None,
    )


def apply_fixes(fields: list[str], columns: Columns, issues: list[Issue]) -> list[str] | None:
    """The row with every fixable issue fixed (same width and column order), or None when none is fixable."""
    codes = {issue.code for issue in issues if issue.fixable}
    if not codes:
        return None
    fixed = list(fields)
    if "metadata_value_not_string" in codes and columns.metadata is not None:
        value = json.loads(fixed[columns.metadata])
        fixed[columns.metadata] = json.dumps({key: _stringify(item) for key, item in value.items()}, ensure_ascii=False)
    if columns.email_verified is not None:
        if "email_verified_format" in codes:
            fixed[columns.email_verified] = "true" if parse_bool(fixed[columns.email_verified]) else "false"
        elif "email_verified_invalid" in codes:
            fixed[columns.email_verified] = ""
    if "password_hash_type_without_hash" in codes and columns.password_hash_type is not None:
        fixed[columns.password_hash_type] = ""
    return fixed


class RowValidator:
    """Validate rows one at a time, cross-row rules included, keeping only 64-bit keys per row.

    ``check`` returns the row's ``UserRecord`` (None when the row has an error) and its issues. Only rows
    without per-row errors take part in the cross-row rules, and the first such row wins: a later row with
    the same (email, organization) is ``email_duplicate_in_org``; a later row whose external_id an earlier
    row's different email already uses is ``external_id_shared``. The same email in several rows with
    different organizations is several memberships of one user (counted in ``memberships``).
    In single-org mode the file's organization columns are ignored and the first ``check`` says so once.
    """

    def __init__(self, columns: Columns, *, single_org: bool = False, require_membership: bool = False) -> None:
        self.columns = columns
        self.single_org = single_org
        self._check = make_row_check(columns, single_org=single_org, require_membership=require_membership)
        self._pairs: dict[int, int] = {}
        self._external_ids: dict[int, tuple[int, int]] = {}
        self._warned_org_columns = not (single_org and columns.org_columns)
        self.users: set[int] = set()
        self.memberships = 0

    def check(self, row: int, fields: list[str]) -> tuple[UserRecord | None, list[Issue]]:
        """Validate one row: per-row rules, then the cross-row rules (see the class docstring)."""
        email, org, found = self._check(row, fields)
        issues = list(found or ())
        if not self._warned_org_columns:
            self._warned_org_columns = True
            issues.insert(0, org_columns_ignored(self.columns))
        if email is None or has_error(issues):
            return None, issues
        cross = self.cross_row(row, email, org, _cell(fields, self.columns.external_id))
        if cross:
            return None, issues + cross
        self.users.add(email_key(email))
        if org is not None or self.single_org:
            self.memberships += 1
        return to_record(row, fields, self.columns), issues

    def cross_row(self, row: int, email: str, org: str | None, external_id: str) -> list[Issue]:
        """The cross-row issues of a clean row, recording its keys when it has none."""
        issues = []
        pair = pair_key(email, org)
        first = self._pairs.get(pair)
        if first is not None:
            where = "in the same organization" if org is not None else "again"
            issues.append(_issue("email_duplicate_in_org", row, f"{email!r} appears {where} (first on row {first})"))
        external = external_id.strip()
        if external:
            owner = self._external_ids.get(external_key(external))
            if owner is not None and owner[0] != email_key(email):
                issues.append(
                    _issue("external_id_shared", row, f"{external!r} is already used by another email (row {owner[1]})")
                )
        if not issues:
            self._pairs[pair] = row
            if external:
                self._external_ids.setdefault(external_key(external), (email_key(email), row))
        return issues


def org_columns_ignored(columns: Columns) -> Issue:
    """The once-per-file warning that single-org mode ignores the file's organization columns."""
    names = ", ".join(columns.org_columns)
    return _issue("org_columns_ignored", 1, f"organization option given: columns {names} are ignored")


def _cell(fields: list[str], index: int | None) -> str:
    return "" if index is None or index >= len(fields) else fields[index]
