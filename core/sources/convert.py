"""From a provider's users to the canonical CSV: every user converted, put on the reset list, or skipped.

``convert_export`` runs one adapter (``core.sources.ADAPTERS``) and decides, for every user it yields:

- skipped (not in the CSV), by a stated policy: no email (``no_email``, ``phone_only``), an email WorkOS
  would refuse (``email_invalid``), disabled (``disabled`` under ``--disabled skip``), or merged into
  another user with the same email (``duplicate_email``: one WorkOS user, memberships unioned, the record
  with a usable password preferred, then one that is not social-only);
- converted: in the CSV with its hash (counted by hash type);
- reset: in the CSV without a password and on the reset list, with the reason (social-only, no hash
  exported, a hash WorkOS cannot import, missing project parameters, disabled under ``--disabled import``).

Users are kept in a private on-disk spill (``Spill``) until the end, so a 1,000,000-user export converts
in flat memory. The CSV, the reset list and the report are created ``0600``; hashes and TOTP secrets go to
the CSV's own columns only, never to the report, the reset list, a message or metadata. Each file is
written through ``core.outfile.private_output`` (whole or not at all).
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

from core import hashes
from core.errors import OptionsError
from core.hashes import ImportHash, Refusal
from core.outfile import private_output
from core.records import email_ok
from core.rules import EXTERNAL_ID_MAX_CHARS, METADATA_MAX_KEY_CHARS, METADATA_MAX_KEYS, METADATA_MAX_VALUE_CHARS
from core.sources.model import NoPassword, SourceUser
from core.sources.spill import Spill

__all__ = [
    "OUTPUT_COLUMNS",
    "RESET_LIST_COLUMNS",
    "ConvertOptions",
    "ConvertReport",
    "DisabledPolicy",
    "Outcome",
    "convert_users",
    "parse_role_map",
]

OUTPUT_COLUMNS = (
    "email",
    "first_name",
    "last_name",
    "email_verified",
    "password_hash",
    "password_hash_type",
    "password_salt_position",
    "external_id",
    "metadata",
    "org_external_id",
    "org_name",
    "role_slugs",
    "totp_secret",
)
RESET_LIST_COLUMNS = ("email", "external_id", "reason", "detail")

_ROLE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}").fullmatch


class DisabledPolicy(StrEnum):
    """What happens to users the source marks blocked or disabled."""

    SKIP = "skip"
    IMPORT = "import"


class Outcome(StrEnum):
    CONVERTED = "converted"
    RESET = "reset"
    SKIPPED = "skipped"


class ConvertOptions(BaseModel):
    """Where the conversion writes and the policies it applies."""

    model_config = ConfigDict(frozen=True)

    out: Path = Field(description="The canonical CSV to write.")
    report: Path | None = Field(None, description="Where to write the report (JSON).")
    reset_list: Path | None = Field(None, description="Where to write the reset list (CSV).")
    disabled: DisabledPolicy = Field(
        DisabledPolicy.SKIP,
        description="skip: leave disabled users out; import: import them without password or TOTP (WorkOS has "
        "no disabled flag, so a password would let them sign in) and put them on the reset list.",
    )
    role_map: dict[str, str] = Field(default_factory=dict, description="Source role name -> WorkOS role slug.")


class ConvertReport(BaseModel):
    """What the conversion did: every input user counted in exactly one outcome, with reasons."""

    source: str
    input_users: int = Field(description="Identities read from the export.")
    converted: int = Field(description="Users written with a password hash.")
    reset: int = Field(description="Users written without a password (each on the reset list).")
    skipped: int = Field(description="Users not written, by a stated policy (see reasons).")
    reasons: dict[str, dict[str, int]] = Field(description="Outcome -> reason (or hash type) -> users.")
    rows: int = Field(description="CSV rows written (one per user and organization).")
    memberships: int
    organizations: int
    unproven_hash_types: list[str] = Field(description="Hash types written whose WorkOS form is not documented.")
    metadata_dropped: dict[str, int] = Field(description="'key: why' -> users whose metadata entry did not fit.")
    roles_dropped: dict[str, int] = Field(description="Role name -> memberships where it was not a valid slug.")
    warnings: list[str]
    out: str
    report: str | None = None
    reset_list: str | None = None


def parse_role_map(pairs: list[str]) -> dict[str, str]:
    """``old=new`` pairs as a mapping; raises ``OptionsError`` naming each bad pair."""
    mapping, problems = {}, []
    for pair in pairs:
        old, sep, new = pair.partition("=")
        if not sep or not old.strip() or not _ROLE(new.strip()):
            problems.append(f"--role-map {pair!r}: expected OLD=new-slug (new: lower-case letters, digits, - and _)")
        else:
            mapping[old.strip()] = new.strip()
    if problems:
        raise OptionsError(problems)
    return mapping


def _flatten(prefix: str, value: Any, into: list[tuple[str, str]]) -> None:
    if isinstance(value, dict) and value:
        for key, item in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), item, into)
    elif value is not None and value != "" and value != [] and value != {}:
        text = value if isinstance(value, str) else _json_text(value)
        into.append((prefix, text))


def _json_text(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # integers past 64 bits, which json handles
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def flatten_metadata(metadata: dict[str, Any], dropped: Counter[str]) -> dict[str, str]:
    """Nested keys joined with '.', values as strings, within WorkOS's limits; what does not fit is counted."""
    pairs: list[tuple[str, str]] = []
    _flatten("", metadata, pairs)
    kept: dict[str, str] = {}
    for key, text in pairs:
        if len(key) > METADATA_MAX_KEY_CHARS:
            _count(dropped, f"{key[:60]}: key over {METADATA_MAX_KEY_CHARS} characters")
        elif len(text) > METADATA_MAX_VALUE_CHARS:
            _count(dropped, f"{key}: value over {METADATA_MAX_VALUE_CHARS} characters")
        elif len(kept) >= METADATA_MAX_KEYS:
            _count(dropped, f"{key[:60]}: over {METADATA_MAX_KEYS} keys")
        else:
            kept[key] = text
    return kept


