"""Auth0: the bulk user export (NDJSON, gzipped or not), the support team's password export, org members.

Users come from ``POST /api/v2/jobs/users-exports`` (format json: one user per line). Password hashes come
only from Auth0 support, as NDJSON keyed by ``_id.$oid`` (``alt_id`` when present); they are joined to
users by id, ``auth0|<alt_id or oid>``, never by email, because the support export's rows may lack the
email and one email may exist in two database connections. Organizations are in no user export: pages of
``GET /api/v2/organizations/{id}/members?fields=user_id,roles``, each wrapped with its organization
(``--org-members``), or an ``app_metadata`` key (``--org-attribute``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from core import hashes
from core.sources.model import NoPassword, SourceInputs, SourceUser, mapping, membership, split_name
from core.sources.readers import json_items, ndjson
from core.sources.spill import Spill

__all__ = ["read"]

_PASSWORDS = "auth0_password"
_MEMBERS = "auth0_member"


def _password_key(row: dict[str, Any]) -> str | None:
    oid = row.get("_id")
    identifier = row.get("alt_id") or (oid.get("$oid") if isinstance(oid, dict) else oid)
    return f"auth0|{identifier}" if isinstance(identifier, str) and identifier else None


def _load_passwords(inputs: SourceInputs, spill: Spill) -> int:
    if inputs.passwords is None:
        return 0
    rows = 0
    for row in ndjson(inputs.passwords):
        key, value = _password_key(row), row.get("passwordHash")
        if key and isinstance(value, str) and value:
            spill.put(_PASSWORDS, key, value)
            rows += 1
    return rows


def _load_members(inputs: SourceInputs, spill: Spill) -> None:
    if inputs.org_members is None:
        return
    for page in json_items(inputs.org_members):
        organization = page.get("organization") or {}
        org_id = organization.get("id")
        name = organization.get("display_name") or organization.get("name")
        for member in page.get("members") or []:
            roles = [role.get("name") for role in member.get("roles") or [] if isinstance(role, dict)]
            if org_id and member.get("user_id"):
                spill.put(_MEMBERS, member["user_id"], [org_id, name, roles])


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    return {"true": True, "false": False}.get(str(value).lower()) if value is not None else None


def _user(raw: dict[str, Any], inputs: SourceInputs, spill: Spill, matched: list[int]) -> SourceUser:
    user_id = str(raw.get("user_id") or "")
    identities = [item for item in raw.get("identities") or [] if isinstance(item, dict)]
    providers = [str(item.get("provider") or "") for item in identities]
    first, last = raw.get("given_name"), raw.get("family_name")
    name = raw.get("name")
    if not (first or last) and isinstance(name, str) and "@" not in name:
        first, last = split_name(name)
    user = SourceUser(
        source_id=user_id,
        email=raw.get("email"),
        email_verified=_bool(raw.get("email_verified")),
        first_name=first,
        last_name=last,
        disabled=bool(raw.get("blocked")),
        phone_only=not raw.get("email") and bool(raw.get("phone_number")),
        alt_emails=tuple(
            str(item["profileData"]["email"])
            for item in identities
            if isinstance(item.get("profileData"), dict) and item["profileData"].get("email")
        ),
    )
    app_metadata = mapping(raw.get("app_metadata"))
    user.metadata = {
        **mapping(raw.get("user_metadata")),
        **app_metadata,
        "auth0_connections": ",".join(dict.fromkeys(str(item.get("connection") or "") for item in identities)),
        "auth0_created_at": raw.get("created_at"),
        "auth0_last_login": raw.get("last_login"),
    }
    if "auth0" in providers or (not identities and user_id.startswith("auth0|")):
        stored = spill.get(_PASSWORDS, user_id) if inputs.passwords is not None else []
        if stored:
            matched[0] += 1
            user.password = hashes.convert(stored[0])
        elif inputs.passwords is None:
            user.no_password_detail = "no password export given (--passwords)"
        else:
            user.no_password_detail = "not in the password export"
    else:
        user.no_password = NoPassword.SOCIAL_ONLY
        user.no_password_detail = "signs in with " + ",".join(dict.fromkeys(providers))
    for org_id, org_name, roles in spill.get(_MEMBERS, user_id) if inputs.org_members else []:
        found = membership(org_id, org_name, roles)
        if found:
            user.memberships.append(found)
    if inputs.org_attribute and (found := membership(app_metadata.get(inputs.org_attribute))):
        user.memberships.append(found)
    if inputs.role_attribute:
        roles = app_metadata.get(inputs.role_attribute)
        user.roles = (roles,) if isinstance(roles, str) else tuple(str(role) for role in roles or ())
    return user


def read(inputs: SourceInputs, spill: Spill, warnings: list[str]) -> Iterator[SourceUser]:
    """The users of the bulk export files, with hashes and memberships joined by user id."""
    password_rows = _load_passwords(inputs, spill)
    _load_members(inputs, spill)
    matched = [0]
    for path in inputs.users:
        for raw in ndjson(path):
            yield _user(raw, inputs, spill, matched)
    if password_rows > matched[0]:
        warnings.append(
            f"{password_rows - matched[0]:,} rows of the password export match no user of the users export "
            "(joined by user id, auth0|<alt_id or _id>)"
        )
