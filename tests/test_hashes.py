"""The hash registry: every source layout converts to a WorkOS string that signs in, the rest is refused.

Hashes are made by the libraries the sources use (tests/hash_fixtures.py); "signs in" is the sandbox's
own verifier, which does not share code with the registry.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core import MigrationOptions, hashes, plan
from core.errors import OptionsError
from core.hashes import ImportHash, Refusal, RefusalReason
from core.validation import validate_csv
from core.workos.sandbox import passwords
from tests import hash_fixtures as fx
from tests.conftest import CsvWriter

PASSWORD = "correct horse battery"


def signs_in(conversion: hashes.Conversion, password: str = PASSWORD) -> bool:
    assert isinstance(conversion, ImportHash), conversion
    stored = {"password_hash": conversion.value, "password_hash_type": conversion.hash_type}
    if conversion.salt_position:
        stored["password_salt_position"] = conversion.salt_position
    return passwords.matches(stored, password)


def _cases() -> list[tuple[str, str, str | None, str]]:
    salt = os.urandom(16)
    return [
        ("bcrypt $2b$", fx.bcrypt_hash(PASSWORD), None, "bcrypt"),
        ("bcrypt $2a$", fx.bcrypt_hash(PASSWORD, "2a"), "bcrypt", "bcrypt"),
        ("bcrypt $2y$ (PHP)", fx.bcrypt_hash(PASSWORD, "2y"), None, "bcrypt"),
        ("Django bcrypt", "bcrypt$" + fx.bcrypt_hash(PASSWORD), None, "bcrypt"),
        ("argon2id", fx.argon2_hash(PASSWORD), "argon2id", "argon2"),
        ("argon2i", fx.argon2_hash(PASSWORD, "i"), "argon2i", "argon2"),
        ("Django argon2", "argon2" + fx.argon2_hash(PASSWORD), None, "argon2"),
        ("Django pbkdf2_sha256", fx.django_pbkdf2(PASSWORD), None, "pbkdf2"),
        (
            "Clerk pbkdf2_sha256 (base64 salt)",
            f"pbkdf2_sha256$1000${fx.b64(salt)}${fx.b64(fx.pbkdf2_raw(PASSWORD, salt))}",
            "pbkdf2_sha256",
            "pbkdf2",
        ),
        (
            "PHC pbkdf2-sha512",
            f"$pbkdf2-sha512$i=1000,l=64${fx.b64(salt).rstrip('=')}$"
            + fx.b64(fx.pbkdf2_raw(PASSWORD, salt, name="sha512", length=64)).rstrip("="),
            None,
            "pbkdf2",
        ),
        ("Django scrypt", fx.django_scrypt(PASSWORD), None, "scrypt"),
        (
            "PHC scrypt",
            f"$scrypt$ln=4,r=8,p=1${fx.b64(salt).rstrip('=')}${fx.b64(fx.scrypt_raw(PASSWORD, salt, length=32))}",
            None,
            "scrypt",
        ),
        ("LDAP {SSHA}", fx.ssha(PASSWORD, salt[:8]), "ldap_ssha", "ssha"),
        ("LDAP {SSHA256}", fx.ssha(PASSWORD, salt[:8], sha256=True), None, "ssha256"),
    ]


@pytest.mark.parametrize(("label", "value", "hint", "hash_type"), _cases(), ids=lambda case: str(case)[:30])
def test_each_layout_converts_to_a_hash_that_signs_in(label: str, value: str, hint: str | None, hash_type: str) -> None:
    conversion = hashes.convert(value, hint=hint)
    assert isinstance(conversion, ImportHash) and conversion.hash_type == hash_type, label
    assert signs_in(conversion) and not signs_in(conversion, PASSWORD + "!")
    assert hashes.check(conversion.hash_type, conversion.value) is None
    assert conversion.value not in repr(conversion)


def test_2y_is_rewritten_to_2b_and_nothing_else_changes() -> None:
    value = fx.bcrypt_hash(PASSWORD, "2y")
    conversion = hashes.convert(value)
    assert isinstance(conversion, ImportHash) and conversion.value == "$2b$" + value[4:]


def test_the_firebase_test_vector_converts_to_the_documented_string_and_signs_in() -> None:
    params = hashes.parse_firebase_params(fx.FIREBASE_VECTOR_CONFIG)
    conversion = hashes.firebase_scrypt(fx.FIREBASE_VECTOR["passwordHash"], fx.FIREBASE_VECTOR["salt"], params)
    assert isinstance(conversion, ImportHash)
    assert conversion.value == (
        "$firebase-scrypt$hash=lSrfV15cpx95/sZS2W9c9Kp6i/LVgQNDNC/qzrCnh1SAyZvqmZqAjTdn3aoItz+VHjoZilo78198JAdRuid5lQ"
        "$salt=42xEC+ixf3L2lw$sk=jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210wjLNmdZJzxUECKbm0QsEmYUSDzZvpjeJ9WmXA"
        "$ss=Bw$r=8$m=14"
    )
    assert signs_in(conversion, "user1password") and not signs_in(conversion, "user2password")


def test_url_safe_firebase_base64_and_supabase_fbscrypt_sign_in() -> None:
    params = hashes.parse_firebase_params(fx.FIREBASE_CHEAP_CONFIG)
    digest, salt = fx.firebase_user_hash(PASSWORD)
    url_safe = hashes.firebase_scrypt(digest.replace("+", "-").replace("/", "_").rstrip("="), salt, params)
    assert signs_in(url_safe)
    sk, ss = fx.b64(params.signer_key), fx.b64(params.salt_separator)
    supabase = f"$fbscrypt$v=1,n=16,r=1,p=1,ss={ss},sk={sk}${salt}${digest}"
    assert signs_in(hashes.convert(supabase))
    without_keys = hashes.convert(f"$fbscrypt$v=1,n=16,r=1,p=1${salt}${digest}")
    assert isinstance(without_keys, Refusal) and without_keys.reason is RefusalReason.PARAMS_MISSING
    assert signs_in(hashes.convert(f"$fbscrypt$v=1,n=16,r=1,p=1${salt}${digest}", firebase=params))
    clerk = f"{digest}${salt}${sk}${ss}$1$4"
    assert signs_in(hashes.convert(clerk, hint="scrypt_firebase"))


def test_firebase_without_project_parameters_is_refused_not_guessed() -> None:
    refusal = hashes.firebase_scrypt(fx.FIREBASE_VECTOR["passwordHash"], fx.FIREBASE_VECTOR["salt"], None)
    assert isinstance(refusal, Refusal) and refusal.reason is RefusalReason.PARAMS_MISSING


@pytest.mark.parametrize(
    ("value", "hint", "algorithm", "reason"),
    [
        ("5f4dcc3b5aa765d61d8327deb882cf99", None, "md5", RefusalReason.NOT_IMPORTABLE),
        ("$P$BZlPX7NIx8MYpXokBW2AGsN7i.aUOt0", None, "phpass", RefusalReason.NOT_IMPORTABLE),
        (
            "$2x$10$" + "N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
            None,
            "bcrypt-2x",
            RefusalReason.NOT_IMPORTABLE,
        ),
        (
            "bcrypt_sha256$$2b$12$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
            None,
            "bcrypt_sha256",
            RefusalReason.NOT_IMPORTABLE,
        ),
        ("sha1$abc$2fd4e1c67a2d28fced849ee1bb76e7391b93eb12", None, "django-sha1", RefusalReason.NOT_IMPORTABLE),
        ("$6$rounds=5000$salt$hash", None, "sha512-crypt", RefusalReason.NOT_IMPORTABLE),
        ("N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy", None, "unknown", RefusalReason.UNRECOGNISED),
        ("anything", "md5", "md5", RefusalReason.NOT_IMPORTABLE),
        ("anything", "bcrypt_sha256_django", "bcrypt_sha256_django", RefusalReason.NOT_IMPORTABLE),
        ("$2b$10$tooShort", "bcrypt", "bcrypt", RefusalReason.MALFORMED),
        ("$2b$04$" + "a" * 53, "argon2id", "argon2id", RefusalReason.MALFORMED),
        ("$argon2id$v=19$m=65536,t=3$c29tZXNhbHQ$aGFzaA", None, "argon2", RefusalReason.MALFORMED),
        ("$pbkdf2-md5$i=1,l=16$c2FsdA$aGFzaA", None, "pbkdf2", RefusalReason.MALFORMED),
        ("x", "some_new_hasher", "some_new_hasher", RefusalReason.UNRECOGNISED),
    ],
)
def test_what_workos_cannot_import_is_refused_with_its_name(
    value: str, hint: str | None, algorithm: str, reason: RefusalReason
) -> None:
    refusal = hashes.convert(value, hint=hint)
    assert isinstance(refusal, Refusal)
    assert (refusal.algorithm, refusal.reason) == (algorithm, reason)
    assert value not in refusal.detail


@pytest.mark.parametrize(
    ("hash_type", "value"),
    [
        ("bcrypt", "$2x$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"),
        ("argon2", "argon2$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g"),
        ("scrypt", "scrypt$16$salt$8$1$aGFzaA=="),
        ("pbkdf2", "pbkdf2_sha256$1000$salt$aGFzaA=="),
        ("ssha", "{SSHA}c2hvcnQ="),
        ("ssha256", "{SSHA}" + fx.b64(b"x" * 40)),
        ("firebase-scrypt", "$firebase-scrypt$hash=x"),
        ("md5", "5f4dcc3b5aa765d61d8327deb882cf99"),
    ],
)
def test_check_refuses_source_layouts_that_are_not_workos_strings(hash_type: str, value: str) -> None:
    problem = hashes.check(hash_type, value)
    assert problem is not None and value not in problem


def test_hash_config_block_json_and_their_errors() -> None:
    block = hashes.parse_firebase_params(fx.FIREBASE_VECTOR_CONFIG)
    as_json = hashes.parse_firebase_params(
        '{"hash_config": {"algorithm": "SCRYPT", "base64_signer_key": "' + fx.b64(block.signer_key) + '", '
        '"base64_salt_separator": "Bw==", "rounds": 8, "mem_cost": 14}}'
    )
    assert block == as_json and (block.rounds, block.mem_cost, block.salt_separator) == (8, 14, b"\x07")
    assert "signer_key=" not in repr(block)
    with pytest.raises(OptionsError) as caught:
        hashes.parse_firebase_params("hash_config {\n  algorithm: SCRYPT,\n  rounds: 9,\n}")
    message = str(caught.value)
    assert "base64_signer_key" in message and "rounds" in message and "mem_cost" in message
    with pytest.raises(OptionsError, match="HMAC_SHA256"):
        hashes.parse_firebase_params(fx.FIREBASE_VECTOR_CONFIG.replace("SCRYPT", "HMAC_SHA256"))


def test_unproven_types_carry_the_canary_warning() -> None:
    assert hashes.unproven_warning("bcrypt") is None and hashes.unproven_warning("firebase-scrypt") is None
    warning = hashes.unproven_warning("argon2")
    assert warning == "argon2: format not proven against WorkOS; check with a login canary first"
    assert {"argon2", "scrypt", "pbkdf2", "ssha", "ssha256"} == hashes.UNPROVEN


def test_validate_and_plan_use_the_registry(write_users: CsvWriter, tmp_path: Path) -> None:
    argon = hashes.convert(fx.argon2_hash(PASSWORD))
    assert isinstance(argon, ImportHash)
    rows = [
        {"email": "a@x.com", "password_hash": argon.value, "password_hash_type": "argon2"},
        {"email": "b@x.com", "password_hash": "argon2" + argon.value, "password_hash_type": "argon2"},
        {"email": "c@x.com", "password_hash": fx.bcrypt_hash(PASSWORD), "password_hash_type": "bcrypt"},
    ]
    path = write_users(rows)
    checked = validate_csv(path)
    assert [(issue.rows, issue.code) for issue in checked.issues] == [([3], "password_hash_invalid")]
    assert all(argon.value not in issue.message for issue in checked.issues)
    result = plan(MigrationOptions.build(csv_path=path, checkpoint_dir=tmp_path / "ckpt"), api_key="")
    assert "argon2: format not proven against WorkOS; check with a login canary first" in result.warnings
