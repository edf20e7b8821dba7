"""Clerk: the dashboard's user export (CSV with password digests and TOTP secrets) and org memberships.

Each row names its hasher (``password_hasher``); the registry converts bcrypt, argon2, Clerk's
``scrypt_firebase`` and pbkdf2 digests and refuses the rest by name. The primary email is the user's
email, verified when it is in ``verified_email_addresses``; the other addresses go to metadata
(``alt_emails``), never to extra users. Organizations are not in the CSV: ``--memberships`` reads the
Backend API's ``GET /v1/organizations/{id}/memberships`` pages; role keys lose Clerk's ``org:`` prefix
(``org:admin`` is ``admin``; ``--role-map`` matches the name without the prefix).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from core import hashes
from core.errors import SourceError
from core.sources.model import SourceInputs, SourceUser, base32_secret, membership
from core.sources.readers import csv_rows, json_items
from core.sources.spill import Spill

__all__ = ["read"]

_MEMBERS = "clerk_member"
_SEPARATORS = re.compile(r"[|,;]")
_COLUMNS = (
    "id",
    "first_name",
    "last_name",
    "username",
    "primary_email_address",
    "primary_phone_number",
    "verified_email_addresses",
    "unverified_email_addresses",
    "totp_secret",
    "password_digest",
    "password_hasher",
)


def _load_members(inputs: SourceInputs, spill: Spill) -> None:
    if inputs.memberships is None:
        return
    for item in json_items(inputs.memberships, "data"):
        organization = item.get("organization") or {}
        user_id = (item.get("public_user_data") or {}).get("user_id")
        if organization.get("id") and user_id:
            role = str(item.get("role") or "").removeprefix("org:")
            spill.put(_MEMBERS, user_id, [organization["id"], organization.get("name"), [role] if role else []])


def _addresses(text: str) -> list[str]:
    return [item.strip() for item in _SEPARATORS.split(text or "") if item.strip()]


def read(inputs: SourceInputs, spill: Spill, warnings: list[str]) -> Iterator[SourceUser]:
    """The users of the CSV export(s), with memberships joined by Clerk user id."""
    _load_members(inputs, spill)
    bad_totp = 0
    for path in inputs.users:
        rows = csv_rows(path)
        header = [name.strip().lower() for name in next(rows, (0, []))[1]]
        missing = [name for name in ("id", "primary_email_address") if name not in header]
        if missing:
            raise SourceError(f"{path}: not a Clerk export (no {', '.join(missing)} column)")
        index = {name: header.index(name) for name in _COLUMNS if name in header}
        for _, fields in rows:
            cells = {name: fields[at].strip() if at < len(fields) else "" for name, at in index.items()}

            def cell(name: str, cells: dict[str, str] = cells) -> str:
                return cells.get(name, "")

            email = cell("primary_email_address")
            verified = {address.lower() for address in _addresses(cell("verified_email_addresses"))}
            user = SourceUser(
                source_id=cell("id"),
                email=email or None,
                email_verified=email.lower() in verified if email else None,
                first_name=cell("first_name") or None,
                last_name=cell("last_name") or None,
                phone_only=not email and bool(cell("primary_phone_number")),
                alt_emails=tuple(
                    _addresses(cell("verified_email_addresses")) + _addresses(cell("unverified_email_addresses"))
                ),
            )
            user.metadata = {"clerk_username": cell("username"), "phone_number": cell("primary_phone_number")}
            digest = cell("password_digest")
            if digest:
                user.password = hashes.convert(digest, hint=cell("password_hasher") or None)
            else:
                user.no_password_detail = "no password in Clerk (OAuth, passkey or email-code sign-in)"
            if secret := cell("totp_secret"):
                user.totp_secret = base32_secret(secret)
                bad_totp += user.totp_secret is None
            for org_id, org_name, roles in spill.get(_MEMBERS, user.source_id) if inputs.memberships else []:
                found = membership(org_id, org_name, roles)
                if found:
                    user.memberships.append(found)
            yield user
    if bad_totp:
        warnings.append(f"{bad_totp:,} TOTP secrets are not base32 and were left out (those users enrol again)")
