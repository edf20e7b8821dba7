"""User and TOTP-factor operations of the sandbox, with the real API's rules and error answers.

Emails are stored trimmed and lower-cased and are unique; external ids are unique; metadata and password
fields follow ``rules``. Deleting a user removes its memberships and factors.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from core.workos.sandbox.collection import paginate
from core.workos.sandbox.ids import new_id, now_iso
from core.workos.sandbox.problems import ApiError, invalid_params
from core.workos.sandbox.rules import (
    check_external_id,
    check_metadata,
    check_optional_str,
    normalise_email,
    password_fields,
)
from core.workos.sandbox.state import SandboxState, reindex

__all__ = [
    "create_user",
    "delete_user",
    "enroll_totp_factor",
    "get_user",
    "get_user_by_external_id",
    "list_factors",
    "list_users",
    "update_user",
]

_NAME_FIELDS = ("first_name", "last_name", "name")
_BASE32 = re.compile(r"^[A-Z2-7]+=*$")
# A 1x1 PNG: the real API returns a QR code image of the otpauth URI; nothing reads it in an import.
_QR_PLACEHOLDER = (
    "data:image/png;base64,"
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAwS2OUAAAAABJRU5ErkJggg=="
)


def _user_creation_error(code: str, message: str) -> ApiError:
    return ApiError(
        400,
        {
            "message": "Could not create user.",
            "code": "user_creation_error",
            "errors": [{"code": code, "message": message}],
        },
    )


_EMAIL_TAKEN = "This email is not available."
_EXTERNAL_ID_TAKEN = "This external ID is already in use."


def create_user(state: SandboxState, body: dict[str, Any], *, user_id: str | None = None) -> dict[str, Any]:
    """Create a user (201 body). ``user_id`` pins the id (seed files only)."""
    email = normalise_email(body.get("email"))
    for field in _NAME_FIELDS:
        check_optional_str(body, field)
    external_id = check_external_id(body.get("external_id"))
    metadata = check_metadata(body.get("metadata"))
    secret = password_fields(body)
    verified = body.get("email_verified")
    if verified is not None and not isinstance(verified, bool):
        raise invalid_params("email_verified must be a boolean.", field="email_verified", code="invalid_type")
    if email in state.user_by_email:
        raise _user_creation_error("email_not_available", _EMAIL_TAKEN)
    if external_id is not None and external_id in state.user_by_external_id:
        raise _user_creation_error("external_id_already_used", _EXTERNAL_ID_TAKEN)
    stamp = now_iso()
    user: dict[str, Any] = {
        "object": "user",
        "id": user_id or new_id("user"),
        "first_name": body.get("first_name"),
        "last_name": body.get("last_name"),
        "name": body.get("name"),
        "profile_picture_url": None,
        "email": email,
        "email_verified": bool(verified),
        "external_id": external_id,
        "metadata": metadata,
        "last_sign_in_at": None,
        "locale": None,
        "created_at": stamp,
        "updated_at": stamp,
    }
    state.users.add(user)
    state.user_by_email[email] = user["id"]
    if external_id is not None:
        state.user_by_external_id[external_id] = user["id"]
    if secret is not None:
        state.passwords[user["id"]] = secret
    return user


def get_user(state: SandboxState, user_id: str) -> dict[str, Any]:
    """The user, or 404."""
    return state.users.require(user_id, "User")


def get_user_by_external_id(state: SandboxState, external_id: str) -> dict[str, Any]:
    """The user with this exact external id, or 404."""
    return state.users.require_by(state.user_by_external_id, external_id, "User with external ID")


def list_users(state: SandboxState, query: Mapping[str, str]) -> dict[str, Any]:
    """A page of users, filtered by ``email`` (trimmed, case-insensitive) and/or ``organization_id``."""
    candidates: list[str] = state.users.order
    email = query.get("email")
    if email is not None:
        found = state.user_by_email.get(email.strip().lower())
        candidates = [found] if found else []
    org_id = query.get("organization_id") or query.get("organization")
    if org_id is not None:
        if org_id not in state.organizations.live:
            raise invalid_params(f"Organization not found: '{org_id}'.", field="organization_id")
        live = state.memberships.live
        members = {live[m]["user_id"] for m in state.memberships_by_org.get(org_id, ()) if m in live}
        if email is not None:
            members &= set(candidates)
        candidates = sorted(members, key=state.users.position.__getitem__)
    return paginate(state.users, candidates, query)


def update_user(state: SandboxState, user_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """Apply a partial update (omitted fields stay); 400 with the real API's codes on conflicts."""
    user = get_user(state, user_id)
    changes: dict[str, Any] = {}
    for field in (*_NAME_FIELDS, "locale"):
        if field in body:
            check_optional_str(body, field)
            changes[field] = body[field]
    if "email" in body:
        try:
            email = normalise_email(body["email"])
        except ApiError as exc:
            raise ApiError(400, {"code": "invalid_email", "message": "Email must be a valid email address."}) from exc
        owner = state.user_by_email.get(email)
        if owner is not None and owner != user_id:
            raise ApiError(400, {"code": "email_not_available", "message": _EMAIL_TAKEN})
        changes["email"] = email
    if "external_id" in body:
        external_id = check_external_id(body["external_id"])
        owner = state.user_by_external_id.get(external_id) if external_id is not None else None
        if owner is not None and owner != user_id:
            raise ApiError(400, {"code": "external_id_already_used", "message": _EXTERNAL_ID_TAKEN})
        changes["external_id"] = external_id
    if "metadata" in body:
        changes["metadata"] = check_metadata(body["metadata"])
    if "email_verified" in body:
        if not isinstance(body["email_verified"], bool):
            raise invalid_params("email_verified must be a boolean.", field="email_verified", code="invalid_type")
        changes["email_verified"] = body["email_verified"]
    secret = password_fields(body)
    reindex(state.user_by_email, user["email"], changes.get("email", user["email"]), user_id)
    if "external_id" in changes:
        reindex(state.user_by_external_id, user["external_id"], changes["external_id"], user_id)
    user.update(changes)
    user["updated_at"] = now_iso()
    if secret is not None:
        state.passwords[user_id] = secret
    return user


