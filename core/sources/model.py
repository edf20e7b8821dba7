"""What every source adapter produces: one ``SourceUser`` per identity in the provider's export.

Adapters only read and map; deciding what happens to each user (converted, reset list, skipped), merging
users that share an email and writing the files is ``convert``'s job, the same for every provider.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from core.hashes import FirebaseParams, ImportHash, Refusal

__all__ = [
    "Membership",
    "NoPassword",
    "SourceInputs",
    "SourceUser",
    "base32_secret",
    "mapping",
    "membership",
    "split_name",
]


class NoPassword(StrEnum):
    """Why a user has no hash to import (reset-list reasons besides the registry's refusals)."""

    SOCIAL_ONLY = "social_only"
    NO_HASH_EXPORTED = "no_hash_exported"


@dataclass(frozen=True, slots=True)
class Membership:
    """One organization the user belongs to, with the role names the source gives (mapped later)."""

    org_external_id: str
    org_name: str | None = None
    roles: tuple[str, ...] = ()


@dataclass(slots=True)
class SourceUser:
    """One identity of the export, mapped to WorkOS's fields; ``password`` None means no hash (see ``no_password``)."""

    source_id: str
    email: str | None = None
    email_verified: bool | None = None
    first_name: str | None = None
    last_name: str | None = None
    password: ImportHash | Refusal | None = field(default=None, repr=False)
    no_password: NoPassword = NoPassword.NO_HASH_EXPORTED
    no_password_detail: str = ""
    disabled: bool = False
    phone_only: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)
    memberships: list[Membership] = field(default_factory=list)
    roles: tuple[str, ...] = ()
    totp_secret: str | None = field(default=None, repr=False)
    alt_emails: tuple[str, ...] = ()
    skip: str | None = None
    """A reason the adapter already knows the user cannot be imported (e.g. ``deleted``, ``malformed_row``)."""


class SourceInputs(BaseModel):
    """The files and settings an adapter reads; which ones apply depends on the source (docs/sources.md)."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    users: list[Path] = Field(description="The export: files, or directories for Keycloak.")
    passwords: Path | None = Field(None, description="Auth0's password-hash export (NDJSON).")
    hash_config: FirebaseParams | None = Field(None, description="Firebase's project hash parameters.")
    org_members: Path | None = Field(None, description="Auth0 organization member pages.")
    memberships: Path | None = Field(None, description="Clerk organization memberships (Backend API JSON).")
    groups: Path | None = Field(None, description="Cognito group pages (list-users-in-group, with GroupName).")
    identities: Path | None = Field(None, description="Supabase auth.identities (CSV or JSON).")
    mfa_factors: Path | None = Field(None, description="Supabase auth.mfa_factors (CSV or JSON).")
    org_attribute: str | None = Field(None, description="The user attribute that names the organization.")
    role_attribute: str | None = Field(None, description="The user attribute that holds role names.")


def split_name(display: str | None) -> tuple[str | None, str | None]:
    """First token and the rest of a display name; (None, None) for an empty one."""
    parts = (display or "").strip().split(None, 1)
    if not parts:
        return None, None
    return parts[0], parts[1] if len(parts) > 1 else None


def membership(org: Any, name: Any = None, roles: Any = ()) -> Membership | None:
    """A membership from loosely typed source values (roles: a name or a list); None without an organization."""
    if org is None or org == "":
        return None
    names = (roles,) if isinstance(roles, str) else tuple(str(role) for role in roles or ())
    return Membership(str(org), str(name) if name else None, tuple(role for role in names if role))


def base32_secret(value: str) -> str | None:
    """A TOTP secret as WorkOS takes it (base32, upper case, no spaces), or None when it is not base32."""
    secret = value.replace(" ", "").upper()
    if not secret:
        return None
    try:
        unpadded = secret.rstrip("=")
        base64.b32decode(unpadded + "=" * (-len(unpadded) % 8))
    except (binascii.Error, ValueError):
        return None
    return secret


def mapping(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one (exports leave objects out or null)."""
    return value if isinstance(value, dict) else {}
