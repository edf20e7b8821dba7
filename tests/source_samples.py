"""Realistic exports of every provider, written with the providers' real field names and edge cases.

Each ``write_<source>(directory)`` writes the files and returns a ``Sample``: the ``convert`` arguments and
what must come out (who signs in with which password, who is on the reset list and why, who is skipped).
Hashes are real (tests/hash_fixtures.py) with low costs, except the Firebase test vector.
"""

from __future__ import annotations

import base64
import csv
import gzip
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.sources import SourceInputs
from tests import hash_fixtures as fx


@dataclass
class Sample:
    inputs: SourceInputs
    signs_in: dict[str, str] = field(default_factory=dict)
    """email -> password of every user converted with a hash."""
    reset: dict[str, str] = field(default_factory=dict)
    """email -> reset reason."""
    skipped: dict[str, int] = field(default_factory=dict)
    """reason -> users."""
    role_map: dict[str, str] = field(default_factory=dict)
    memberships: dict[str, set[str]] = field(default_factory=dict)
    """email -> organization external ids it must end up in."""
    totp: set[str] = field(default_factory=set)
    """emails that carry a TOTP secret."""


def _ndjson(path: Path, rows: list[dict[str, Any]], *, gzipped: bool = False) -> Path:
    text = "".join(json.dumps(row) + "\n" for row in rows)
    path.write_bytes(gzip.compress(text.encode()) if gzipped else text.encode())
    return path


def _csv(path: Path, header: list[str] | None, rows: list[list[str]]) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if header:
        writer.writerow(header)
    writer.writerows(rows)
    path.write_text(buffer.getvalue())
    return path


