"""AWS Cognito: ``aws cognito-idp list-users`` pages (``{"Users": [...], "PaginationToken"}``), and groups.

Cognito never exports password hashes or MFA keys, so every user goes to the reset list (federated
``EXTERNAL_PROVIDER`` users as social-only). ``email_verified`` is the string ``"true"``. ``custom:*``
attributes become metadata (without the prefix) and may name the organization (``--org-attribute``, with or
without ``custom:``). Groups (``--groups``: ``list-users-in-group`` pages, each with its ``GroupName``, or
``admin-list-groups-for-user`` answers, each with its ``Username``) become role names.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from core.sources.model import NoPassword, SourceInputs, SourceUser, membership, split_name
from core.sources.readers import json_items
from core.sources.spill import Spill

__all__ = ["read"]

_GROUPS = "cognito_group"


def _load_groups(inputs: SourceInputs, spill: Spill) -> None:
    if inputs.groups is None:
        return
    for page in json_items(inputs.groups):
        if isinstance(page.get("Groups"), list) and page.get("Username"):
            for group in page["Groups"]:
                spill.put(_GROUPS, str(page["Username"]), str(group.get("GroupName")))
        elif page.get("GroupName"):
            for member in page.get("Users") or []:
                spill.put(_GROUPS, str(member.get("Username")), str(page["GroupName"]))


def _user(raw: dict[str, Any], inputs: SourceInputs, spill: Spill) -> SourceUser:
    attributes = {str(item.get("Name")): item.get("Value") for item in raw.get("Attributes") or []}
    username = str(raw.get("Username") or "")
    first, last = attributes.get("given_name"), attributes.get("family_name")
    if not (first or last):
        first, last = split_name(attributes.get("name"))
    email = attributes.get("email")
    user = SourceUser(
        source_id=str(attributes.get("sub") or username),
        email=email,
        email_verified=str(attributes.get("email_verified", "")).lower() == "true" if email else None,
        first_name=first,
        last_name=last,
        disabled=raw.get("Enabled") is False,
        phone_only=not email and bool(attributes.get("phone_number")),
    )
    user.metadata = {
        **{name.removeprefix("custom:"): value for name, value in attributes.items() if name.startswith("custom:")},
        "cognito_username": username,
        "cognito_status": raw.get("UserStatus"),
        "phone_number": attributes.get("phone_number"),
    }
    if raw.get("UserStatus") == "EXTERNAL_PROVIDER" or attributes.get("identities"):
        user.no_password = NoPassword.SOCIAL_ONLY
        user.no_password_detail = "federated Cognito user"
    else:
        user.no_password_detail = "Cognito never exports password hashes"
    if inputs.org_attribute:
        name = inputs.org_attribute
        value = attributes.get(name, attributes.get(f"custom:{name.removeprefix('custom:')}"))
        if found := membership(value):
            user.memberships.append(found)
    if inputs.groups is not None:
        user.roles = tuple(spill.get(_GROUPS, username))
    return user


def read(inputs: SourceInputs, spill: Spill, warnings: list[str]) -> Iterator[SourceUser]:
    """The users of every page file (a file may hold several pages one after another)."""
    _load_groups(inputs, spill)
    for path in inputs.users:
        for raw in json_items(path, "Users"):
            yield _user(raw, inputs, spill)
    warnings.append("Cognito exports no password hashes or MFA keys: its users reset their password in WorkOS")
