"""The WorkOS API routes the sandbox serves: method, path template, the operation, and whether it writes.

Each operation takes the sandbox, the path parameters, the query and the JSON body, and returns the
status and JSON to send (None for an empty body). The HTTP pipeline around them lives in ``app``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from core.workos.sandbox import authentication, memberships, organizations, users
from core.workos.sandbox.runtime import Sandbox
from core.workos.sandbox.state import SandboxState

__all__ = ["ROUTES", "ApiRoute"]

Operation = Callable[[Sandbox, Mapping[str, str], Mapping[str, str], dict[str, Any]], tuple[int, Any]]


class ApiRoute(NamedTuple):
    method: str
    path: str
    operation: Operation
    writes: bool
    # The application authenticates in the body (client_id + client_secret), not with a bearer key.
    client_auth: bool = False


def _create_membership(sb: Sandbox, body: dict[str, Any]) -> tuple[int, Any]:
    created = memberships.create_membership(
        sb.state,
        body,
        multiple_roles=sb.config.multiple_roles_enabled,
        duplicate_status=sb.config.duplicate_membership_status,
    )
    return 201, created


def _membership(sb: Sandbox, membership_id: str) -> tuple[int, Any]:
    return 200, memberships.render_membership(sb.state, memberships.get_membership(sb.state, membership_id))


def _deleted(delete: Callable[[SandboxState, str], None], sb: Sandbox, object_id: str) -> tuple[int, Any]:
    delete(sb.state, object_id)
    return 200, None


_UM = "/user_management"
ROUTES: tuple[ApiRoute, ...] = (
    ApiRoute("POST", f"{_UM}/users", lambda sb, p, q, b: (201, users.create_user(sb.state, b)), True),
    ApiRoute("GET", f"{_UM}/users", lambda sb, p, q, b: (200, users.list_users(sb.state, q)), False),
    ApiRoute(
        "GET",
        f"{_UM}/users/external_id/{{external_id:path}}",
        lambda sb, p, q, b: (200, users.get_user_by_external_id(sb.state, p["external_id"])),
        False,
    ),
    ApiRoute(
        "GET", f"{_UM}/users/{{user_id}}", lambda sb, p, q, b: (200, users.get_user(sb.state, p["user_id"])), False
    ),
    ApiRoute(
        "PUT", f"{_UM}/users/{{user_id}}", lambda sb, p, q, b: (200, users.update_user(sb.state, p["user_id"], b)), True
    ),
    ApiRoute(
        "DELETE", f"{_UM}/users/{{user_id}}", lambda sb, p, q, b: _deleted(users.delete_user, sb, p["user_id"]), True
    ),
    ApiRoute(
        "POST",
        f"{_UM}/users/{{user_id}}/auth_factors",
        lambda sb, p, q, b: (201, users.enroll_totp_factor(sb.state, p["user_id"], b)),
        True,
    ),
    ApiRoute(
        "GET",
        f"{_UM}/users/{{user_id}}/auth_factors",
        lambda sb, p, q, b: (200, users.list_factors(sb.state, p["user_id"], q)),
        False,
    ),
    ApiRoute(
        "POST",
        f"{_UM}/authenticate",
        lambda sb, p, q, b: (200, authentication.authenticate(sb.state, b)),
        False,
        client_auth=True,
    ),
    ApiRoute("POST", f"{_UM}/organization_memberships", lambda sb, p, q, b: _create_membership(sb, b), True),
    ApiRoute(
        "GET",
        f"{_UM}/organization_memberships",
        lambda sb, p, q, b: (200, memberships.list_memberships(sb.state, q)),
        False,
    ),
    ApiRoute(
        "GET", f"{_UM}/organization_memberships/{{om_id}}", lambda sb, p, q, b: _membership(sb, p["om_id"]), False
    ),
    ApiRoute(
        "PUT",
        f"{_UM}/organization_memberships/{{om_id}}",
        lambda sb, p, q, b: (
            200,
            memberships.update_membership(sb.state, p["om_id"], b, multiple_roles=sb.config.multiple_roles_enabled),
        ),
        True,
    ),
    ApiRoute(
        "PUT",
        f"{_UM}/organization_memberships/{{om_id}}/deactivate",
        lambda sb, p, q, b: (200, memberships.deactivate_membership(sb.state, p["om_id"])),
        True,
    ),
    ApiRoute(
        "PUT",
        f"{_UM}/organization_memberships/{{om_id}}/reactivate",
        lambda sb, p, q, b: (200, memberships.reactivate_membership(sb.state, p["om_id"])),
        True,
    ),
    ApiRoute(
        "DELETE",
        f"{_UM}/organization_memberships/{{om_id}}",
        lambda sb, p, q, b: _deleted(memberships.delete_membership, sb, p["om_id"]),
        True,
    ),
    ApiRoute("POST", "/organizations", lambda sb, p, q, b: (201, organizations.create_organization(sb.state, b)), True),
    ApiRoute("GET", "/organizations", lambda sb, p, q, b: (200, organizations.list_organizations(sb.state, q)), False),
    ApiRoute(
        "GET",
        "/organizations/external_id/{external_id:path}",
        lambda sb, p, q, b: (200, organizations.get_organization_by_external_id(sb.state, p["external_id"])),
        False,
    ),
    ApiRoute(
        "GET",
        "/organizations/{org_id}",
        lambda sb, p, q, b: (200, organizations.get_organization(sb.state, p["org_id"])),
        False,
    ),
    ApiRoute(
        "PUT",
        "/organizations/{org_id}",
        lambda sb, p, q, b: (200, organizations.update_organization(sb.state, p["org_id"], b)),
        True,
    ),
    ApiRoute(
        "DELETE",
        "/organizations/{org_id}",
        lambda sb, p, q, b: _deleted(organizations.delete_organization, sb, p["org_id"]),
        True,
    ),
    ApiRoute(
        "DELETE",
        "/auth/factors/{factor_id}",
        lambda sb, p, q, b: _deleted(users.delete_factor, sb, p["factor_id"]),
        True,
    ),
    ApiRoute(
        "GET", "/authorization/roles", lambda sb, p, q, b: (200, organizations.list_environment_roles(sb.state)), False
    ),
    ApiRoute(
        "GET",
        "/authorization/organizations/{org_id}/roles",
        lambda sb, p, q, b: (200, organizations.list_organization_roles(sb.state, p["org_id"])),
        False,
    ),
)