def write_auth0(directory: Path) -> Sample:
    passwords = {name: f"{name}-Secret-1" for name in ("dana", "alt", "conn1", "conn2", "many")}
    db = [{"connection": "Username-Password-Authentication", "provider": "auth0", "isSocial": False}]
    users = [
        {
            "user_id": "auth0|65f1c0de9b1e4a0012ab34cd",
            "email": "Dana.Lee@Acme.io",
            "email_verified": True,
            "given_name": "Dana",
            "family_name": "Lee",
            "name": "Dana Lee",
            "identities": [{**db[0], "user_id": "65f1c0de9b1e4a0012ab34cd"}],
            "app_metadata": {"roles": ["admin"], "tenant_id": "acme"},
            "user_metadata": {"locale": "en-GB", "prefs": {"theme": "dark"}},
            "created_at": "2024-03-13T15:02:11.123Z",
            "last_login": "2026-05-01T08:00:00.000Z",
            "logins_count": 42,
            "blocked": False,
        },
        {
            # A social user sharing Dana's email: merged into her, its organization kept.
            "user_id": "google-oauth2|109348756234587230001",
            "email": "dana.lee@acme.io",
            "email_verified": True,
            "name": "Dana Lee",
            "identities": [{"connection": "google-oauth2", "provider": "google-oauth2", "isSocial": True}],
        },
        {
            "user_id": "samlp|acme-saml|sam@acme.io",
            "email": "sam@acme.io",
            "name": "sam@acme.io",
            "identities": [{"connection": "acme-saml", "provider": "samlp", "isSocial": False}],
        },
        {
            "user_id": "auth0|65f1c0de9b1e4a0012ab0002",
            "email": "blocked@acme.io",
            "identities": db,
            "blocked": True,
        },
        {
            # Its password row has no root email and an alt_id: joined by id all the same.
            "user_id": "auth0|legacy-77",
            "email": "alt@acme.io",
            "email_verified": False,
            "identities": db,
        },
        {"user_id": "sms|65f1c0de9b1e4a0012ab0003", "phone_number": "+15555550123", "identities": []},
        {"user_id": "auth0|65f1c0de9b1e4a0012ab0004", "email": "md5@acme.io", "identities": db},
        {"user_id": "auth0|65f1c0de9b1e4a0012ab0005", "email": "nohash@acme.io", "identities": db},
        {"user_id": "auth0|65f1c0de9b1e4a0012ab0006", "email": "Twice@Acme.io", "identities": db},
        {
            "user_id": "auth0|65f1c0de9b1e4a0012ab0007",
            "email": "twice@acme.io",
            "identities": [{**db[0], "connection": "Second-DB"}],
        },
        {
            "user_id": "auth0|65f1c0de9b1e4a0012ab0008",
            "email": "many@acme.io",
            "identities": db,
            "app_metadata": {f"key_{index:02d}": f"value {index}" for index in range(60)}
            | {"a_key_that_is_much_longer_than_forty_characters": "x", "huge": "y" * 700},
        },
    ]
    rows = [
        {
            "_id": {"$oid": "65f1c0de9b1e4a0012ab34cd"},
            "email": "dana.lee@acme.io",
            "email_verified": True,
            "passwordHash": fx.bcrypt_hash(passwords["dana"]),
            "password_set_date": {"$date": "2024-03-13T15:02:11.412Z"},
            "tenant": "acme-prod",
            "connection": "Username-Password-Authentication",
            "_tmp_is_unique": True,
        },
        {
            "_id": {"$oid": "65f1c0de9b1e4a0012ab9999"},
            "alt_id": "legacy-77",
            "identifiers": [{"type": "email", "value": "alt@acme.io", "verified": False}],
            "passwordHash": fx.bcrypt_hash(passwords["alt"], "2a"),
            "connection": "Username-Password-Authentication",
        },
        {"_id": {"$oid": "65f1c0de9b1e4a0012ab0004"}, "passwordHash": "5f4dcc3b5aa765d61d8327deb882cf99"},
        {"_id": {"$oid": "65f1c0de9b1e4a0012ab0006"}, "passwordHash": fx.bcrypt_hash(passwords["conn1"])},
        {"_id": {"$oid": "65f1c0de9b1e4a0012ab0007"}, "passwordHash": fx.bcrypt_hash(passwords["conn2"])},
        {"_id": {"$oid": "65f1c0de9b1e4a0012ab0008"}, "passwordHash": fx.bcrypt_hash(passwords["many"])},
        {"_id": {"$oid": "65f1c0de9b1e4a0012abdead"}, "email": "gone@acme.io", "passwordHash": fx.bcrypt_hash("x")},
    ]
    members = [
        {
            "organization": {"id": "org_acme", "name": "acme", "display_name": "Acme Inc"},
            "members": [{"user_id": "auth0|65f1c0de9b1e4a0012ab34cd", "roles": [{"id": "rol_1", "name": "Admin"}]}],
            "next": "eyJ0YWtlIjoxMDB9",
        },
        {
            "organization": {"id": "org_globex", "name": "globex", "display_name": "Globex"},
            "members": [
                {"user_id": "google-oauth2|109348756234587230001", "roles": [{"id": "rol_2", "name": "Member"}]},
                {"user_id": "samlp|acme-saml|sam@acme.io", "roles": []},
            ],
        },
    ]
    inputs = SourceInputs(
        users=[_ndjson(directory / "users.ndjson.gz", users, gzipped=True)],
        passwords=_ndjson(directory / "passwords.ndjson", rows),
        org_members=_ndjson(directory / "org_members.ndjson", members),
    )
    return Sample(
        inputs=inputs,
        signs_in={
            "dana.lee@acme.io": passwords["dana"],
            "alt@acme.io": passwords["alt"],
            "twice@acme.io": passwords["conn1"],
            "many@acme.io": passwords["many"],
        },
        reset={
            "sam@acme.io": "social_only",
            "md5@acme.io": "hash_not_importable",
            "nohash@acme.io": "no_hash_exported",
        },
        skipped={"duplicate_email": 2, "disabled": 1, "phone_only": 1},
        role_map={"Admin": "admin", "Member": "member"},
        memberships={"dana.lee@acme.io": {"org_acme", "org_globex"}, "sam@acme.io": {"org_globex"}},
    )


