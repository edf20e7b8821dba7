"""``POST /user_management/authenticate`` with the password grant: sign a user in with an imported password.

The application authenticates itself in the body (``client_id`` and the API key as ``client_secret``), not
with a bearer header, as in the real API. The password is checked against what the user holds: a plaintext
set through the API or an imported hash of any WorkOS type (``passwords``). A wrong password, an unknown
email and a user without a password all get the same ``invalid_credentials`` answer, so the endpoint does
not reveal who exists. The answer never echoes the password.
"""

from __future__ import annotations

import secrets
from typing import Any

from core.workos.sandbox import passwords
from core.workos.sandbox.ids import now_iso
from core.workos.sandbox.problems import ApiError, invalid_params
from core.workos.sandbox.state import SandboxState

__all__ = ["INVALID_CLIENT", "authenticate", "client_secret"]

INVALID_CLIENT = {"error": "invalid_client", "error_description": "Invalid client secret."}
"""The 401 body for a missing or wrong ``client_secret``."""


def _invalid_credentials() -> ApiError:
    return ApiError(400, {"code": "invalid_credentials", "message": "Invalid credentials."})


def client_secret(body: dict[str, Any]) -> str | None:
    """The API key the caller sent as ``client_secret``, or None."""
    secret = body.get("client_secret")
    return secret if isinstance(secret, str) and secret else None


def authenticate(state: SandboxState, body: dict[str, Any]) -> dict[str, Any]:
    """The 200 body of a password sign-in (user, tokens, method), or the real API's error answers."""
    if body.get("grant_type") != "password":
        raise ApiError(
            400, {"error": "unsupported_grant_type", "error_description": "This sandbox supports grant_type password."}
        )
    client_id = body.get("client_id")
    if not isinstance(client_id, str) or not client_id.startswith("client_"):
        raise ApiError(400, {"error": "invalid_client", "error_description": "Invalid client ID."})
    email, password = body.get("email"), body.get("password")
    if not isinstance(email, str) or not email.strip():
        raise invalid_params("email must be a non-empty string.", field="email")
    if not isinstance(password, str) or not password:
        raise invalid_params("password must be a non-empty string.", field="password")
    user_id = state.user_by_email.get(email.strip().lower())
    if user_id is None:
        raise _invalid_credentials()
    stored = state.passwords.get(user_id)
    if stored is None or not passwords.matches(stored, password):
        raise _invalid_credentials()
    user = state.users.require(user_id, "User")
    user["last_sign_in_at"] = now_iso()
    memberships = [
        state.memberships.live[m]
        for m in state.memberships_by_user.get(user["id"], [])
        if m in state.memberships.live and state.memberships.live[m]["status"] == "active"
    ]
    return {
        "user": user,
        "organization_id": memberships[0]["organization_id"] if len(memberships) == 1 else None,
        "access_token": "sandbox_at_" + secrets.token_urlsafe(24),
        "refresh_token": "sandbox_rt_" + secrets.token_urlsafe(24),
        "authentication_method": "Password",
    }
