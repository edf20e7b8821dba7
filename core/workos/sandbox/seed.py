"""Seed files: the users, organizations (with memberships by email), roles, API keys and error hooks a
sandbox starts with and returns to on reset.

JSON always; YAML when PyYAML is installed. The keys follow the official emulator's seed format (``apiKeys``
and ``errorHooks`` are accepted as aliases), and every object goes through the same rules as the API, so
a seed cannot hold what the real API would refuse. Problems raise ``OptionsError`` naming the entry.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.errors import OptionsError
from core.workos.sandbox.faults import ErrorHooks
from core.workos.sandbox.memberships import create_membership
from core.workos.sandbox.organizations import create_organization
from core.workos.sandbox.problems import ApiError
from core.workos.sandbox.state import SandboxState, make_role
from core.workos.sandbox.users import create_user, enroll_totp_factor

__all__ = ["Seed", "apply_seed", "load_seed"]


class SeedUser(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str | None = None
    email: str
    first_name: str | None = None
    last_name: str | None = None
    name: str | None = None
    email_verified: bool | None = None
    external_id: str | None = None
    metadata: dict[str, Any] | None = None
    password: str | None = None
    password_hash: str | None = None
    password_hash_type: str | None = None
    password_salt_position: str | None = None
    totp_secret: str | None = Field(None, description="enrol a TOTP factor with this Base32 secret")


class SeedMembership(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str
    role: str | None = None
    roles: list[str] | None = None
    status: str = Field("active", pattern="^(active|inactive|pending)$")


class SeedOrganization(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str | None = None
    name: str
    external_id: str | None = None
    metadata: dict[str, Any] | None = None
    domains: list[dict[str, str]] = []
    memberships: list[SeedMembership] = []


class SeedRole(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slug: str
    name: str | None = None
    description: str | None = None
    organization_id: str | None = None
    permissions: list[str] = []


class Seed(BaseModel):
    """The contents of a seed file."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    users: list[SeedUser] = []
    organizations: list[SeedOrganization] = []
    roles: list[SeedRole] = []
    api_keys: list[str] = Field(default_factory=list, alias="apiKeys")
    error_hooks: list[dict[str, Any]] = Field(default_factory=list, alias="errorHooks")

    @field_validator("api_keys", mode="before")
    @classmethod
    def _key_values(cls, value: Any) -> Any:
        """Accept the emulator's forms: a list of strings, of ``{"value": key}``, or a map keyed by key."""
        if isinstance(value, dict):
            return list(value)
        if isinstance(value, list):
            return [item.get("value") if isinstance(item, dict) else item for item in value]
        return value


def load_seed(path: str | Path) -> Seed:
    """Read and validate a seed file; raises ``OptionsError`` when it is missing or malformed."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise OptionsError(f"--seed {path}: cannot read the file ({exc.strerror})") from exc
    try:
        data = _load_yaml(text, path) if path.suffix in (".yaml", ".yml") else json.loads(text)
        return Seed.model_validate(data)
    except json.JSONDecodeError as exc:
        raise OptionsError(f"--seed {path}: not valid JSON (line {exc.lineno}: {exc.msg})") from exc
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise OptionsError(f"--seed {path}: {problems}") from exc


def _load_yaml(text: str, path: Path) -> Any:
    try:
        import yaml
    except ImportError as exc:
        raise OptionsError(f"--seed {path}: YAML seed files need PyYAML (pip install pyyaml); or use JSON") from exc
    return yaml.safe_load(text)


def apply_seed(seed: Seed, state: SandboxState, hooks: ErrorHooks) -> None:
    """Create everything in ``seed`` through the API's own rules; raises ``OptionsError`` naming the entry."""
    where = "seed"
    try:
        for index, role in enumerate(seed.roles):
            where = f"seed roles[{index}]"
            _add_role(state, role)
        for index, user in enumerate(seed.users):
            where = f"seed users[{index}]"
            body = user.model_dump(exclude={"id", "totp_secret"}, exclude_none=True)
            created = create_user(state, body, user_id=user.id)
            if user.totp_secret:
                enroll_totp_factor(state, created["id"], {"type": "totp", "totp_secret": user.totp_secret})
        for index, org in enumerate(seed.organizations):
            where = f"seed organizations[{index}]"
            body = org.model_dump(exclude={"id", "memberships", "domains"}, exclude_none=True)
            body["domain_data"] = [{"domain": d["domain"], "state": d.get("state", "verified")} for d in org.domains]
            created = create_organization(state, body, org_id=org.id)
            for m_index, member in enumerate(org.memberships):
                where = f"seed organizations[{index}].memberships[{m_index}]"
                _add_membership(state, created["id"], member)
        for index, hook in enumerate(seed.error_hooks):
            where = f"seed errorHooks[{index}]"
            hooks.add(hook)
    except ApiError as exc:
        raise OptionsError(f"{where}: {exc.body.get('message')} ({exc.body.get('code')})") from exc


def _add_role(state: SandboxState, role: SeedRole) -> None:
    made = make_role(
        role.slug,
        role.name or role.slug,
        organization_id=role.organization_id,
        description=role.description,
        permissions=role.permissions,
    )
    if role.organization_id is None:
        state.environment_roles[role.slug] = made
    else:
        state.organization_roles.setdefault(role.organization_id, {})[role.slug] = made


def _add_membership(state: SandboxState, org_id: str, member: SeedMembership) -> None:
    user_id = state.user_by_email.get(member.email.strip().lower())
    if user_id is None:
        raise ApiError(404, {"message": f"no seeded user has the email {member.email!r}", "code": "not_found"})
    body: dict[str, Any] = {"user_id": user_id, "organization_id": org_id}
    if member.roles:
        body["role_slugs"] = member.roles
    elif member.role:
        body["role_slug"] = member.role
    create_membership(state, body, multiple_roles=True, duplicate_status=409, status=member.status)