def write_firebase(directory: Path) -> tuple[Sample, Sample]:
    """The JSON export (under the test vector's project parameters) and the CSV export (cheap parameters)."""
    vector = fx.FIREBASE_VECTOR
    url_safe = {key: vector[key].replace("+", "-").replace("/", "_").rstrip("=") for key in ("passwordHash", "salt")}
    users = [
        {
            "localId": "Qm2Wf8kR1sXbY0uZ3aT9pLc4Hn72",
            "email": "priya@globex.dev",
            "emailVerified": True,
            "passwordHash": vector["passwordHash"],
            "salt": vector["salt"],
            "displayName": "Priya Raman",
            "lastSignedInAt": "1714550400000",
            "createdAt": "1704067200000",
            "customAttributes": '{"orgId":"globex","role":"admin"}',
            "providerUserInfo": [
                {"providerId": "google.com", "rawId": "10934875623458723", "email": "priya@gmail.com"}
            ],
            "mfaInfo": [{"mfaEnrollmentId": "e1", "phoneInfo": "+15555550100", "enrolledAt": "2024-01-01T00:00:00Z"}],
        },
        {
            "localId": "UrlSafe0000000000000000000001",
            "email": "urlsafe@globex.dev",
            "emailVerified": False,
            **url_safe,
            "displayName": "Url Safe",
        },
        {"localId": "PhoneOnly00000000000000000001", "phoneNumber": "+15555550111"},
        {
            "localId": "Disabled000000000000000000001",
            "email": "off@globex.dev",
            "passwordHash": vector["passwordHash"],
            "salt": vector["salt"],
            "disabled": True,
        },
        {
            "localId": "GoogleOnly0000000000000000001",
            "email": "gina@globex.dev",
            "emailVerified": True,
            "providerUserInfo": [{"providerId": "google.com", "rawId": "1", "email": "gina@globex.dev"}],
        },
        {"localId": "Md5Imported000000000000000001", "email": "old@globex.dev", "emailVerified": True},
    ]
    text = '{"users": [\n' + ",\n".join(json.dumps(user, indent=2) for user in users) + "]}\n"
    (directory / "users.json").write_text(text)
    (directory / "hash_config.txt").write_text(fx.FIREBASE_VECTOR_CONFIG)
    json_sample = Sample(
        inputs=SourceInputs(users=[directory / "users.json"], org_attribute="orgId", role_attribute="role"),
        signs_in={"priya@globex.dev": vector["password"], "urlsafe@globex.dev": vector["password"]},
        reset={"gina@globex.dev": "social_only", "old@globex.dev": "no_hash_exported"},
        skipped={"phone_only": 1, "disabled": 1},
        memberships={"priya@globex.dev": {"globex"}},
    )

    def line(local_id: str, email: str, password: str | None, name: str, *, google: str = "") -> str:
        digest, salt = fx.firebase_user_hash(password) if password else ("", "")
        fields = [local_id, email, "true", digest, salt, name, "", google, email if google else "", "", ""]
        fields += [""] * 12 + ["1704067200000", "1714550400000", "", "false", ""]
        quoted = [f'"{value}"' if "," in value else value for value in fields]
        return ",".join(quoted) + ",\n"

    csv_lines = [
        line("csv1", "ann@initrode.com", "ann-Password-1", "Ann Lee"),
        line("csv2", "bob@initrode.com", "bob-Password-2", "Smith, Bob"),
        line("csv3", "pat@initrode.com", "pat-Password-3", 'O"Neil, Pat'),
        line("csv4", "gus@initrode.com", None, "Gus", google="1234"),
    ]
    (directory / "users.csv").write_text("".join(csv_lines))
    (directory / "hash_config_cheap.txt").write_text(fx.FIREBASE_CHEAP_CONFIG)
    csv_sample = Sample(
        inputs=SourceInputs(users=[directory / "users.csv"]),
        signs_in={"ann@initrode.com": "ann-Password-1", "bob@initrode.com": "bob-Password-2"},
        reset={"gus@initrode.com": "social_only"},
        skipped={"malformed_row": 1},
    )
    return json_sample, csv_sample