_MAX_NAMES = 1000
"""Distinct names a report counts one by one; the rest share one entry, so memory stays flat."""


def _count(counter: Counter[str], name: str) -> None:
    counter[name if name in counter or len(counter) < _MAX_NAMES else "(other names)"] += 1


class _Tally:
    """Counts by outcome and reason, and the other per-run totals of the report."""

    def __init__(self) -> None:
        self.reasons: dict[Outcome, Counter[str]] = {outcome: Counter() for outcome in Outcome}
        self.input_users = 0
        self.rows = 0
        self.memberships = 0
        self.organizations: set[str] = set()
        self.metadata_dropped: Counter[str] = Counter()
        self.roles_dropped: Counter[str] = Counter()
        self.roles_without_org = 0
        self.external_ids_dropped = 0

    def count(self, outcome: Outcome, reason: str) -> None:
        self.reasons[outcome][reason] += 1


def _credentials(user: SourceUser, disabled_import: bool) -> tuple[list[str | None], tuple[str, str] | None]:
    """([hash type, hash, salt position], reset reason and detail) for a user."""
    if disabled_import:
        return [None, None, None], ("disabled", "disabled in the source: imported without password or TOTP")
    password = user.password
    if isinstance(password, ImportHash):
        return [password.hash_type, password.value, password.salt_position], None
    if isinstance(password, Refusal):
        return [None, None, None], (password.reason.value, f"{password.algorithm}: {password.detail}")
    return [None, None, None], (user.no_password.value, user.no_password_detail)


