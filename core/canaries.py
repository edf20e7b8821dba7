"""Login canaries: prove that imported passwords work by signing a few known test accounts in.

Verify can never read a hash back, so the only proof that a hash type imported correctly is a sign-in. A
canary file is a CSV with ``email`` and ``password`` columns for a few accounts whose passwords the user
knows; each is tried once with the password grant (``POST /user_management/authenticate``, which needs the
application's ``WORKOS_CLIENT_ID``). The hash type of each account comes from the migration's own file, so
the report says which hash types are proven to work and which failed, and why. Passwords live in memory
for the call only: never logged, never in a report, an error or an exception text.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, Field

from core.csvsource import CsvSource
from core.errors import AuthenticationError, InvalidRequest, OptionsError, SourceError, WorkOSError
from core.workos.client import WorkOSClient

__all__ = [
    "MAX_CANARIES",
    "PASSWORD_ACCEPTED_CODES",
    "CanaryOutcome",
    "CanaryReport",
    "CanaryResult",
    "hash_types_of",
    "read_canaries",
    "run_canaries",
]

MAX_CANARIES = 50
"""WorkOS allows 10 sign-ins per email a minute; a canary file is a handful of test accounts, not a user list."""
PASSWORD_ACCEPTED_CODES = frozenset(
    {"email_verification_required", "mfa_enrollment", "mfa_challenge", "organization_selection_required"}
)
"""Answers that come only after WorkOS accepted the password: the sign-in needs a further step, the hash works."""


class CanaryOutcome(StrEnum):
    """What one canary sign-in proved."""

    SIGNED_IN = "signed_in"  # the password worked
    PASSWORD_ACCEPTED = "password_accepted"  # the password worked; the sign-in needs a further step
    REJECTED = "rejected"  # WorkOS refused the password (wrong password, or a hash that does not check)
    ERROR = "error"  # the sign-in could not be tried (see reason)


class CanaryResult(BaseModel):
    """One canary account: its hash type in the migration's file, and what its sign-in proved."""

    email: str
    hash_type: str | None = Field(description="The row's password_hash_type, 'plaintext' for a password column, "
                                  "None when the email is not in the file.")  # fmt: skip
    outcome: CanaryOutcome
    reason: str


class CanaryReport(BaseModel):
    """Which hash types are proven to work by a sign-in, and which failed."""

    results: list[CanaryResult]
    proven: list[str] = Field(description="Hash types with at least one successful sign-in.")
    failed: list[str] = Field(description="Hash types with at least one refused sign-in.")

    @property
    def all_signed_in(self) -> bool:
        return all(r.outcome in (CanaryOutcome.SIGNED_IN, CanaryOutcome.PASSWORD_ACCEPTED) for r in self.results)


def read_canaries(path: Path) -> list[tuple[str, str]]:
    """``(email, password)`` pairs from a canary CSV. Raises ``SourceError`` naming the row, never the password."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = [name.strip().lower() for name in next(reader, [])]
            if "email" not in header or "password" not in header:
                raise SourceError(f"the login canary file {path} needs an 'email' and a 'password' column")
            email_at, password_at = header.index("email"), header.index("password")
            pairs: list[tuple[str, str]] = []
            for number, fields in enumerate(reader, start=2):
                if not any(field.strip() for field in fields):
                    continue
                if len(fields) <= max(email_at, password_at) or not fields[email_at].strip() or not fields[password_at]:
                    raise SourceError(f"row {number} of the login canary file {path} lacks an email or a password")
                pairs.append((fields[email_at].strip().lower(), fields[password_at]))
    except OSError as exc:
        raise SourceError(f"cannot read the login canary file {path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise SourceError(f"the login canary file {path} is not a readable UTF-8 CSV ({type(exc).__name__})") from None
    if len(pairs) > MAX_CANARIES:
        raise OptionsError([f"the login canary file holds {len(pairs)} accounts: at most {MAX_CANARIES}"])
    return pairs


def hash_types_of(source: CsvSource, emails: set[str]) -> dict[str, str | None]:
    """The hash type each of ``emails`` has in the migration's file (its first row with a password wins)."""
    columns = source.columns
    found: dict[str, str | None] = {}
    for _row, fields in source.records():
        email = fields[columns.email].strip().lower() if columns.email < len(fields) else ""
        if email not in emails or found.get(email):
            continue
        found[email] = _hash_type(fields, columns.password_hash_type, columns.password_hash, columns.password)
    return found


def _hash_type(fields: list[str], type_at: int | None, hash_at: int | None, password_at: int | None) -> str | None:
    def value(index: int | None) -> str:
        return fields[index].strip() if index is not None and index < len(fields) else ""

    if value(hash_at):
        return value(type_at) or "unknown"
    return "plaintext" if value(password_at) else None


async def run_canaries(
    client: WorkOSClient, canaries: list[tuple[str, str]], *, client_id: str, hash_types: Mapping[str, str | None]
) -> CanaryReport:
    """Sign each canary in once and report what it proved. Raises ``AuthenticationError`` when WorkOS refuses the
    application itself (a wrong ``WORKOS_CLIENT_ID`` or key)."""
    results = [await _one(client, email, password, client_id, hash_types.get(email)) for email, password in canaries]
    proven = sorted({r.hash_type or "none" for r in results if r.outcome is not CanaryOutcome.REJECTED
                     and r.outcome is not CanaryOutcome.ERROR})  # fmt: skip
    failed = sorted({r.hash_type or "none" for r in results if r.outcome is CanaryOutcome.REJECTED})
    return CanaryReport(results=results, proven=proven, failed=failed)


async def _one(client: WorkOSClient, email: str, password: str, client_id: str, hash_type: str | None) -> CanaryResult:
    def result(outcome: CanaryOutcome, reason: str) -> CanaryResult:
        return CanaryResult(email=email, hash_type=hash_type, outcome=outcome, reason=reason)

    try:
        await client.authenticate_password(client_id=client_id, email=email, password=password)
    except AuthenticationError as exc:
        if exc.code in PASSWORD_ACCEPTED_CODES:
            return result(CanaryOutcome.PASSWORD_ACCEPTED, f"the password works; WorkOS then asks for {exc.code}")
        raise
    except InvalidRequest as exc:
        if exc.code == "invalid_credentials":
            why = (
                "WorkOS refused the password: it is wrong, or the imported hash does not check"
                if hash_type not in (None, "plaintext")
                else "WorkOS refused the password: it is wrong, or the user has none"
            )
            if hash_type is None:
                why = "WorkOS refused the password, and the file gives this user no password or hash"
            return result(CanaryOutcome.REJECTED, why)
        if exc.code == "invalid_client":
            raise AuthenticationError(
                "WorkOS refused WORKOS_CLIENT_ID: set the client id of this environment's application",
                status=exc.status,
                code=exc.code,
            ) from None
        return result(CanaryOutcome.ERROR, f"the sign-in failed: {exc.code or exc.status}")
    except WorkOSError as exc:
        return result(CanaryOutcome.ERROR, f"the sign-in could not be tried: {type(exc).__name__} {exc.code or ''}")
    return result(CanaryOutcome.SIGNED_IN, "signed in with the password")
