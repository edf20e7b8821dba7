"""Django: a ``auth_user`` table exported as CSV (``\\copy auth_user TO 'users.csv' CSV HEADER``) or JSON.

``password`` holds Django's ``<algorithm>$...`` strings: pbkdf2_sha256/pbkdf2_sha1, argon2, bcrypt and
scrypt convert; ``bcrypt_sha256`` (a pre-hash), salted or unsalted md5/sha1 and crypt are refused by
name; a value starting ``!`` is an unusable password (the user signs in another way). Inactive users
(``is_active`` false) are disabled. Django has no organizations.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from core import hashes
from core.sources.model import NoPassword, SourceInputs, SourceUser
from core.sources.readers import table_rows
from core.sources.spill import Spill

__all__ = ["read"]


def _flag(value: Any) -> bool:
    return value is True or str(value).strip().lower() in ("true", "t", "1")


def read(inputs: SourceInputs, spill: Spill, warnings: list[str]) -> Iterator[SourceUser]:
    """The users of the ``auth_user`` export(s)."""
    for path in inputs.users:
        for raw in table_rows(path):
            user = SourceUser(
                source_id=str(raw.get("id") or ""),
                email=raw.get("email"),
                first_name=raw.get("first_name") or None,
                last_name=raw.get("last_name") or None,
                disabled="is_active" in raw and not _flag(raw.get("is_active")),
            )
            user.metadata = {
                "django_username": raw.get("username"),
                "django_is_staff": "true" if _flag(raw.get("is_staff")) else None,
                "django_is_superuser": "true" if _flag(raw.get("is_superuser")) else None,
                "django_date_joined": raw.get("date_joined"),
            }
            password = str(raw.get("password") or "").strip()
            if password.startswith("!"):
                user.no_password = NoPassword.SOCIAL_ONLY
                user.no_password_detail = "unusable password (!): signs in another way"
            elif password:
                user.password = hashes.convert(password)
            else:
                user.no_password_detail = "empty password column"
            yield user
