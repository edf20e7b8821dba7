"""Firebase Authentication: ``firebase auth:export`` as JSON (``{"users": [...]}``) or its header-less CSV.

Hashes are Firebase's scrypt variant: each user's ``passwordHash`` and ``salt`` plus the project's
parameters (``--hash-config``: the console's ``hash_config { ... }`` block, or the same keys as JSON),
which are never in the export; an export with hashes and no parameters is refused before anything is
written. Users whose hash Firebase did not export (imported with another algorithm and never signed in
since) and provider-only users go to the reset list. Custom claims (``customAttributes``) become metadata
and may name the organization and roles (``--org-attribute``, ``--role-attribute``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from core import hashes
from core.errors import OptionsError
from core.sources.model import NoPassword, SourceInputs, SourceUser, membership, split_name
from core.sources.readers import csv_rows, json_items, json_object, open_text
from core.sources.spill import Spill

__all__ = ["read"]

_CSV_WIDTH = 28
# Columns of the header-less CSV (firebase-tools transUserToArray); providers are 4 columns each.
_PROVIDERS = (("google.com", 7), ("facebook.com", 11), ("twitter.com", 15), ("github.com", 19))


def _claims(value: Any) -> dict[str, Any]:
    """``customAttributes``: a JSON object; any other non-blank text is kept whole as one attribute."""
    claims = json_object(value)
    if claims is not None:
        return claims
    return {"custom_attributes": value} if isinstance(value, str) and value.strip() else {}


def _from_csv(fields: list[str]) -> dict[str, Any]:
    providers = [
        {"providerId": provider, "rawId": fields[at], "email": fields[at + 1], "displayName": fields[at + 2]}
        for provider, at in _PROVIDERS
        if fields[at]
    ]
    raw = {
        "localId": fields[0],
        "email": fields[1],
        "emailVerified": fields[2].lower() == "true",
        "passwordHash": fields[3],
        "salt": fields[4],
        "displayName": fields[5],
        "providerUserInfo": providers,
        "createdAt": fields[23],
        "lastSignedInAt": fields[24],
        "phoneNumber": fields[25],
        "disabled": fields[26].lower() == "true",
        "customAttributes": fields[27],
    }
    return {key: value for key, value in raw.items() if value not in ("", None)}


class _Tally:
    def __init__(self) -> None:
        self.malformed: list[int] = []
        self.mfa = 0


def _records(path: Any, tally: _Tally) -> Iterator[dict[str, Any]]:
    with open_text(path) as handle:
        first = handle.read(64).lstrip()[:1]
    if first in ("{", "["):
        yield from json_items(path, "users")
        return
    for number, fields in csv_rows(path):
        # 28 values and a trailing comma; a display name holding '"' breaks the row (firebase-tools does not
        # escape it), and the disabled flag after it can no longer be trusted.
        if len(fields) not in (_CSV_WIDTH, _CSV_WIDTH + 1) or (len(fields) > _CSV_WIDTH and fields[-1]):
            tally.malformed.append(number)
            yield {"__malformed__": True}
            continue
        yield _from_csv(fields)


def _user(raw: dict[str, Any], inputs: SourceInputs, tally: _Tally) -> SourceUser:
    providers = [item for item in raw.get("providerUserInfo") or [] if isinstance(item, dict)]
    first, last = split_name(raw.get("displayName"))
    user = SourceUser(
        source_id=str(raw.get("localId") or ""),
        email=raw.get("email"),
        email_verified=bool(raw.get("emailVerified")),
        first_name=first,
        last_name=last,
        disabled=bool(raw.get("disabled")),
        phone_only=not raw.get("email") and bool(raw.get("phoneNumber")),
        alt_emails=tuple(str(item["email"]) for item in providers if item.get("email")),
    )
    claims = _claims(raw.get("customAttributes"))
    user.metadata = {
        **claims,
        "firebase_providers": ",".join(str(item.get("providerId")) for item in providers),
        "phone_number": raw.get("phoneNumber"),
        "firebase_created_at": raw.get("createdAt"),
        "firebase_last_sign_in_at": raw.get("lastSignedInAt") or raw.get("lastLoginAt"),
    }
    if raw.get("mfaInfo"):
        tally.mfa += 1
    if raw.get("passwordHash") and raw.get("salt"):
        if inputs.hash_config is None:
            raise OptionsError(
                "firebase: the export holds password hashes but --hash-config was not given: copy the project's "
                "hash_config block from the console (Authentication -> Users -> Password hash parameters)"
            )
        user.password = hashes.firebase_scrypt(str(raw["passwordHash"]), str(raw["salt"]), inputs.hash_config)
    elif providers:
        user.no_password = NoPassword.SOCIAL_ONLY
        user.no_password_detail = "signs in with " + ",".join(str(item.get("providerId")) for item in providers)
    else:
        user.no_password_detail = "Firebase exported no hash (only its own scrypt hashes are exported)"
    if inputs.org_attribute and (found := membership(claims.get(inputs.org_attribute))):
        user.memberships.append(found)
    if inputs.role_attribute:
        roles = claims.get(inputs.role_attribute)
        user.roles = (roles,) if isinstance(roles, str) else tuple(str(role) for role in roles or ())
    return user


def read(inputs: SourceInputs, spill: Spill, warnings: list[str]) -> Iterator[SourceUser]:
    """The users of the export files (JSON or CSV, told apart by their first character)."""
    tally = _Tally()
    for path in inputs.users:
        for raw in _records(path, tally):
            if raw.get("__malformed__"):
                yield SourceUser(source_id="", skip="malformed_row")
                continue
            yield _user(raw, inputs, tally)
    if tally.malformed:
        rows = ", ".join(map(str, tally.malformed[:10]))
        warnings.append(
            f"{len(tally.malformed):,} CSV rows are malformed (firebase-tools does not escape quotes in display "
            f"names) and were skipped (malformed_row): rows {rows}. Export as JSON to keep them."
        )
    if tally.mfa:
        warnings.append(
            f"{tally.mfa:,} users had multi-factor sign-in (mfaInfo): Firebase exports no factor secrets, so "
            "they enrol again in WorkOS"
        )
