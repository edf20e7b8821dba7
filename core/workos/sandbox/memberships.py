"""Organization-membership operations of the sandbox, with the real API's role and status rules.

A membership answers with its ``role``, ``roles`` and the embedded ``user``. Creating one for a pair whose
membership is inactive reactivates it with the new roles; an active or pending one is a duplicate, answered
with a configurable status and code ``organization_membership_already_exists``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.workos.sandbox.collection import paginate
from core.workos.sandbox.ids import new_id, now_iso
from core.workos.sandbox.organizations import get_organization
from core.workos.sandbox.problems import ApiError, invalid_params
from core.workos.sandbox.state import SandboxState
from core.workos.sandbox.users import get_user

__all__ = [
    "create_membership",
    "deactivate_membership",
    "delete_membership",
    "get_membership",
    "list_memberships",
    "reactivate_membership",
    "render_membership",
    "update_membership",
]

STATUSES = ("active", "inactive", "pending")
DEFAULT_ROLE = "member"


def render_membership(state: SandboxState, membership: dict[str, Any]) -> dict[str, Any]:
    """The membership's JSON: the stored fields plus the current user and organization name."""
    org = state.organizations.live.get(membership["organization_id"])
    return {
        **membership,
        "organization_name": org["name"] if org else None,
        "user": state.users.live.get(membership["user_id"]),
    }


def _role_slugs(state: SandboxState, body: dict[str, Any], org_id: str, *, multiple_roles: bool) -> list[str]:
    if body.get("role_slug") is not None and body.get("role_slugs") is not None:
        raise invalid_params("Provide either role_slug or role_slugs, not both.", field="role_slugs")
    if body.get("role_slugs") is not None:
        slugs = body["role_slugs"]
        if not isinstance(slugs, list) or not slugs or not all(isinstance(s, str) and s for s in slugs):
            raise invalid_params("role_slugs must be a non-empty list of strings.", field="role_slugs")
    elif body.get("role_slug") is not None:
        if not isinstance(body["role_slug"], str) or not body["role_slug"]:
            raise invalid_params("role_slug must be a non-empty string.", field="role_slug")
        slugs = [body["role_slug"]]
    else:
        slugs = [DEFAULT_ROLE]
    org_roles = state.organization_roles.get(org_id, {})
    for slug in slugs:
        if slug not in state.environment_roles and slug not in org_roles:
            raise ApiError(422, {"code": "invalid_role", "message": f"Role '{slug}' is not a valid role."})
    if len(slugs) > 1 and not multiple_roles:
        raise ApiError(
            422,
            {"code": "multiple_roles_not_enabled", "message": "Multiple roles are not enabled for this environment."},
        )
    return list(dict.fromkeys(slugs))


def _set_roles(membership: dict[str, Any], slugs: list[str]) -> None:
    membership["role"] = {"slug": slugs[0]}
    membership["roles"] = [{"slug": slug} for slug in slugs]


def create_membership(
    state: SandboxState,
    body: dict[str, Any],
    *,
    multiple_roles: bool,
    duplicate_status: int,
    status: str = "active",
) -> dict[str, Any]:
    """Create (or reactivate) a membership; its JSON. ``status`` other than active is for seed files only."""
    user_id, org_id = body.get("user_id"), body.get("organization_id")
    if not isinstance(user_id, str) or not isinstance(org_id, str):
        raise invalid_params("user_id and organization_id are required.", field="user_id")
    get_user(state, user_id)
    get_organization(state, org_id)
    slugs = _role_slugs(state, body, org_id, multiple_roles=multiple_roles)
    existing_id = state.membership_by_pair.get((user_id, org_id))
    stamp = now_iso()
    if existing_id is not None:
        existing = state.memberships.live[existing_id]
        if existing["status"] != "inactive":
            raise ApiError(
                duplicate_status,
                {
                    "code": "organization_membership_already_exists",
                    "message": "The user is already a member of this organization.",
                },
            )
        existing["status"] = "active"
        existing["updated_at"] = stamp
        _set_roles(existing, slugs)
        return render_membership(state, existing)
    membership: dict[str, Any] = {
        "object": "organization_membership",
        "id": new_id("om"),
        "user_id": user_id,
        "organization_id": org_id,
        "status": status,
        "directory_managed": False,
        "custom_attributes": {},
        "created_at": stamp,
        "updated_at": stamp,
    }
    _set_roles(membership, slugs)
    state.memberships.add(membership)
    state.membership_by_pair[(user_id, org_id)] = membership["id"]
    state.memberships_by_user.setdefault(user_id, []).append(membership["id"])
    state.memberships_by_org.setdefault(org_id, []).append(membership["id"])
    return render_membership(state, membership)


def get_membership(state: SandboxState, membership_id: str) -> dict[str, Any]:
    """The stored membership, or 404."""
    return state.memberships.require(membership_id, "Organization membership")


def list_memberships(state: SandboxState, query: Mapping[str, str]) -> dict[str, Any]:
    """A page of memberships by ``user_id`` and/or ``organization_id``; only active ones unless ``statuses``."""
    user_id, org_id = query.get("user_id"), query.get("organization_id")
    if not user_id and not org_id:
        raise ApiError(
            400,
            {
                "code": "missing_user_id_or_organization_id",
                "message": "At least one of user_id or organization_id must be provided.",
            },
        )
    statuses = {s.strip() for s in query.get("statuses", "active").split(",") if s.strip()}
    if not statuses or not statuses <= set(STATUSES):
        raise invalid_params("statuses must be a comma list of active, inactive, pending.", field="statuses")
    if user_id:
        candidates = state.memberships_by_user.get(user_id, [])
    else:
        candidates = state.memberships_by_org.get(org_id or "", [])
    live = state.memberships.live
    candidates = [
        m
        for m in candidates
        if m in live and live[m]["status"] in statuses and (not org_id or live[m]["organization_id"] == org_id)
    ]
    return paginate(state.memberships, candidates, query, lambda m: render_membership(state, m))


def update_membership(
    state: SandboxState, membership_id: str, body: dict[str, Any], *, multiple_roles: bool
) -> dict[str, Any]:
    """Set the membership's roles from ``role_slug`` or ``role_slugs`` (the same rules as a create); its JSON."""
    membership = get_membership(state, membership_id)
    slugs = _role_slugs(state, body, membership["organization_id"], multiple_roles=multiple_roles)
    _set_roles(membership, slugs)
    membership["updated_at"] = now_iso()
    return render_membership(state, membership)


def deactivate_membership(state: SandboxState, membership_id: str) -> dict[str, Any]:
    """Set the membership inactive (a no-op when it already is); its JSON."""
    membership = get_membership(state, membership_id)
    if membership["status"] != "inactive":
        membership["status"] = "inactive"
        membership["updated_at"] = now_iso()
    return render_membership(state, membership)


def reactivate_membership(state: SandboxState, membership_id: str) -> dict[str, Any]:
    """Set the membership active (a no-op when it already is); 400 for a pending one."""
    membership = get_membership(state, membership_id)
    if membership["status"] == "pending":
        raise ApiError(
            400,
            {
                "code": "cannot_reactivate_pending_organization_membership",
                "message": "A pending organization membership cannot be reactivated.",
            },
        )
    if membership["status"] != "active":
        membership["status"] = "active"
        membership["updated_at"] = now_iso()
    return render_membership(state, membership)


def delete_membership(state: SandboxState, membership_id: str) -> None:
    """Delete the membership, or 404."""
    membership = get_membership(state, membership_id)
    state.memberships.remove(membership_id)
    state.membership_by_pair.pop((membership["user_id"], membership["organization_id"]), None)