class _Converter:
    def __init__(self, source: str, options: ConvertOptions, spill: Spill) -> None:
        self.source, self.options, self.spill = source, options, spill
        self.tally = _Tally()
        self.seq = 0

    def _roles(self, names: tuple[str, ...]) -> list[str]:
        slugs = []
        for name in names:
            slug = self.options.role_map.get(name, name)
            if _ROLE(slug):
                slugs.append(slug)
            else:
                _count(self.tally.roles_dropped, name[:60])
        return list(dict.fromkeys(slugs))

    def add(self, user: SourceUser) -> None:
        tally = self.tally
        tally.input_users += 1
        email = (user.email or "").strip().lower()
        if user.skip:
            tally.count(Outcome.SKIPPED, user.skip)
            return
        if not email:
            tally.count(Outcome.SKIPPED, "phone_only" if user.phone_only else "no_email")
            return
        if not email_ok(email):
            tally.count(Outcome.SKIPPED, "email_invalid")
            return
        disabled_import = user.disabled and self.options.disabled is DisabledPolicy.IMPORT
        if user.disabled and not disabled_import:
            tally.count(Outcome.SKIPPED, "disabled")
            return
        credentials, reset = _credentials(user, disabled_import)
        metadata = dict(user.metadata)
        alt = [address for address in dict.fromkeys(a.strip().lower() for a in user.alt_emails) if address != email]
        if alt:
            metadata["alt_emails"] = ",".join(alt)
        if disabled_import:
            metadata["disabled"] = "true"
        external_id = user.source_id if user.source_id.isascii() and user.source_id else None
        if external_id is not None and len(external_id) > EXTERNAL_ID_MAX_CHARS:
            external_id = None
        if external_id is None:
            tally.external_ids_dropped += 1
        memberships: dict[str, list[Any]] = {}
        for membership in user.memberships:
            roles = self._roles(membership.roles + user.roles)
            entry = memberships.setdefault(membership.org_external_id, [membership.org_name, []])
            entry[0] = entry[0] or membership.org_name
            entry[1] = list(dict.fromkeys(entry[1] + roles))
        if user.roles and not user.memberships:
            tally.roles_without_org += 1
        payload = [
            user.source_id,
            external_id,
            user.email_verified,
            user.first_name,
            user.last_name,
            credentials,
            reset,
            flatten_metadata(metadata, tally.metadata_dropped),
            memberships,
            None if disabled_import else user.totp_secret,
        ]
        self.seq += 1
        # Who wins a shared email: a usable password, then a local account, then a social-only one.
        rank = 0 if reset is None else 2 if reset[0] == NoPassword.SOCIAL_ONLY.value else 1
        self.spill.add_user(email, rank, self.seq, payload)

    def finish(self, out: IO[str], resets: Any) -> None:
        tally, writer = self.tally, csv.writer(out)
        writer.writerow(OUTPUT_COLUMNS)
        for email, group in self.spill.users_by_email():
            (_, external_id, verified, first, last, credentials, reset, metadata, memberships, totp) = group[0]
            for other in group[1:]:
                tally.count(Outcome.SKIPPED, "duplicate_email")
                for org, (name, roles) in other[8].items():
                    entry = memberships.setdefault(org, [name, []])
                    entry[1] = list(dict.fromkeys(entry[1] + roles))
            if reset is None:
                tally.count(Outcome.CONVERTED, credentials[0])
            else:
                tally.count(Outcome.RESET, reset[0])
                if resets is not None:
                    resets.writerow([email, external_id or "", reset[0], reset[1]])
            user_cells = [
                email,
                first or "",
                last or "",
                "" if verified is None else ("true" if verified else "false"),
                credentials[1] or "",
                credentials[0] or "",
                credentials[2] or "",
                external_id or "",
                orjson.dumps(metadata).decode() if metadata else "",
            ]
            orgs = list(memberships.items()) or [("", [None, []])]
            for index, (org, (name, roles)) in enumerate(orgs):
                if org:
                    tally.memberships += 1
                    tally.organizations.add(org)
                role_cells = ",".join(roles) if org else ""
                first_row_only = (totp or "") if index == 0 else ""
                # A name lets --create-org-if-missing create the organization; the id is the best one known.
                writer.writerow([*user_cells, org, (name or org) if org else "", role_cells, first_row_only])
                tally.rows += 1

    def report(self) -> ConvertReport:
        tally, options = self.tally, self.options
        warnings: list[str] = []
        unproven = sorted(kind for kind in tally.reasons[Outcome.CONVERTED] if kind in hashes.UNPROVEN)
        warnings.extend(filter(None, map(hashes.unproven_warning, unproven)))
        if tally.roles_without_org:
            warnings.append(
                f"{tally.roles_without_org:,} users have roles but no organization: roles belong to memberships, "
                "so they are not written (give the organization with --org-attribute or the source's org file)"
            )
        if tally.roles_dropped:
            warnings.append(
                f"{len(tally.roles_dropped):,} role names are not WorkOS slugs and were left out (see roles_dropped; "
                "map them with --role-map OLD=new)"
            )
        if tally.metadata_dropped:
            warnings.append(
                f"{sum(tally.metadata_dropped.values()):,} metadata entries did not fit WorkOS's limits "
                f"({METADATA_MAX_KEYS} keys, keys of {METADATA_MAX_KEY_CHARS} characters, values of "
                f"{METADATA_MAX_VALUE_CHARS}) and were left out (see metadata_dropped)"
            )
        if tally.external_ids_dropped:
            warnings.append(
                f"{tally.external_ids_dropped:,} users have an id that is not ASCII of at most 128 characters: "
                "written without external_id"
            )
        counts = {outcome: sum(tally.reasons[outcome].values()) for outcome in Outcome}
        return ConvertReport(
            source=self.source,
            input_users=tally.input_users,
            converted=counts[Outcome.CONVERTED],
            reset=counts[Outcome.RESET],
            skipped=counts[Outcome.SKIPPED],
            reasons={outcome.value: dict(sorted(tally.reasons[outcome].items())) for outcome in Outcome},
            rows=tally.rows,
            memberships=tally.memberships,
            organizations=len(tally.organizations),
            unproven_hash_types=unproven,
            metadata_dropped=dict(tally.metadata_dropped.most_common(100)),
            roles_dropped=dict(tally.roles_dropped.most_common(100)),
            warnings=warnings,
            out=str(options.out),
            report=str(options.report) if options.report else None,
            reset_list=str(options.reset_list) if options.reset_list else None,
        )


def convert_users(
    source: str, users: Iterator[SourceUser], options: ConvertOptions, spill: Spill, warnings: list[str]
) -> ConvertReport:
    """Decide every user, write the CSV, the reset list and the report; returns the report.

    ``warnings`` are the adapter's, complete once ``users`` is exhausted; they lead the report's own.
    """
    converter = _Converter(source, options, spill)
    for user in users:
        converter.add(user)
    with ExitStack() as files:
        out = files.enter_context(private_output(options.out))
        resets = None
        if options.reset_list is not None:
            resets = csv.writer(files.enter_context(private_output(options.reset_list)))
            resets.writerow(RESET_LIST_COLUMNS)
        converter.finish(out, resets)
    report = converter.report()
    report.warnings[:0] = warnings
    if options.report is not None:
        with private_output(options.report) as handle:
            handle.write(report.model_dump_json(indent=2) + "\n")
    return report
