"""The sandbox's in-memory WorkOS environment: every collection, its indexes and the stored secrets.

Objects are kept as the JSON dicts the API returns (plain dicts, no per-request models), so a response is
the stored dict itself. Secrets (passwords, hashes, TOTP secrets) live in side tables that no response
and no dump ever includes. The operations live in ``users``, ``organizations`` and ``memberships``.
"""

from __future__ import annotations

import hashlib
from typing import Any

from core.workos.sandbox.collection import Collection
from core.workos.sandbox.ids import new_id, now_iso

__all__ = ["DEFAULT_ROLES", "SandboxState", "make_role", "reindex"]

DEFAULT_ROLES = (("member", "Member"), ("admin", "Admin"))


def make_role(slug: str, name: str, *, organization_id: str | None = None, **extra: Any) -> dict[str, Any]:
    """Build a Role object (environment role, or organization role when ``organization_id`` is given)."""
    stamp = now_iso()
    return {
        "object": "role",
        "id": extra.get("id") or new_id("role"),
        "slug": slug,
        "name": name,
        "description": extra.get("description"),
        "type": "OrganizationRole" if organization_id else "EnvironmentRole",
        "resource_type_slug": extra.get("resource_type_slug") or "organization",
        "permissions": list(extra.get("permissions") or []),
        "created_at": stamp,
        "updated_at": stamp,
    }


class SandboxState:
    """One WorkOS environment: users, organizations, memberships, roles and authentication factors."""

    def __init__(self) -> None:
        self.users = Collection()
        self.organizations = Collection()
        self.memberships = Collection()
        self.factors = Collection()
        self.user_by_email: dict[str, str] = {}
        self.user_by_external_id: dict[str, str] = {}
        self.org_by_external_id: dict[str, str] = {}
        self.passwords: dict[str, dict[str, str]] = {}
        self.totp_secrets: dict[str, str] = {}
        self.membership_by_pair: dict[tuple[str, str], str] = {}
        self.memberships_by_user: dict[str, list[str]] = {}
        self.memberships_by_org: dict[str, list[str]] = {}
        self.factors_by_user: dict[str, list[str]] = {}
        self.environment_roles: dict[str, dict[str, Any]] = {
            slug: make_role(slug, name) for slug, name in DEFAULT_ROLES
        }
        self.organization_roles: dict[str, dict[str, dict[str, Any]]] = {}

    def counts(self) -> dict[str, int]:
        """Number of live objects of each kind."""
        return {
            "users": len(self.users.live),
            "organizations": len(self.organizations.live),
            "organization_memberships": len(self.memberships.live),
            "roles": len(self.environment_roles) + sum(len(r) for r in self.organization_roles.values()),
            "auth_factors": len(self.factors.live),
        }

    def dump(self) -> dict[str, Any]:
        """Everything stored, in creation order, for tests to compare. Secrets appear only as sha256 digests."""
        users = []
        for user in self.users.live.values():
            row = dict(user)
            secret = self.passwords.get(user["id"], {})
            row["password_hash_type"] = secret.get("password_hash_type")
            row["password_hash_sha256"] = _digest(secret.get("password_hash"))
            row["has_password"] = "password" in secret
            users.append(row)
        factors = []
        for factor in self.factors.live.values():
            row = dict(factor)
            row["totp_secret_sha256"] = _digest(self.totp_secrets.get(factor["id"]))
            factors.append(row)
        org_roles = [role for roles in self.organization_roles.values() for role in roles.values()]
        return {
            "users": users,
            "organizations": list(self.organizations.live.values()),
            "organization_memberships": list(self.memberships.live.values()),
            "roles": list(self.environment_roles.values()) + org_roles,
            "auth_factors": factors,
        }


def reindex(index: dict[str, str], old: str | None, new: str | None, object_id: str) -> None:
    """Move ``object_id`` in a unique-key index from key ``old`` to key ``new`` (either may be None)."""
    if old == new:
        return
    if old is not None:
        index.pop(old, None)
    if new is not None:
        index[new] = object_id


def _digest(value: str | None) -> str | None:
    return hashlib.sha256(value.encode()).hexdigest() if value is not None else None
