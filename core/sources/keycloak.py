"""Keycloak: ``kc.sh export`` (the realm file and its ``<realm>-users-<n>.json`` files, or directories).

Only ``kc.sh export`` carries hashes (the admin REST API returns ``secretData: null``). A password
credential's ``secretData`` and ``credentialData`` go to the registry (pbkdf2-sha1/256/512 and argon2;
other hash providers are refused by name). A TOTP credential (HmacSHA1, 6 digits, 30 s) becomes
``totp_secret``: Keycloak keeps the raw key as text, WorkOS takes it base32-encoded. LDAP-federated users
(``federationLink``) have no local hash. Groups become organizations (the path without its leading ``/``
is the external id, the last segment the name); realm and client roles become role names, without
Keycloak's built-in ``default-roles-<realm>``, ``offline_access`` and ``uma_authorization``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from core import hashes
from core.errors import SourceError
from core.sources.model import Membership, NoPassword, SourceInputs, SourceUser, mapping
from core.sources.readers import json_items
from core.sources.spill import Spill

__all__ = ["read"]

_BUILT_IN_ROLES = frozenset({"offline_access", "uma_authorization"})


def _files(paths: list[Path]) -> list[Path]:
    """Every export file: directories expand to their realm and users files, realm file first."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(path.glob("*-realm.json")) + sorted(path.glob("*-users-*.json")))
        else:
            found.append(path)
    if not found:
        raise SourceError("keycloak: no *-realm.json or *-users-*.json file in " + ", ".join(map(str, paths)))
    return found


def _parsed(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    try:
        parsed = json.loads(value) if isinstance(value, str) else None
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _otp(credential: dict[str, Any]) -> str | None:
    """The base32 secret of a TOTP credential WorkOS can take (SHA-1, 6 digits, 30 s), else None."""
    data, secret = _parsed(credential.get("credentialData")), _parsed(credential.get("secretData"))
    value = secret.get("value")
    standard = (data.get("subType"), data.get("digits"), data.get("period"), data.get("algorithm"))
    if not isinstance(value, str) or not value or standard != ("totp", 6, 30, "HmacSHA1"):
        return None
    return base64.b32encode(value.encode()).decode()


def _user(raw: dict[str, Any], realm: str, tallies: dict[str, int]) -> SourceUser:
    credentials = [item for item in raw.get("credentials") or [] if isinstance(item, dict)]
    user = SourceUser(
        source_id=str(raw.get("id") or ""),
        email=raw.get("email"),
        email_verified=bool(raw.get("emailVerified")) if raw.get("email") else None,
        first_name=raw.get("firstName"),
        last_name=raw.get("lastName"),
        disabled=raw.get("enabled") is False,
    )
    attributes = mapping(raw.get("attributes"))
    user.metadata = {key: value[0] if isinstance(value, list) and len(value) == 1 else value
                     for key, value in attributes.items()}  # fmt: skip
    user.metadata["keycloak_username"] = raw.get("username")
    password = next((item for item in credentials if item.get("type") == "password"), None)
    if password is not None:
        user.password = hashes.keycloak_password(
            _parsed(password.get("secretData")), _parsed(password.get("credentialData"))
        )
    elif raw.get("federationLink"):
        user.no_password_detail = "federated from a user directory (LDAP): the hash stays there"
    elif raw.get("federatedIdentities"):
        user.no_password = NoPassword.SOCIAL_ONLY
        user.no_password_detail = "signs in with " + ",".join(
            str(item.get("identityProvider")) for item in raw["federatedIdentities"]
        )
    else:
        user.no_password_detail = "no password credential in the export"
    for credential in credentials:
        if credential.get("type") == "otp":
            user.totp_secret = _otp(credential)
            tallies["otp_unsupported"] += user.totp_secret is None
    roles = [role for role in raw.get("realmRoles") or [] if role not in _BUILT_IN_ROLES]
    roles = [role for role in roles if role != f"default-roles-{realm}"]
    for client_roles in (raw.get("clientRoles") or {}).values():
        roles.extend(client_roles or [])
    user.roles = tuple(dict.fromkeys(str(role) for role in roles))
    for group in raw.get("groups") or []:
        path = str(group).strip("/")
        if path:
            user.memberships.append(Membership(path, path.rsplit("/", 1)[-1]))
    return user


def read(inputs: SourceInputs, spill: Spill, warnings: list[str]) -> Iterator[SourceUser]:
    """The users of every export file (realm files holding users too, as ``--users realm_file`` writes)."""
    tallies = {"otp_unsupported": 0, "users": 0}
    for path in _files(inputs.users):
        realm = path.name.split("-users-")[0].removesuffix("-realm.json")
        for raw in json_items(path, "users"):
            tallies["users"] += 1
            yield _user(raw, realm, tallies)
    if not tallies["users"]:
        warnings.append(
            "keycloak: the files hold no users; kc.sh export writes them to <realm>-users-<n>.json next to the "
            "realm file (copy those too, or export with --users realm_file)"
        )
    if tallies["otp_unsupported"]:
        warnings.append(
            f"{tallies['otp_unsupported']:,} OTP credentials are not TOTP with HmacSHA1, 6 digits and 30 s "
            "(WorkOS's only kind) and were left out: those users enrol again"
        )