def write_clerk(directory: Path) -> Sample:
    header = [
        "id", "first_name", "last_name", "username", "primary_email_address", "primary_phone_number",
        "verified_email_addresses", "unverified_email_addresses", "verified_phone_numbers",
        "unverified_phone_numbers", "totp_secret", "password_digest", "password_hasher",
    ]  # fmt: skip
    digest, salt = fx.firebase_user_hash("fb-Password-4")
    sk = "jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210wjLNmdZJzxUECKbm0QsEmYUSDzZvpjeJ9WmXA=="
    raw_salt = os.urandom(16)
    pbkdf2 = f"pbkdf2_sha256$1000${fx.b64(raw_salt)}${fx.b64(fx.pbkdf2_raw('pb-Password-6', raw_salt))}"
    rows = [
        ["user_2gQPH11rXtJguHjsx7VtUo8QGh2", "Paul", "Atreides", "paul", "paul@arrakis.io", "+15555550100",
         "paul@arrakis.io|p.atreides@caladan.org", "", "+15555550100", "", "JBSWY3DPEHPK3PXP",
         fx.bcrypt_hash("paul-Password-1", "2a"), "bcrypt"],
        ["user_2", "Leto", "", "", "leto@arrakis.io", "", "", "leto@arrakis.io", "", "", "",
         fx.argon2_hash("leto-Password-2"), "argon2id"],
        ["user_3", "Fey", "", "", "fey@arrakis.io", "", "fey@arrakis.io", "", "", "", "",
         f"{digest}${salt}${sk}$Bw==$1$4", "scrypt_firebase"],
        ["user_4", "Md", "", "", "md@arrakis.io", "", "md@arrakis.io", "", "", "", "",
         "5f4dcc3b5aa765d61d8327deb882cf99", "md5"],
        ["user_5", "Phone", "", "", "", "+15555550155", "", "", "+15555550155", "", "", "", ""],
        ["user_6", "Pb", "", "", "pb@arrakis.io", "", "pb@arrakis.io", "", "", "", "", pbkdf2, "pbkdf2_sha256"],
        ["user_7", "Oauth", "", "", "oauth@arrakis.io", "", "oauth@arrakis.io", "", "", "", "", "", ""],
    ]  # fmt: skip
    memberships = {
        "data": [
            {"object": "organization_membership", "role": "org:admin",
             "organization": {"id": "org_2arrakis", "name": "Arrakis", "slug": "arrakis"},
             "public_user_data": {"user_id": "user_2gQPH11rXtJguHjsx7VtUo8QGh2"}},
            {"object": "organization_membership", "role": "org:billing_admin",
             "organization": {"id": "org_2caladan", "name": "Caladan", "slug": "caladan"},
             "public_user_data": {"user_id": "user_2gQPH11rXtJguHjsx7VtUo8QGh2"}},
            {"object": "organization_membership", "role": "org:member",
             "organization": {"id": "org_2arrakis", "name": "Arrakis", "slug": "arrakis"},
             "public_user_data": {"user_id": "user_2"}},
        ],
        "total_count": 3,
    }  # fmt: skip
    (directory / "memberships.json").write_text(json.dumps(memberships))
    return Sample(
        inputs=SourceInputs(
            users=[_csv(directory / "users.csv", header, rows)], memberships=directory / "memberships.json"
        ),
        signs_in={
            "paul@arrakis.io": "paul-Password-1",
            "leto@arrakis.io": "leto-Password-2",
            "fey@arrakis.io": "fb-Password-4",
            "pb@arrakis.io": "pb-Password-6",
        },
        reset={"md@arrakis.io": "hash_not_importable", "oauth@arrakis.io": "no_hash_exported"},
        skipped={"phone_only": 1},
        role_map={"billing_admin": "member"},
        memberships={"paul@arrakis.io": {"org_2arrakis", "org_2caladan"}, "leto@arrakis.io": {"org_2arrakis"}},
        totp={"paul@arrakis.io"},
    )