def delete_user(state: SandboxState, user_id: str) -> None:
    """Delete the user with its memberships and factors, or 404."""
    user = get_user(state, user_id)
    state.users.remove(user_id)
    state.user_by_email.pop(user["email"], None)
    if user["external_id"] is not None:
        state.user_by_external_id.pop(user["external_id"], None)
    state.passwords.pop(user_id, None)
    for membership_id in state.memberships_by_user.pop(user_id, []):
        membership = state.memberships.remove(membership_id)
        if membership is not None:
            state.membership_by_pair.pop((user_id, membership["organization_id"]), None)
    for factor_id in state.factors_by_user.pop(user_id, []):
        state.factors.remove(factor_id)
        state.totp_secrets.pop(factor_id, None)


def enroll_totp_factor(state: SandboxState, user_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """Enroll a TOTP factor, honouring ``totp_secret``/``totp_issuer``/``totp_user``; the wrapped 201 body."""
    user = get_user(state, user_id)
    if body.get("type") != "totp":
        raise invalid_params("type must be 'totp'.", field="type")
    for field in ("totp_issuer", "totp_user", "totp_secret"):
        check_optional_str(body, field)
    secret = body.get("totp_secret")
    if secret is None:
        secret = base64.b32encode(os.urandom(20)).decode()
    elif not _BASE32.match(secret.replace(" ", "").upper()):
        raise invalid_params("totp_secret must be Base32.", field="totp_secret")
    secret = secret.replace(" ", "").upper()
    issuer = body.get("totp_issuer") or "WorkOS"
    account = body.get("totp_user") or user["email"]
    stamp = now_iso()
    factor: dict[str, Any] = {
        "object": "authentication_factor",
        "id": new_id("auth_factor"),
        "type": "totp",
        "user_id": user_id,
        "totp": {"issuer": issuer, "user": account},
        "created_at": stamp,
        "updated_at": stamp,
    }
    state.factors.add(factor)
    state.factors_by_user.setdefault(user_id, []).append(factor["id"])
    state.totp_secrets[factor["id"]] = secret
    uri = f"otpauth://totp/{quote(issuer)}:{quote(account)}?secret={secret}&issuer={quote(issuer)}"
    enrolled = {**factor, "totp": {**factor["totp"], "secret": secret, "qr_code": _QR_PLACEHOLDER, "uri": uri}}
    challenge = {
        "object": "authentication_challenge",
        "id": new_id("auth_challenge"),
        "authentication_factor_id": factor["id"],
        "expires_at": None,
        "created_at": stamp,
        "updated_at": stamp,
    }
    return {"authentication_factor": enrolled, "authentication_challenge": challenge}


def delete_factor(state: SandboxState, factor_id: str) -> None:
    """Delete an authentication factor (``DELETE /auth/factors/{id}``), or 404."""
    state.factors.require(factor_id, "Authentication factor")
    state.factors.remove(factor_id)
    state.totp_secrets.pop(factor_id, None)


def list_factors(state: SandboxState, user_id: str, query: Mapping[str, str]) -> dict[str, Any]:
    """A page of the user's factors (without secrets), or 404 for an unknown user."""
    get_user(state, user_id)
    return paginate(state.factors, state.factors_by_user.get(user_id, []), query)
