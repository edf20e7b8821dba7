"""Organization and role operations of the sandbox, with the real API's rules and error answers.

Organization names need not be unique; external ids must be. Roles: the environment roles (``member`` and
``admin`` by default, plus seeded ones) and per-organization roles, each listed unpaginated.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.workos.sandbox.collection import paginate
from core.workos.sandbox.ids import new_id, now_iso
from core.workos.sandbox.problems import ApiError, invalid_params
from core.workos.sandbox.rules import check_external_id, check_metadata
from core.workos.sandbox.state import SandboxState, reindex

__all__ = [
    "create_organization",
    "get_organization",
    "get_organization_by_external_id",
    "list_environment_roles",
    "list_organization_roles",
    "list_organizations",
    "update_organization",
]

_DOMAIN_STATES = ("pending", "verified")


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise invalid_params("name must be a non-empty string.", field="name", code="name_required")
    return value.strip()


def _domains(body: dict[str, Any], org_id: str, stamp: str) -> list[dict[str, Any]] | None:
    """Domain objects from ``domain_data`` (or the deprecated ``domains`` list), None when neither is given."""
    if body.get("domain_data") is not None:
        entries = body["domain_data"]
        if not isinstance(entries, list):
            raise invalid_params("domain_data must be a list.", field="domain_data")
        pairs = []
        for entry in entries:
            if not isinstance(entry, dict) or not isinstance(entry.get("domain"), str) or not entry["domain"]:
                raise invalid_params("each domain_data entry needs a domain.", field="domain_data")
            if entry.get("state") not in _DOMAIN_STATES:
                raise invalid_params("domain_data state must be 'pending' or 'verified'.", field="domain_data")
            pairs.append((entry["domain"].strip().lower(), entry["state"]))
    elif body.get("domains") is not None:
        if not isinstance(body["domains"], list) or not all(isinstance(d, str) and d for d in body["domains"]):
            raise invalid_params("domains must be a list of strings.", field="domains")
        pairs = [(domain.strip().lower(), "legacy_verified") for domain in body["domains"]]
    else:
        return None
    return [
        {
            "object": "organization_domain",
            "id": new_id("org_domain"),
            "organization_id": org_id,
            "domain": domain,
            "state": state,
            "verification_strategy": "manual",
            "created_at": stamp,
            "updated_at": stamp,
        }
        for domain, state in pairs
    ]


def _external_id_used() -> ApiError:
    return ApiError(
        400, {"code": "external_id_already_used", "message": "An organization with this external ID already exists."}
    )


def create_organization(state: SandboxState, body: dict[str, Any], *, org_id: str | None = None) -> dict[str, Any]:
    """Create an organization (201 body). ``org_id`` pins the id (seed files only)."""
    name = _name(body.get("name"))
    external_id = check_external_id(body.get("external_id"))
    metadata = check_metadata(body.get("metadata"))
    if external_id is not None and external_id in state.org_by_external_id:
        raise _external_id_used()
    org_id = org_id or new_id("org")
    stamp = now_iso()
    org = {
        "object": "organization",
        "id": org_id,
        "name": name,
        "domains": _domains(body, org_id, stamp) or [],
        "metadata": metadata,
        "external_id": external_id,
        "allow_profiles_outside_organization": bool(body.get("allow_profiles_outside_organization", False)),
        "created_at": stamp,
        "updated_at": stamp,
    }
    state.organizations.add(org)
    if external_id is not None:
        state.org_by_external_id[external_id] = org_id
    return org


def get_organization(state: SandboxState, org_id: str) -> dict[str, Any]:
    """The organization, or 404."""
    return state.organizations.require(org_id, "Organization")


def get_organization_by_external_id(state: SandboxState, external_id: str) -> dict[str, Any]:
    """The organization with this exact external id, or 404."""
    return state.organizations.require_by(state.org_by_external_id, external_id, "Organization with external ID")


def delete_organization(state: SandboxState, org_id: str) -> None:
    """Delete the organization with its memberships and its own roles, or 404."""
    org = get_organization(state, org_id)
    state.organizations.remove(org_id)
    if org.get("external_id") is not None:
        state.org_by_external_id.pop(org["external_id"], None)
    for membership_id in state.memberships_by_org.pop(org_id, []):
        membership = state.memberships.remove(membership_id)
        if membership is not None:
            state.membership_by_pair.pop((membership["user_id"], org_id), None)
    state.organization_roles.pop(org_id, None)


def list_organizations(state: SandboxState, query: Mapping[str, str]) -> dict[str, Any]:
    """A page of organizations; ``search`` matches the name (case-insensitive), ``domains`` any listed domain."""
    candidates: list[str] = state.organizations.order
    search = query.get("search")
    wanted = {d.strip().lower() for d in query.get("domains", "").split(",") if d.strip()}
    if search or wanted:
        needle = (search or "").lower()
        live = state.organizations.live
        candidates = [
            org_id
            for org_id in candidates
            if org_id in live
            and needle in live[org_id]["name"].lower()
            and (not wanted or any(d["domain"] in wanted for d in live[org_id]["domains"]))
        ]
    return paginate(state.organizations, candidates, query)


def update_organization(state: SandboxState, org_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """Apply a partial update; ``domain_data`` replaces the domain set."""
    org = get_organization(state, org_id)
    changes: dict[str, Any] = {}
    if "name" in body:
        changes["name"] = _name(body["name"])
    if "metadata" in body:
        changes["metadata"] = check_metadata(body["metadata"])
    if "external_id" in body:
        external_id = check_external_id(body["external_id"])
        owner = state.org_by_external_id.get(external_id) if external_id is not None else None
        if owner is not None and owner != org_id:
            raise _external_id_used()
        changes["external_id"] = external_id
    stamp = now_iso()
    domains = _domains(body, org_id, stamp)
    if domains is not None:
        changes["domains"] = domains
    if "external_id" in changes:
        reindex(state.org_by_external_id, org["external_id"], changes["external_id"], org_id)
    org.update(changes)
    org["updated_at"] = stamp
    return org


def list_environment_roles(state: SandboxState) -> dict[str, Any]:
    """The environment roles in priority order, unpaginated."""
    return {"object": "list", "data": list(state.environment_roles.values())}


def list_organization_roles(state: SandboxState, org_id: str) -> dict[str, Any]:
    """Environment roles then the organization's own roles, unpaginated; 404 for an unknown organization."""
    get_organization(state, org_id)
    own = list(state.organization_roles.get(org_id, {}).values())
    return {"object": "list", "data": [*state.environment_roles.values(), *own]}
