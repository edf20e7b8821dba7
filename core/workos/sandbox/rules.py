"""Field rules of the real API for users and organizations: email, external id, metadata and passwords.

Each check raises ``ApiError`` with the status and code the real API uses, or returns the normalised value.
Uniqueness is the state's business, not this module's. Messages never quote a password, hash or secret.
"""

from __future__ import annotations

import re
from typing import Any

from core.workos.sandbox import passwords
from core.workos.sandbox.problems import ApiError, invalid_params

__all__ = [
    "HASH_TYPES",
    "check_external_id",
    "check_metadata",
    "check_optional_str",
    "normalise_email",
    "password_fields",
]

HASH_TYPES = frozenset({"bcrypt", "firebase-scrypt", "ssha", "ssha256", "scrypt", "pbkdf2", "argon2"})
MIN_PASSWORD_LENGTH = 8

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normalise_email(value: Any) -> str:
    """Trim and lower-case an email; 422 when it is missing, not a string or not an address."""
    if not isinstance(value, str) or not value.strip():
        raise invalid_params("Email must be a non-empty string.", field="email", code="email_string_required")
    email = value.strip().lower()
    if not _EMAIL.match(email):
        raise invalid_params("Email must be a valid email address.", field="email", code="invalid_email")
    return email


def check_optional_str(body: dict[str, Any], field: str) -> None:
    """422 unless ``body[field]`` is absent, null or a string."""
    value = body.get(field)
    if value is not None and not isinstance(value, str):
        raise invalid_params(f"{field} must be a string.", field=field, code="invalid_type")


def check_external_id(value: Any) -> str | None:
    """Return the external id (or None); 422 unless it is an ASCII string of at most 128 characters."""
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > 128 or not value.isascii():
        raise invalid_params(
            "external_id must be a non-empty ASCII string of at most 128 characters.",
            field="external_id",
            code="invalid_external_id",
        )
    return value


def check_metadata(value: Any) -> dict[str, str]:
    """Return the metadata map; 400 ``invalid_metadata`` past 50 keys, 40-char keys or 600-char string values."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _metadata_error("metadata must be an object.")
    if len(value) > 50:
        raise _metadata_error("metadata may have at most 50 keys.")
    for key, item in value.items():
        if len(key) > 40:
            raise _metadata_error("metadata keys may be at most 40 characters.")
        if not isinstance(item, str):
            raise _metadata_error(f"metadata value of '{key}' must be a string.")
        if len(item) > 600:
            raise _metadata_error(f"metadata value of '{key}' may be at most 600 characters.")
    return dict(value)


def _metadata_error(message: str) -> ApiError:
    return ApiError(400, {"code": "invalid_metadata", "message": message})


def password_fields(body: dict[str, Any]) -> dict[str, str] | None:
    """Check the password ``oneOf`` of create/update user and return what to store, or None if absent.

    The result has ``password`` or ``password_hash`` + ``password_hash_type`` (+ ``password_salt_position``).
    """
    password = body.get("password")
    hash_value = body.get("password_hash")
    hash_type = body.get("password_hash_type")
    salt_position = body.get("password_salt_position")
    if password is not None and hash_value is not None:
        raise _password_error("password_and_password_hash_provided", "Provide either password or password_hash.")
    if password is not None and hash_type is not None:
        raise _password_error(
            "password_and_password_hash_type_provided", "password_hash_type cannot be used with password."
        )
    if salt_position is not None and hash_value is None:
        raise _password_error(
            "password_salt_position_requires_password_hash", "password_salt_position requires password_hash."
        )
    if password is not None:
        return {"password": _plaintext(password)}
    if hash_value is None and hash_type is None:
        return None
    if not isinstance(hash_value, str) or not isinstance(hash_type, str):
        raise invalid_params(
            "password_hash and password_hash_type must be given together, as strings.", field="password_hash"
        )
    if hash_type not in HASH_TYPES:
        raise invalid_params(
            f"password_hash_type must be one of: {', '.join(sorted(HASH_TYPES))}.", field="password_hash_type"
        )
    stored = {"password_hash": hash_value, "password_hash_type": hash_type}
    if salt_position is not None:
        if hash_type != "ssha256" or salt_position not in ("prefix", "suffix"):
            raise invalid_params(
                "password_salt_position must be 'prefix' or 'suffix' and is only valid with ssha256.",
                field="password_salt_position",
            )
        stored["password_salt_position"] = salt_position
    _check_hash_format(hash_value, hash_type, salt_position)
    return stored


def _plaintext(password: Any) -> str:
    if not isinstance(password, str):
        raise invalid_params("password must be a string.", field="password", code="invalid_type")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ApiError(
            400,
            {
                "code": "password_strength_error",
                "message": "Password does not meet strength requirements.",
                "errors": [
                    {
                        "code": "password_too_short",
                        "message": f"Password must be at least {MIN_PASSWORD_LENGTH} characters.",
                    }
                ],
            },
        )
    return password


def _check_hash_format(value: str, hash_type: str, salt_position: str | None) -> None:
    if passwords.parse(hash_type, value, salt_position) is None:
        raise _password_error("invalid_password_hash", f"The password hash is not a valid {hash_type} hash.")


def _password_error(code: str, message: str) -> ApiError:
    return ApiError(400, {"code": code, "message": message})
