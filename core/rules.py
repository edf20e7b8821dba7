"""The validation rules as data: each stable code with its severity, column, auto-fix and an example fix.

``docs/csv-format.md`` lists the same table (a test keeps them in step). The checks that apply the rules
live in ``records``; this module only names and describes them, with the limits they use.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

__all__ = [
    "CROSS_ROW_CODES",
    "EXTERNAL_ID_MAX_CHARS",
    "HASH_TYPES",
    "METADATA_MAX_KEYS",
    "METADATA_MAX_KEY_CHARS",
    "METADATA_MAX_VALUE_CHARS",
    "RULES",
    "Rule",
    "Severity",
]

Severity = Literal["error", "warning"]

HASH_TYPES: tuple[str, ...] = ("bcrypt", "firebase-scrypt", "ssha", "ssha256", "scrypt", "pbkdf2", "argon2")
"""The password hash types WorkOS accepts (``password_hash_type``)."""

METADATA_MAX_KEYS = 50
METADATA_MAX_KEY_CHARS = 40
METADATA_MAX_VALUE_CHARS = 600
EXTERNAL_ID_MAX_CHARS = 128


class Rule(NamedTuple):
    """A validation rule: its stable code, severity, column, whether auto-fix handles it, and an example fix."""

    code: str
    severity: Severity
    column: str | None
    fixable: bool
    summary: str
    example_fix: str


RULES: dict[str, Rule] = {
    rule.code: rule
    for rule in (
        Rule("email_missing", "error", "email", False, "The email is empty.", "Fill in the user's email address."),
        Rule(
            "email_invalid",
            "error",
            "email",
            False,
            "The email is not a valid address.",
            "`alice@@example.com` -> `alice@example.com`",
        ),
        Rule(
            "email_duplicate_in_org",
            "error",
            "email",
            False,
            "The same email appears twice for the same organization (or twice in single-org or user-only mode).",
            "Delete the repeated row, or merge its role_slugs into the first one.",
        ),
        Rule(
            "external_id_too_long",
            "error",
            "external_id",
            False,
            f"external_id is longer than {EXTERNAL_ID_MAX_CHARS} characters.",
            "Use a shorter identifier (for example the source system's numeric id).",
        ),
        Rule(
            "external_id_not_ascii",
            "error",
            "external_id",
            False,
            "external_id holds characters outside ASCII.",
            "`usr-é1` -> `usr-e1`",
        ),
        Rule(
            "external_id_shared",
            "error",
            "external_id",
            False,
            "Two different emails use the same external_id (WorkOS keeps it unique).",
            "Give each user its own external_id, or clear it on one of the rows.",
        ),
        Rule(
            "metadata_not_json",
            "error",
            "metadata",
            False,
            "metadata is not valid JSON.",
            '`{plan: pro}` -> `{"plan": "pro"}`',
        ),
        Rule(
            "metadata_not_object",
            "error",
            "metadata",
            False,
            "metadata is JSON but not an object.",
            '`["pro"]` -> `{"plan": "pro"}`',
        ),
        Rule(
            "metadata_too_many_keys",
            "error",
            "metadata",
            False,
            f"metadata has more than {METADATA_MAX_KEYS} keys.",
            "Keep the keys you need after the move; drop the rest.",
        ),
        Rule(
            "metadata_key_too_long",
            "error",
            "metadata",
            False,
            f"A metadata key is longer than {METADATA_MAX_KEY_CHARS} characters.",
            "Shorten the key.",
        ),
        Rule(
            "metadata_value_too_long",
            "error",
            "metadata",
            False,
            f"A metadata value is longer than {METADATA_MAX_VALUE_CHARS} characters (after stringifying).",
            "Shorten the value or store it elsewhere.",
        ),
        Rule(
            "metadata_invalid_unicode",
            "error",
            "metadata",
            False,
            "metadata escapes a lone surrogate (such as \\ud800), which is not a character and cannot be sent.",
            'Remove the escape or complete the pair: `{"a": "\\ud83d\\ude00"}`',
        ),
        Rule(
            "metadata_too_deep",
            "error",
            "metadata",
            False,
            "metadata nests objects or arrays too deeply to read.",
            'Flatten it to string values: `{"plan": "pro"}`',
        ),
        Rule(
            "metadata_value_not_string",
            "warning",
            "metadata",
            True,
            "A metadata value is not a string; WorkOS accepts only strings, so it is sent as JSON text.",
            '`{"seats": 5}` -> `{"seats": "5"}`',
        ),
        Rule(
            "email_verified_format",
            "warning",
            "email_verified",
            True,
            "email_verified is boolean-like but not `true`/`false` (for example `1`, `yes`).",
            "`yes` -> `true`",
        ),
        Rule(
            "email_verified_invalid",
            "error",
            "email_verified",
            True,
            "email_verified is not boolean-like; auto-fix clears it (WorkOS then treats the email as unverified).",
            "`maybe` -> `` (empty) or `true`/`false`",
        ),
        Rule(
            "password_with_hash",
            "error",
            "password",
            False,
            "A row has both a plaintext password and a password_hash; WorkOS takes one or the other.",
            "Keep the hash and clear the password column for this row.",
        ),
        Rule(
            "password_hash_type_missing",
            "error",
            "password_hash_type",
            False,
            "password_hash is set but password_hash_type is empty.",
            "Set password_hash_type, e.g. `bcrypt` for hashes starting `$2b$`.",
        ),
        Rule(
            "password_hash_type_unsupported",
            "error",
            "password_hash_type",
            False,
            "password_hash_type is not one of " + ", ".join(HASH_TYPES) + ".",
            "`md5` cannot be imported: clear the hash so the user resets the password.",
        ),
        Rule(
            "password_hash_invalid",
            "error",
            "password_hash",
            False,
            "The hash does not parse for its type (bcrypt: `$2a$`/`$2b$`/`$2y$`, cost, 53 characters; "
            "firebase-scrypt: `$firebase-scrypt$hash=..$salt=..$sk=..$ss=..$r=..$m=..`; argon2, scrypt, pbkdf2: "
            "PHC strings; ssha, ssha256: `{SSHA}`/`{SSHA256}` and base64 of digest then salt).",
            "Re-export the hash from the source system without truncation.",
        ),
        Rule(
            "password_hash_type_without_hash",
            "warning",
            "password_hash_type",
            True,
            "password_hash_type is set but password_hash is empty; the type is ignored (auto-fix clears it).",
            "Clear password_hash_type, or fill in the hash.",
        ),
        Rule(
            "password_salt_position_invalid",
            "error",
            "password_salt_position",
            False,
            "password_salt_position is neither `prefix` nor `suffix`.",
            "`before` -> `prefix`",
        ),
        Rule(
            "password_salt_position_not_ssha256",
            "error",
            "password_salt_position",
            False,
            "password_salt_position is only allowed with an ssha256 password_hash.",
            "Clear password_salt_position, or set password_hash_type to `ssha256`.",
        ),
        Rule(
            "org_id_and_external_id",
            "error",
            "org_id",
            False,
            "A row has both org_id and org_external_id; use one to name the organization.",
            "Keep org_id and clear org_external_id for this row.",
        ),
        Rule(
            "org_id_invalid",
            "error",
            "org_id",
            False,
            "org_id is not a WorkOS organization id (they start with `org_`).",
            "Move your own identifier to the org_external_id column.",
        ),
        Rule(
            "org_missing",
            "warning",
            "org_id",
            False,
            "A multi-org file has a row without an organization: the user is created without a membership.",
            "Fill in org_id, org_external_id or org_name, or accept a user without membership.",
        ),
        Rule(
            "org_required",
            "error",
            "org_id",
            False,
            "--require-membership is set and the row names no organization.",
            "Fill in org_id, org_external_id or org_name.",
        ),
        Rule(
            "role_slug_invalid",
            "error",
            "role_slugs",
            False,
            "A role slug is malformed (lower-case letters, digits, `-` and `_`, starting with a letter or digit), "
            "or role_slugs is neither a JSON array of strings nor a comma list.",
            '`Admin` -> `admin`; `[admin` -> `["admin"]` or `admin`',
        ),
        Rule(
            "roles_without_org",
            "warning",
            "role_slugs",
            False,
            "role_slugs is set on a row without an organization; roles belong to memberships, so they are ignored.",
            "Add the organization, or clear role_slugs.",
        ),
        Rule(
            "totp_secret_invalid",
            "error",
            "totp_secret",
            False,
            "totp_secret is not base32 (A-Z and 2-7, optional `=` padding).",
            "Re-export the secret in base32, not hex.",
        ),
        Rule(
            "row_too_long",
            "error",
            None,
            False,
            "The row has values beyond the last header column (often an unquoted comma inside a field).",
            'Quote the field that holds a comma: `"Smith, Jr."`.',
        ),
        Rule(
            "row_too_short",
            "warning",
            None,
            False,
            "The row has fewer fields than the header; the missing ones are read as empty.",
            "Check the row was not split by an unquoted line break.",
        ),
        Rule(
            "org_columns_ignored",
            "warning",
            None,
            False,
            "An organization option is given, so the file's organization columns are ignored (reported once).",
            "Drop the option to import the file as multi-org, or drop the columns.",
        ),
    )
}

CROSS_ROW_CODES = frozenset({"email_duplicate_in_org", "external_id_shared"})
"""Rules that compare a row with earlier rows (only rows without per-row errors take part)."""
