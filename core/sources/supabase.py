"""Supabase Auth: ``auth.users``, ``auth.identities`` and ``auth.mfa_factors``, each as CSV or JSON.

Hashes are in ``encrypted_password`` (bcrypt by default; ``$argon2…`` and ``$fbscrypt$`` for users imported
into Supabase who never signed in since, the latter needing ``--hash-config`` when it carries no signer
key). An empty hash is an OAuth, SSO, magic-link or phone user: social-only when ``auth.identities``
(``--identities``) or ``raw_app_meta_data.providers`` names a provider other than email and phone.
Verified TOTP factors of ``auth.mfa_factors`` (``--mfa-factors``) become ``totp_secret``. Banned users
(``banned_until`` in the future) are disabled; soft-deleted ones (``deleted_at``) are skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from core import hashes
from core.sources.model import NoPassword, SourceInputs, SourceUser, base32_secret, membership, split_name
from core.sources.readers import json_object, table_rows
from core.sources.spill import Spill

__all__ = ["read"]

_IDENTITIES = "supabase_identity"
_FACTORS = "supabase_factor"
_LOCAL_PROVIDERS = frozenset({"email", "phone", ""})


def _true(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "t", "1")


def _in_future(stamp: Any) -> bool:
    """Whether a Postgres timestamp (``2024-01-15 10:30:00.000000+00``, or ``infinity``) is after now."""
    if stamp is None or stamp == "":
        return False
    text = str(stamp).strip()
    if text.lower() == "infinity":
        return True
    text = text.replace(" ", "T", 1)
    if text.endswith(("+00", "-00")):
        text += ":00"
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return True  # an unreadable ban is kept as a ban
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)) > datetime.now(UTC)


def _load_side(inputs: SourceInputs, spill: Spill) -> None:
    if inputs.identities is not None:
        for row in table_rows(inputs.identities):
            data = json_object(row.get("identity_data")) or {}
            email = row.get("email") or data.get("email")
            spill.put(_IDENTITIES, str(row.get("user_id")), [str(row.get("provider") or ""), email])
    if inputs.mfa_factors is not None:
        for row in table_rows(inputs.mfa_factors):
            if row.get("factor_type") == "totp" and row.get("status") == "verified" and row.get("secret"):
                spill.put(_FACTORS, str(row.get("user_id")), str(row["secret"]))


def _user(raw: dict[str, Any], inputs: SourceInputs, spill: Spill) -> SourceUser:
    user_id = str(raw.get("id") or "")
    app, meta = json_object(raw.get("raw_app_meta_data")) or {}, json_object(raw.get("raw_user_meta_data")) or {}
    identities = spill.get(_IDENTITIES, user_id) if inputs.identities is not None else []
    providers = {provider for provider, _ in identities} | {str(p) for p in app.get("providers") or []}
    if app.get("provider"):
        providers.add(str(app["provider"]))
    first, last = meta.get("first_name") or meta.get("given_name"), meta.get("last_name") or meta.get("family_name")
    if not (first or last):
        first, last = split_name(meta.get("full_name") or meta.get("name"))
    email = raw.get("email")
    user = SourceUser(
        source_id=user_id,
        email=email,
        email_verified=bool(raw.get("email_confirmed_at")) if email else None,
        first_name=first,
        last_name=last,
        disabled=_in_future(raw.get("banned_until")),
        phone_only=not email and bool(raw.get("phone")),
        alt_emails=tuple(str(address) for _, address in identities if address),
        skip="deleted" if raw.get("deleted_at") else None,
    )
    user.metadata = {
        **meta,
        **{key: value for key, value in app.items() if key not in ("provider", "providers")},
        "supabase_providers": ",".join(sorted(providers)),
        "phone_number": raw.get("phone"),
    }
    encrypted = str(raw.get("encrypted_password") or "").strip()
    if encrypted:
        user.password = hashes.convert(encrypted, firebase=inputs.hash_config)
    elif _true(raw.get("is_sso_user")) or providers - _LOCAL_PROVIDERS:
        user.no_password = NoPassword.SOCIAL_ONLY
        user.no_password_detail = "signs in with " + ",".join(sorted(providers - _LOCAL_PROVIDERS) or ["sso"])
    else:
        user.no_password_detail = "no password in Supabase (magic link, OTP or invited)"
    factors = spill.get(_FACTORS, user_id) if inputs.mfa_factors is not None else []
    if factors:
        user.totp_secret = base32_secret(factors[0])
        if user.totp_secret is None:
            user.metadata["totp_not_exported"] = "the factor secret is not base32 (encrypted at rest?)"
    if inputs.org_attribute:
        found = membership(app.get(inputs.org_attribute, meta.get(inputs.org_attribute)))
        if found:
            user.memberships.append(found)
    if inputs.role_attribute:
        roles = app.get(inputs.role_attribute, meta.get(inputs.role_attribute))
        user.roles = (roles,) if isinstance(roles, str) else tuple(str(role) for role in roles or ())
    return user


def read(inputs: SourceInputs, spill: Spill, warnings: list[str]) -> Iterator[SourceUser]:
    """The users of ``auth.users``, with identities and TOTP factors joined by user id."""
    _load_side(inputs, spill)
    for path in inputs.users:
        for raw in table_rows(path):
            yield _user(raw, inputs, spill)
