"""The sandbox's ``POST /user_management/authenticate`` (password grant) over loopback HTTP.

A user imported with a hash of any WorkOS type signs in with its password and not with another; the
application authenticates with client_id and the API key as client_secret; answers never echo a secret.
"""

from __future__ import annotations

import os
from typing import Any

import httpx2
import pytest

from core import hashes
from core.workos.sandbox import SandboxHandle
from tests import hash_fixtures as fx

PASSWORD = "Tr0ub4dor&3-staple"
CLIENT_ID = "client_01SANDBOXTEST"


def sign_in(sandbox: SandboxHandle, email: str, password: str, **extra: Any) -> httpx2.Response:
    body = {"client_id": CLIENT_ID, "client_secret": sandbox.api_key, "grant_type": "password"}
    return httpx2.post(
        f"{sandbox.url}/user_management/authenticate", json={**body, "email": email, "password": password, **extra}
    )


def _imported() -> list[tuple[str, hashes.ImportHash]]:
    salt = os.urandom(12)
    params = hashes.parse_firebase_params(fx.FIREBASE_CHEAP_CONFIG)
    digest, fb_salt = fx.firebase_user_hash(PASSWORD)
    sources = {
        "bcrypt": hashes.convert(fx.bcrypt_hash(PASSWORD, "2y")),
        "firebase-scrypt": hashes.firebase_scrypt(digest, fb_salt, params),
        "argon2": hashes.convert(fx.argon2_hash(PASSWORD)),
        "scrypt": hashes.convert(fx.django_scrypt(PASSWORD)),
        "pbkdf2": hashes.convert(fx.django_pbkdf2(PASSWORD)),
        "ssha": hashes.convert(fx.ssha(PASSWORD, salt)),
        "ssha256": hashes.convert(fx.ssha(PASSWORD, salt, sha256=True)),
    }
    return [(kind, conversion) for kind, conversion in sources.items() if isinstance(conversion, hashes.ImportHash)]


@pytest.mark.parametrize(("kind", "imported"), _imported(), ids=lambda value: str(value)[:16])
def test_a_user_imported_with_each_hash_type_signs_in(
    sandbox_api: httpx2.Client, sandbox: SandboxHandle, kind: str, imported: hashes.ImportHash
) -> None:
    assert imported.hash_type == kind
    body = {"email": f"{kind}@example.com", "password_hash": imported.value, "password_hash_type": kind}
    if imported.salt_position:
        body["password_salt_position"] = imported.salt_position
    assert sandbox_api.post("/user_management/users", json=body).status_code == 201
    good = sign_in(sandbox, f"{kind.upper()}@Example.com ", PASSWORD)
    assert good.status_code == 200, good.text
    answer = good.json()
    assert answer["user"]["email"] == f"{kind}@example.com" and answer["authentication_method"] == "Password"
    assert answer["access_token"] and answer["refresh_token"] and answer["user"]["last_sign_in_at"]
    assert PASSWORD not in good.text and imported.value not in good.text
    bad = sign_in(sandbox, f"{kind}@example.com", PASSWORD + "x")
    assert (bad.status_code, bad.json()["code"]) == (400, "invalid_credentials")


def test_the_firebase_test_vector_signs_in(sandbox_api: httpx2.Client, sandbox: SandboxHandle) -> None:
    params = hashes.parse_firebase_params(fx.FIREBASE_VECTOR_CONFIG)
    imported = hashes.firebase_scrypt(fx.FIREBASE_VECTOR["passwordHash"], fx.FIREBASE_VECTOR["salt"], params)
    assert isinstance(imported, hashes.ImportHash)
    body = {"email": "vector@example.com", "password_hash": imported.value, "password_hash_type": "firebase-scrypt"}
    assert sandbox_api.post("/user_management/users", json=body).status_code == 201
    assert sign_in(sandbox, "vector@example.com", "user1password").status_code == 200
    assert sign_in(sandbox, "vector@example.com", "user2password").status_code == 400


def test_plaintext_unknown_user_and_no_password_get_the_same_answer(
    sandbox_api: httpx2.Client, sandbox: SandboxHandle
) -> None:
    sandbox_api.post("/user_management/users", json={"email": "plain@example.com", "password": PASSWORD})
    sandbox_api.post("/user_management/users", json={"email": "nopass@example.com"})
    assert sign_in(sandbox, "plain@example.com", PASSWORD).status_code == 200
    answers = [sign_in(sandbox, email, PASSWORD) for email in ("nobody@example.com", "nopass@example.com")]
    assert {(a.status_code, a.json()["code"]) for a in answers} == {(400, "invalid_credentials")}


def test_the_application_must_authenticate_in_the_body(sandbox_api: httpx2.Client, sandbox: SandboxHandle) -> None:
    sandbox_api.post("/user_management/users", json={"email": "a@example.com", "password": PASSWORD})
    wrong_key = sign_in(sandbox, "a@example.com", PASSWORD, client_secret="sk_live_nope")
    assert (wrong_key.status_code, wrong_key.json()["error"]) == (401, "invalid_client")
    # A bearer header alone is not how this endpoint authenticates the application.
    bearer_only = sandbox_api.post(
        "/user_management/authenticate",
        json={"client_id": CLIENT_ID, "grant_type": "password", "email": "a@example.com", "password": PASSWORD},
    )
    assert bearer_only.status_code == 401
    no_client = sign_in(sandbox, "a@example.com", PASSWORD, client_id="")
    assert (no_client.status_code, no_client.json()["error"]) == (400, "invalid_client")
    grant = sign_in(sandbox, "a@example.com", PASSWORD, grant_type="authorization_code")
    assert (grant.status_code, grant.json()["error"]) == (400, "unsupported_grant_type")
    for answer in (wrong_key, bearer_only, no_client, grant):
        assert PASSWORD not in answer.text


def test_sign_ins_are_limited_per_email(sandbox_api: httpx2.Client, sandbox: SandboxHandle) -> None:
    sandbox.configure(auth_limit=3)
    sandbox_api.post("/user_management/users", json={"email": "a@example.com", "password": PASSWORD})
    statuses = [sign_in(sandbox, "a@example.com", "wrong-" + str(i)).status_code for i in range(4)]
    assert statuses == [400, 400, 400, 429]
    assert sign_in(sandbox, "b@example.com", PASSWORD).status_code == 400


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("argon2", "argon2$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g"),
        ("pbkdf2", "pbkdf2_sha256$1000$salt$aGFzaA=="),
        ("scrypt", "$scrypt$ln=99,r=8,p=1$c2FsdA$aGFzaA"),
        ("ssha", "{SSHA}c2hvcnQ="),
    ],
)
def test_hashes_that_do_not_parse_for_their_type_are_refused(
    sandbox_api: httpx2.Client, sandbox: SandboxHandle, kind: str, value: str
) -> None:
    response = sandbox_api.post(
        "/user_management/users", json={"email": "x@example.com", "password_hash": value, "password_hash_type": kind}
    )
    assert (response.status_code, response.json()["code"]) == (400, "invalid_password_hash")
    assert value not in response.text