def _cognito_user(username: str, attributes: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {
        "Username": username,
        "Attributes": [{"Name": name, "Value": value} for name, value in attributes.items()],
        "UserCreateDate": "2023-11-02T10:15:00.000Z",
        "UserLastModifiedDate": "2025-01-09T12:00:00.000Z",
        "Enabled": True,
        "UserStatus": "CONFIRMED",
        **extra,
    }


def write_cognito(directory: Path) -> Sample:
    page1 = {
        "Users": [
            # The federated twin comes first: the native user still wins the shared email.
            _cognito_user(
                "Google_118234567890123456789",
                {"sub": "9c1e0000-0000-0000-0000-000000000001", "email": "omar@initech.com",
                 "identities": '[{"providerName":"Google","userId":"118234567890123456789"}]'},
                UserStatus="EXTERNAL_PROVIDER",
            ),
            _cognito_user(
                "22704aa3-fc10-479a-97eb-2af5806bd327",
                {"sub": "22704aa3-fc10-479a-97eb-2af5806bd327", "email": "omar@initech.com", "email_verified": "true",
                 "given_name": "Omar", "custom:tenant_id": "initech"},
            ),
        ],
        "PaginationToken": "CAISlAIIARLtAQgDEuwB",
    }  # fmt: skip
    page2 = {
        "Users": [
            _cognito_user("u3", {"sub": "s3", "email": "ivy@initech.com", "email_verified": "false",
                                 "name": "Ivy Park", "custom:tenant_id": "initech"}),
            _cognito_user("u4", {"sub": "s4", "email": "gone@initech.com"}, Enabled=False),
            _cognito_user("u5", {"sub": "s5", "phone_number": "+15555550177"}),
        ]
    }  # fmt: skip
    (directory / "users_1.json").write_text(json.dumps(page1))
    (directory / "users_2.json").write_text(json.dumps(page2, indent=2))
    groups = [
        {"GroupName": "admins", "Users": [{"Username": "22704aa3-fc10-479a-97eb-2af5806bd327"}]},
        {"Username": "u3", "Groups": [{"GroupName": "staff"}]},
    ]
    (directory / "groups.json").write_text("\n".join(json.dumps(group) for group in groups))
    return Sample(
        inputs=SourceInputs(
            users=[directory / "users_1.json", directory / "users_2.json"],
            groups=directory / "groups.json",
            org_attribute="tenant_id",
        ),
        reset={"omar@initech.com": "no_hash_exported", "ivy@initech.com": "no_hash_exported"},
        skipped={"duplicate_email": 1, "disabled": 1, "phone_only": 1},
        role_map={"admins": "admin", "staff": "member"},
        memberships={"omar@initech.com": {"initech"}, "ivy@initech.com": {"initech"}},
    )


def write_supabase(directory: Path) -> Sample:
    header = [
        "instance_id", "id", "aud", "role", "email", "encrypted_password", "email_confirmed_at", "phone",
        "raw_app_meta_data", "raw_user_meta_data", "banned_until", "deleted_at", "is_sso_user", "created_at",
    ]  # fmt: skip
    digest, salt = fx.firebase_user_hash("fb-Password-3")
    sk = "jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210wjLNmdZJzxUECKbm0QsEmYUSDzZvpjeJ9WmXA"
    fbscrypt = f"$fbscrypt$v=1,n=16,r=1,p=1,ss=Bw,sk={sk}${salt}${digest}"
    zero = "00000000-0000-0000-0000-000000000000"
    stamp = "2024-06-29 20:25:06.126079+00"

    def row(user_id: str, email: str, hashed: str, **extra: str) -> list[str]:
        app = extra.get("app", '{"provider":"email","providers":["email"],"tenant_id":"umbrella"}')
        return [zero, user_id, "authenticated", "authenticated", email, hashed, extra.get("confirmed", stamp),
                extra.get("phone", ""), app, extra.get("meta", '{"full_name":"Some One"}'),
                extra.get("banned", ""), extra.get("deleted", ""), "false", stamp]  # fmt: skip

    rows = [
        row("7c2f6a0e-5d7e-4b8e-9a31-0d6a3f1e2b44", "lin@umbrella.co", fx.bcrypt_hash("lin-Password-1", "2a"),
            meta='{"full_name":"Lin Chen"}'),
        row("u-argon", "ada@umbrella.co", fx.argon2_hash("ada-Password-2"), confirmed=""),
        row("u-fb", "fb@umbrella.co", fbscrypt),
        row("u-google", "gail@umbrella.co", "", app='{"provider":"google","providers":["google"]}'),
        row("u-magic", "mia@umbrella.co", ""),
        row("u-phone", "", "", phone="15555550188", app='{"provider":"phone","providers":["phone"]}'),
        row("u-banned", "ban@umbrella.co", fx.bcrypt_hash("x"), banned="2999-01-01 00:00:00+00"),
        row("u-old-ban", "was@umbrella.co", fx.bcrypt_hash("was-Password-9"), banned="2020-01-01 00:00:00+00"),
        row("u-deleted", "del@umbrella.co", fx.bcrypt_hash("x"), deleted=stamp),
    ]  # fmt: skip
    identities = [
        ["id", "user_id", "identity_data", "provider", "email"],
        ["i1", "u-google", '{"email":"gail@gmail.com","sub":"1"}', "google", "gail@gmail.com"],
        ["i2", "7c2f6a0e-5d7e-4b8e-9a31-0d6a3f1e2b44", '{"sub":"x"}', "email", "lin@umbrella.co"],
    ]
    factors = [
        ["id", "user_id", "friendly_name", "factor_type", "status", "secret"],
        ["f1", "7c2f6a0e-5d7e-4b8e-9a31-0d6a3f1e2b44", "phone app", "totp", "verified", "JBSWY3DPEHPK3PXP"],
        ["f2", "u-argon", "old", "totp", "unverified", "KRSXG5CTMVRXEZLU"],
    ]
    return Sample(
        inputs=SourceInputs(
            users=[_csv(directory / "auth_users.csv", header, rows)],
            identities=_csv(directory / "auth_identities.csv", None, identities),
            mfa_factors=_csv(directory / "mfa_factors.csv", None, factors),
            org_attribute="tenant_id",
        ),
        signs_in={
            "lin@umbrella.co": "lin-Password-1",
            "ada@umbrella.co": "ada-Password-2",
            "fb@umbrella.co": "fb-Password-3",
            "was@umbrella.co": "was-Password-9",
        },
        reset={"gail@umbrella.co": "social_only", "mia@umbrella.co": "no_hash_exported"},
        skipped={"phone_only": 1, "disabled": 1, "deleted": 1},
        memberships={"lin@umbrella.co": {"umbrella"}},
        totp={"lin@umbrella.co"},
    )


def _keycloak_password(password: str, algorithm: str, length: int = 32) -> dict[str, Any]:
    salt = os.urandom(16)
    if algorithm == "argon2":
        value = fx.argon2_raw(password, salt, memory=64, iterations=1)
        extra = {"hashLength": ["32"], "memory": ["64"], "type": ["id"], "version": ["1.3"], "parallelism": ["1"]}
        data = {"hashIterations": 1, "algorithm": "argon2", "additionalParameters": extra}
    else:
        name = algorithm.removeprefix("pbkdf2-") if "-" in algorithm else "sha1"
        value = fx.pbkdf2_raw(password, salt, 1000, name, length)
        data = {"hashIterations": 1000, "algorithm": algorithm, "additionalParameters": {}}
    secret = {"value": fx.b64(value), "salt": fx.b64(salt), "additionalParameters": {}}
    return {"id": "c-" + algorithm, "type": "password", "createdDate": 1699281486748,
            "secretData": json.dumps(secret), "credentialData": json.dumps(data)}  # fmt: skip


def write_keycloak(directory: Path) -> Sample:
    otp = {
        "id": "37ef",
        "type": "otp",
        "secretData": json.dumps({"value": "Quohp7t2mrLMUwft3g90"}),
        "credentialData": json.dumps(
            {"subType": "totp", "digits": 6, "counter": 0, "period": 30, "algorithm": "HmacSHA1"}
        ),
    }

    def user(user_id: str, email: str, credentials: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        return {
            "id": user_id,
            "createdTimestamp": 1699281486619,
            "username": email.split("@")[0] or user_id,
            "enabled": True,
            "emailVerified": True,
            "firstName": "K",
            "lastName": "User",
            "email": email,
            "credentials": credentials,
            "realmRoles": ["default-roles-acme", "offline_access"],
            **extra,
        }

    md5_crypt = {
        "type": "password",
        "secretData": json.dumps({"value": "aGFzaA==", "salt": "c2FsdA=="}),
        "credentialData": json.dumps({"hashIterations": 1, "algorithm": "md5-crypt"}),
    }
    first = [
        user("b6012192-75c2-488e-b76b-bdd487bc7315", "mara@acme.eu",
             [_keycloak_password("mara-Password-1", "pbkdf2-sha256"), otp], totp=True,
             clientRoles={"app": ["editor"]}, groups=["/customers/globex"],
             attributes={"department": ["R&D"], "aliases": ["m", "mv"]}),
        user("k2", "wide@acme.eu", [_keycloak_password("wide-Password-2", "pbkdf2-sha256", 64)]),
    ]  # fmt: skip
    second = [
        user("k3", "argo@acme.eu", [_keycloak_password("argo-Password-3", "argon2")], realmRoles=["viewer"]),
        user("k4", "sha512@acme.eu", [_keycloak_password("s5-Password-4", "pbkdf2-sha512", 64)]),
        user("k5", "ldap@acme.eu", [], federationLink="ldap-provider-id"),
        user("k6", "off@acme.eu", [_keycloak_password("x", "pbkdf2-sha256")], enabled=False),
        user("k7", "md5@acme.eu", [md5_crypt]),
        user("k8", "gh@acme.eu", [], federatedIdentities=[{"identityProvider": "github", "userId": "1"}]),
    ]  # fmt: skip
    export = directory / "export"
    export.mkdir()
    (export / "acme-realm.json").write_text(json.dumps({"realm": "acme", "enabled": True, "roles": {"realm": []}}))
    (export / "acme-users-0.json").write_text(json.dumps({"realm": "acme", "users": first}, indent=2))
    (export / "acme-users-1.json").write_text(json.dumps({"realm": "acme", "users": second}))
    return Sample(
        inputs=SourceInputs(users=[export]),
        signs_in={
            "mara@acme.eu": "mara-Password-1",
            "wide@acme.eu": "wide-Password-2",
            "argo@acme.eu": "argo-Password-3",
            "sha512@acme.eu": "s5-Password-4",
        },
        reset={"ldap@acme.eu": "no_hash_exported", "md5@acme.eu": "hash_not_importable", "gh@acme.eu": "social_only"},
        skipped={"disabled": 1},
        role_map={"editor": "admin", "viewer": "member"},
        memberships={"mara@acme.eu": {"customers/globex"}},
        totp={"mara@acme.eu"},
    )


def write_django(directory: Path) -> Sample:
    header = ["id", "username", "email", "password", "first_name", "last_name", "is_active", "date_joined"]
    stamp = "2022-02-03 11:12:13+00"
    rows = [
        ["17", "ana", "ana@wayne.org", fx.django_pbkdf2("ana-Password-1"), "Ana", "Diaz", "true", stamp],
        ["18", "bo", "bo@wayne.org", "argon2" + fx.argon2_hash("bo-Password-2"), "Bo", "Kim", "t", stamp],
        ["19", "cy", "cy@wayne.org", "bcrypt$" + fx.bcrypt_hash("cy-Password-3"), "Cy", "", "true", stamp],
        ["20", "di", "di@wayne.org", fx.django_scrypt("di-Password-4"), "", "", "true", stamp],
        ["21", "ed", "ed@wayne.org", "bcrypt_sha256$" + fx.bcrypt_hash("x"), "", "", "true", stamp],
        ["22", "fay", "fay@wayne.org", "!T5nQ0aSx7pKp1lV9", "", "", "true", stamp],
        ["23", "gil", "gil@wayne.org", "md5$salt$5f4dcc3b5aa765d61d8327deb882cf99", "", "", "true", stamp],
        ["24", "hal", "hal@wayne.org", fx.django_pbkdf2("x"), "", "", "false", stamp],
    ]
    return Sample(
        inputs=SourceInputs(users=[_csv(directory / "auth_user.csv", header, rows)]),
        signs_in={
            "ana@wayne.org": "ana-Password-1",
            "bo@wayne.org": "bo-Password-2",
            "cy@wayne.org": "cy-Password-3",
            "di@wayne.org": "di-Password-4",
        },
        reset={
            "ed@wayne.org": "hash_not_importable",
            "fay@wayne.org": "social_only",
            "gil@wayne.org": "hash_not_importable",
        },
        skipped={"disabled": 1},
    )


def totp_secret_of_keycloak() -> str:
    """The base32 WorkOS takes for the Keycloak sample's OTP credential (its raw text key)."""
    return base64.b32encode(b"Quohp7t2mrLMUwft3g90").decode()
