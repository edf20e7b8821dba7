"""The sandbox's API behaviours: the real WorkOS rules for users, organizations, memberships, roles, TOTP
factors, pagination, request ids and auth, exercised over loopback HTTP."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from core.workos.sandbox import Sandbox, SandboxHandle, Seed, running_sandbox

BCRYPT = "$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"
FIREBASE = "$firebase-scrypt$hash=lSrfV15cpx95/sZS2W9c9Kp6i/LVgQNDNC/qzrCnh1SAyZvqmZqAjTdn3aoItz+VHjoZilo78198JAdRuid5lQ==$salt=42xEC+ixf3L2lw==$sk=3Yx5d8c3gWgpdM4h9bGjDd4i8x7Vbq1nEAUAHsNkeCmT4uVpeu3U6LgOpA/bAdr1rN6rH5z4JlhH+fXWJ0VdoQ==$ss=Bw==$r=8$m=14"  # noqa: E501

# base64 of a 32-byte digest and an 8-byte salt
SSHA256 = "{SSHA256}ZGRkZGRkZGRkZGRkZGRkZGRkZGRkZGRkZGRkZGRkZGRzYWx0MTIzNA=="


def create_user(api: httpx2.Client, **body: Any) -> dict[str, Any]:
    response = api.post("/user_management/users", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def create_org(api: httpx2.Client, **body: Any) -> dict[str, Any]:
    response = api.post("/organizations", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def add_member(api: httpx2.Client, user: dict[str, Any], org: dict[str, Any], **roles: Any) -> httpx2.Response:
    return api.post(
        "/user_management/organization_memberships", json={"user_id": user["id"], "organization_id": org["id"], **roles}
    )


# Users


def test_user_email_is_stored_trimmed_and_lower_cased(sandbox_api: httpx2.Client) -> None:
    user = create_user(sandbox_api, email="  Grace.Hopper@Navy.MIL ")
    assert user["email"] == "grace.hopper@navy.mil"
    assert user["created_at"].endswith("Z") and len(user["created_at"]) == len("2026-11-30T12:00:00.000Z")


def test_duplicate_email_in_any_case_is_400_user_creation_error_email_not_available(sandbox_api: httpx2.Client) -> None:
    create_user(sandbox_api, email="dup@example.com")
    response = sandbox_api.post("/user_management/users", json={"email": " DUP@example.com"})
    assert response.status_code == 400
    assert response.json() == {
        "message": "Could not create user.",
        "code": "user_creation_error",
        "errors": [{"code": "email_not_available", "message": "This email is not available."}],
    }


def test_duplicate_user_external_id_is_rejected_with_external_id_already_used(sandbox_api: httpx2.Client) -> None:
    create_user(sandbox_api, email="a@example.com", external_id="ext-1")
    response = sandbox_api.post("/user_management/users", json={"email": "b@example.com", "external_id": "ext-1"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "external_id_already_used"


@pytest.mark.parametrize("external_id", ["x" * 129, "café", ""])
def test_external_id_must_be_ascii_and_at_most_128_characters(sandbox_api: httpx2.Client, external_id: str) -> None:
    response = sandbox_api.post("/user_management/users", json={"email": "a@example.com", "external_id": external_id})
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_request_parameters"


@pytest.mark.parametrize(
    "metadata",
    [
        {f"k{i}": "v" for i in range(51)},
        {"k" * 41: "v"},
        {"seats": 5},
        {"note": "x" * 601},
        ["not", "a", "map"],
    ],
    ids=["51-keys", "long-key", "non-string-value", "long-value", "not-an-object"],
)
def test_metadata_beyond_the_limits_is_400_invalid_metadata(sandbox_api: httpx2.Client, metadata: Any) -> None:
    response = sandbox_api.post("/user_management/users", json={"email": "a@example.com", "metadata": metadata})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_metadata"


def test_metadata_at_the_limits_is_accepted(sandbox_api: httpx2.Client) -> None:
    metadata = {f"{i:040d}": "v" * 600 for i in range(50)}
    assert create_user(sandbox_api, email="a@example.com", metadata=metadata)["metadata"] == metadata


@pytest.mark.parametrize(
    ("fields", "status", "code"),
    [
        ({"password": "long enough", "password_hash": BCRYPT}, 400, "password_and_password_hash_provided"),
        ({"password": "long enough", "password_hash_type": "bcrypt"}, 400, "password_and_password_hash_type_provided"),
        ({"password_salt_position": "prefix"}, 400, "password_salt_position_requires_password_hash"),
        ({"password_hash": "$2b$10$short", "password_hash_type": "bcrypt"}, 400, "invalid_password_hash"),
        (
            {"password_hash": "$firebase-scrypt$hash=abc", "password_hash_type": "firebase-scrypt"},
            400,
            "invalid_password_hash",
        ),
        ({"password_hash": BCRYPT, "password_hash_type": "md5"}, 422, "invalid_request_parameters"),
        ({"password_hash": BCRYPT}, 422, "invalid_request_parameters"),
        (
            {"password_hash": BCRYPT, "password_hash_type": "bcrypt", "password_salt_position": "prefix"},
            422,
            "invalid_request_parameters",
        ),
        ({"password": "Xq7!zz"}, 400, "password_strength_error"),
    ],
    ids=[
        "password-and-hash",
        "password-and-hash-type",
        "salt-without-hash",
        "bad-bcrypt",
        "bad-firebase-scrypt",
        "unknown-hash-type",
        "hash-without-type",
        "salt-position-not-ssha256",
        "weak-password",
    ],
)
def test_password_rules_answer_the_real_codes(
    sandbox_api: httpx2.Client, sandbox: SandboxHandle, fields: dict[str, str], status: int, code: str
) -> None:
    response = sandbox_api.post("/user_management/users", json={"email": "a@example.com", **fields})
    assert (response.status_code, response.json()["code"]) == (status, code)
    for field in ("password", "password_hash"):
        if field in fields:
            assert fields[field] not in response.text
    assert sandbox.state()["users"] == []


@pytest.mark.parametrize(
    ("hash_value", "hash_type", "salt_position"),
    [(BCRYPT, "bcrypt", None), (FIREBASE, "firebase-scrypt", None), (SSHA256, "ssha256", "prefix")],
)
def test_valid_hashes_are_stored_but_never_returned(
    sandbox_api: httpx2.Client, sandbox: SandboxHandle, hash_value: str, hash_type: str, salt_position: str | None
) -> None:
    body = {"email": "h@example.com", "password_hash": hash_value, "password_hash_type": hash_type}
    if salt_position:
        body["password_salt_position"] = salt_position
    response = sandbox_api.post("/user_management/users", json=body)
    assert response.status_code == 201
    assert hash_value not in response.text and "password" not in response.text
    dumped = sandbox.state()["users"][0]
    assert dumped["password_hash_type"] == hash_type and dumped["password_hash_sha256"]
    assert hash_value not in str(sandbox.state())


@pytest.mark.parametrize("email", [None, "", "   ", 42, "no-at-sign"])
def test_missing_or_malformed_email_is_422(sandbox_api: httpx2.Client, email: Any) -> None:
    response = sandbox_api.post("/user_management/users", json={"email": email})
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_request_parameters"


def test_update_user_is_partial_and_applies_email_and_hash(sandbox_api: httpx2.Client, sandbox: SandboxHandle) -> None:
    user = create_user(sandbox_api, email="old@example.com", first_name="Ada", last_name="L")
    response = sandbox_api.put(
        f"/user_management/users/{user['id']}",
        json={
            "email": "New@Example.com",
            "first_name": "Augusta",
            "password_hash": BCRYPT,
            "password_hash_type": "bcrypt",
        },
    )
    assert response.status_code == 200
    assert (response.json()["email"], response.json()["first_name"], response.json()["last_name"]) == (
        "new@example.com",
        "Augusta",
        "L",
    )
    assert sandbox_api.get("/user_management/users", params={"email": "old@example.com"}).json()["data"] == []
    assert sandbox.state()["users"][0]["password_hash_type"] == "bcrypt"


def test_update_user_to_a_taken_email_or_external_id_is_400(sandbox_api: httpx2.Client) -> None:
    create_user(sandbox_api, email="taken@example.com", external_id="taken")
    user = create_user(sandbox_api, email="me@example.com")
    path = f"/user_management/users/{user['id']}"
    assert sandbox_api.put(path, json={"email": "TAKEN@example.com"}).json()["code"] == "email_not_available"
    assert sandbox_api.put(path, json={"external_id": "taken"}).json()["code"] == "external_id_already_used"
    assert sandbox_api.put(path, json={"email": "nope"}).json()["code"] == "invalid_email"


def test_deleting_a_user_removes_its_memberships_and_frees_its_email(
    sandbox_api: httpx2.Client, sandbox: SandboxHandle
) -> None:
    user = create_user(sandbox_api, email="gone@example.com", external_id="gone")
    add_member(sandbox_api, user, create_org(sandbox_api, name="Org"))
    assert sandbox_api.delete(f"/user_management/users/{user['id']}").status_code == 200
    assert sandbox_api.get(f"/user_management/users/{user['id']}").status_code == 404
    assert sandbox.state()["organization_memberships"] == []
    create_user(sandbox_api, email="gone@example.com", external_id="gone")


def test_get_user_by_external_id_and_unknown_ids_are_404_with_a_message(sandbox_api: httpx2.Client) -> None:
    user = create_user(sandbox_api, email="x@example.com", external_id="a/b c")
    assert sandbox_api.get("/user_management/users/external_id/a%2Fb%20c").json()["id"] == user["id"]
    missing = sandbox_api.get("/user_management/users/user_01HZZZZZZZZZZZZZZZZZZZZZZZ")
    assert missing.status_code == 404 and "not found" in missing.json()["message"]


def test_list_users_by_email_ignores_case_and_spaces(sandbox_api: httpx2.Client) -> None:
    user = create_user(sandbox_api, email="find@example.com")
    create_user(sandbox_api, email="other@example.com")
    page = sandbox_api.get("/user_management/users", params={"email": " FIND@example.com", "limit": 1}).json()
    assert [u["id"] for u in page["data"]] == [user["id"]]
    assert page["list_metadata"] == {"before": None, "after": None}


def test_list_users_by_organization_id_returns_its_members(sandbox_api: httpx2.Client) -> None:
    org = create_org(sandbox_api, name="Org")
    member = create_user(sandbox_api, email="in@example.com")
    create_user(sandbox_api, email="out@example.com")
    add_member(sandbox_api, member, org)
    page = sandbox_api.get("/user_management/users", params={"organization_id": org["id"]}).json()
    assert [u["id"] for u in page["data"]] == [member["id"]]


# Pagination


def test_lists_page_newest_first_and_after_continues_where_the_page_ended(sandbox_api: httpx2.Client) -> None:
    ids = [create_user(sandbox_api, email=f"p{i}@example.com")["id"] for i in range(5)]
    first = sandbox_api.get("/user_management/users", params={"limit": 2}).json()
    assert [u["id"] for u in first["data"]] == ids[::-1][:2]
    assert first["list_metadata"] == {"before": None, "after": ids[3]}
    second = sandbox_api.get("/user_management/users", params={"limit": 2, "after": ids[3]}).json()
    assert [u["id"] for u in second["data"]] == [ids[2], ids[1]]
    assert second["list_metadata"] == {"before": ids[2], "after": ids[1]}
    last = sandbox_api.get("/user_management/users", params={"limit": 2, "after": ids[1]}).json()
    assert [u["id"] for u in last["data"]] == [ids[0]] and last["list_metadata"]["after"] is None


def test_before_returns_the_items_just_ahead_of_the_cursor(sandbox_api: httpx2.Client) -> None:
    ids = [create_user(sandbox_api, email=f"b{i}@example.com")["id"] for i in range(5)]
    page = sandbox_api.get("/user_management/users", params={"limit": 2, "before": ids[1]}).json()
    assert [u["id"] for u in page["data"]] == [ids[3], ids[2]]
    asc = sandbox_api.get("/user_management/users", params={"limit": 2, "before": ids[3], "order": "asc"}).json()
    assert [u["id"] for u in asc["data"]] == [ids[1], ids[2]]


def test_ascending_order_and_deleted_items_are_skipped(sandbox_api: httpx2.Client) -> None:
    ids = [create_user(sandbox_api, email=f"a{i}@example.com")["id"] for i in range(4)]
    sandbox_api.delete(f"/user_management/users/{ids[1]}")
    page = sandbox_api.get("/user_management/users", params={"order": "asc", "after": ids[1]}).json()
    assert [u["id"] for u in page["data"]] == [ids[2], ids[3]]


@pytest.mark.parametrize("limit", ["0", "101", "ten"])
def test_limit_outside_1_to_100_is_422(sandbox_api: httpx2.Client, limit: str) -> None:
    assert sandbox_api.get("/user_management/users", params={"limit": limit}).status_code == 422


def test_an_unknown_cursor_gives_an_empty_page_not_the_first_one(sandbox_api: httpx2.Client) -> None:
    create_user(sandbox_api, email="a@example.com")
    page = sandbox_api.get("/user_management/users", params={"after": "user_01HZZZZZZZZZZZZZZZZZZZZZZZ"}).json()
    assert page == {"object": "list", "data": [], "list_metadata": {"before": None, "after": None}}


# Organizations


def test_organization_external_id_is_unique(sandbox_api: httpx2.Client) -> None:
    create_org(sandbox_api, name="Acme", external_id="acme")
    response = sandbox_api.post("/organizations", json={"name": "Acme again", "external_id": "acme"})
    assert (response.status_code, response.json()["code"]) == (400, "external_id_already_used")
    assert create_org(sandbox_api, name="Acme")["name"] == "Acme"


def test_organization_search_and_comma_separated_domains(sandbox_api: httpx2.Client) -> None:
    acme = create_org(sandbox_api, name="Acme Corp", domain_data=[{"domain": "acme.com", "state": "verified"}])
    globex = create_org(sandbox_api, name="Globex", domain_data=[{"domain": "globex.com", "state": "pending"}])
    assert [o["id"] for o in sandbox_api.get("/organizations", params={"search": "ACME"}).json()["data"]] == [
        acme["id"]
    ]
    found = sandbox_api.get("/organizations", params={"domains": "globex.com,acme.com", "order": "asc"}).json()
    assert [o["id"] for o in found["data"]] == [acme["id"], globex["id"]]


def test_organization_lookups_and_update(sandbox_api: httpx2.Client) -> None:
    org = create_org(sandbox_api, name="Acme", external_id="acme")
    assert sandbox_api.get("/organizations/external_id/acme").json()["id"] == org["id"]
    updated = sandbox_api.put(f"/organizations/{org['id']}", json={"name": "Acme Inc", "external_id": "acme-2"})
    assert updated.json()["name"] == "Acme Inc"
    assert sandbox_api.get("/organizations/external_id/acme").status_code == 404
    assert sandbox_api.get("/organizations/external_id/acme-2").json()["id"] == org["id"]


@pytest.mark.parametrize(
    "body", [{}, {"name": "  "}, {"name": "X", "domain_data": [{"domain": "x.com", "state": "odd"}]}]
)
def test_organization_without_name_or_with_bad_domains_is_422(sandbox_api: httpx2.Client, body: dict[str, Any]) -> None:
    assert sandbox_api.post("/organizations", json=body).status_code == 422


def test_unknown_organization_is_404_with_the_id_in_the_message(sandbox_api: httpx2.Client) -> None:
    response = sandbox_api.get("/organizations/org_missing")
    assert response.status_code == 404 and "org_missing" in response.json()["message"]


# Memberships


def test_membership_defaults_to_member_and_embeds_the_user(sandbox_api: httpx2.Client) -> None:
    user, org = create_user(sandbox_api, email="m@example.com"), create_org(sandbox_api, name="Org")
    membership = add_member(sandbox_api, user, org).json()
    assert membership["id"].startswith("om_")
    assert (membership["role"], membership["roles"], membership["status"]) == (
        {"slug": "member"},
        [{"slug": "member"}],
        "active",
    )
    assert membership["user"]["email"] == "m@example.com"


def test_role_slug_and_role_slugs_together_are_422(sandbox_api: httpx2.Client) -> None:
    user, org = create_user(sandbox_api, email="m@example.com"), create_org(sandbox_api, name="Org")
    response = add_member(sandbox_api, user, org, role_slug="admin", role_slugs=["admin"])
    assert response.status_code == 422


def test_unknown_role_is_422_invalid_role(sandbox_api: httpx2.Client, sandbox: SandboxHandle) -> None:
    user, org = create_user(sandbox_api, email="m@example.com"), create_org(sandbox_api, name="Org")
    response = add_member(sandbox_api, user, org, role_slugs=["member", "owner"])
    assert (response.status_code, response.json()["code"]) == (422, "invalid_role")
    assert response.json()["message"] == "Role 'owner' is not a valid role."
    assert sandbox.state()["organization_memberships"] == []


def test_several_roles_need_multiple_roles_enabled(sandbox_api: httpx2.Client, sandbox: SandboxHandle) -> None:
    user, org = create_user(sandbox_api, email="m@example.com"), create_org(sandbox_api, name="Org")
    refused = add_member(sandbox_api, user, org, role_slugs=["member", "admin"])
    assert (refused.status_code, refused.json()["code"]) == (422, "multiple_roles_not_enabled")
    sandbox.configure(multiple_roles_enabled=True)
    accepted = add_member(sandbox_api, user, org, role_slugs=["member", "admin"])
    assert accepted.json()["roles"] == [{"slug": "member"}, {"slug": "admin"}]


@pytest.mark.parametrize("status", [409, 400, 422])
def test_duplicate_active_membership_answers_the_configured_status(
    sandbox_api: httpx2.Client, sandbox: SandboxHandle, status: int
) -> None:
    sandbox.configure(duplicate_membership_status=status)
    user, org = create_user(sandbox_api, email="m@example.com"), create_org(sandbox_api, name="Org")
    add_member(sandbox_api, user, org)
    duplicate = add_member(sandbox_api, user, org)
    assert (duplicate.status_code, duplicate.json()["code"]) == (status, "organization_membership_already_exists")
    assert len(sandbox.state()["organization_memberships"]) == 1


def test_creating_an_inactive_membership_reactivates_it_with_the_new_role(
    sandbox_api: httpx2.Client, sandbox: SandboxHandle
) -> None:
    user, org = create_user(sandbox_api, email="m@example.com"), create_org(sandbox_api, name="Org")
    first = add_member(sandbox_api, user, org).json()
    sandbox_api.put(f"/user_management/organization_memberships/{first['id']}/deactivate")
    again = add_member(sandbox_api, user, org, role_slug="admin")
    assert again.status_code == 201
    assert (again.json()["id"], again.json()["status"], again.json()["role"]) == (
        first["id"],
        "active",
        {"slug": "admin"},
    )
    assert len(sandbox.state()["organization_memberships"]) == 1


def test_membership_list_needs_a_user_or_organization_filter(sandbox_api: httpx2.Client) -> None:
    response = sandbox_api.get("/user_management/organization_memberships")
    assert (response.status_code, response.json()["code"]) == (400, "missing_user_id_or_organization_id")


def test_membership_list_returns_active_only_unless_statuses_are_given(sandbox_api: httpx2.Client) -> None:
    user = create_user(sandbox_api, email="m@example.com")
    active = add_member(sandbox_api, user, create_org(sandbox_api, name="A")).json()
    inactive = add_member(sandbox_api, user, create_org(sandbox_api, name="B")).json()
    sandbox_api.put(f"/user_management/organization_memberships/{inactive['id']}/deactivate")
    path = "/user_management/organization_memberships"
    default = sandbox_api.get(path, params={"user_id": user["id"]}).json()["data"]
    assert [m["id"] for m in default] == [active["id"]]
    both = sandbox_api.get(path, params={"user_id": user["id"], "statuses": "active,inactive"}).json()["data"]
    assert {m["id"] for m in both} == {active["id"], inactive["id"]}
    by_pair = sandbox_api.get(path, params={"user_id": user["id"], "organization_id": inactive["organization_id"]})
    assert by_pair.json()["data"] == []


def test_membership_lifecycle_deactivate_reactivate_delete(sandbox_api: httpx2.Client) -> None:
    user, org = create_user(sandbox_api, email="m@example.com"), create_org(sandbox_api, name="Org")
    membership = add_member(sandbox_api, user, org).json()
    path = f"/user_management/organization_memberships/{membership['id']}"
    assert sandbox_api.put(f"{path}/deactivate").json()["status"] == "inactive"
    assert sandbox_api.put(f"{path}/deactivate").json()["status"] == "inactive"
    assert sandbox_api.put(f"{path}/reactivate").json()["status"] == "active"
    assert sandbox_api.get(path).json()["organization_name"] == "Org"
    assert sandbox_api.delete(path).status_code == 200
    assert sandbox_api.get(path).status_code == 404
    assert add_member(sandbox_api, user, org).status_code == 201


def test_membership_for_an_unknown_user_or_organization_is_404(sandbox_api: httpx2.Client) -> None:
    user, org = create_user(sandbox_api, email="m@example.com"), create_org(sandbox_api, name="Org")
    assert add_member(sandbox_api, {"id": "user_nope"}, org).status_code == 404
    assert add_member(sandbox_api, user, {"id": "org_nope"}).status_code == 404


def test_seeded_pending_membership_cannot_be_reactivated_and_org_roles_are_scoped() -> None:
    seed = Seed.model_validate(
        {
            "users": [{"email": "p@example.com"}],
            "organizations": [
                {
                    "id": "org_01PINNED00000000000000000A",
                    "name": "A",
                    "memberships": [{"email": "p@example.com", "status": "pending"}],
                },
                {"name": "B"},
            ],
            "roles": [{"slug": "org-billing", "organization_id": "org_01PINNED00000000000000000A"}],
        }
    )
    with (
        running_sandbox(Sandbox(seed=seed)) as handle,
        httpx2.Client(base_url=handle.url, headers={"Authorization": f"Bearer {handle.api_key}"}) as api,
    ):
        state = handle.state()
        pending = state["organization_memberships"][0]
        response = api.put(f"/user_management/organization_memberships/{pending['id']}/reactivate")
        assert (response.status_code, response.json()["code"]) == (
            400,
            "cannot_reactivate_pending_organization_membership",
        )
        user = state["users"][0]
        other = state["organizations"][1]
        assert add_member(api, user, other, role_slug="org-billing").json()["code"] == "invalid_role"
        org_roles = api.get("/authorization/organizations/org_01PINNED00000000000000000A/roles").json()["data"]
        assert [r["slug"] for r in org_roles] == ["member", "admin", "org-billing"]


# Roles and factors


def test_roles_list_is_unpaginated_with_default_member_and_admin(sandbox_api: httpx2.Client) -> None:
    body = sandbox_api.get("/authorization/roles").json()
    assert set(body) == {"object", "data"}
    assert [(r["slug"], r["type"], r["permissions"]) for r in body["data"]] == [
        ("member", "EnvironmentRole", []),
        ("admin", "EnvironmentRole", []),
    ]


def test_totp_secret_is_honoured_and_left_out_of_the_factor_list(sandbox_api: httpx2.Client) -> None:
    user = create_user(sandbox_api, email="t@example.com")
    path = f"/user_management/users/{user['id']}/auth_factors"
    enrolled = sandbox_api.post(path, json={"type": "totp", "totp_secret": "JBSWY3DPEHPK3PXP", "totp_issuer": "Acme"})
    assert enrolled.status_code == 201
    totp = enrolled.json()["authentication_factor"]["totp"]
    assert (totp["secret"], totp["issuer"], totp["user"]) == ("JBSWY3DPEHPK3PXP", "Acme", "t@example.com")
    assert totp["uri"].startswith("otpauth://totp/Acme:")
    listed = sandbox_api.get(path)
    assert "JBSWY3DPEHPK3PXP" not in listed.text and len(listed.json()["data"]) == 1


def test_totp_without_a_secret_gets_a_generated_one_and_bad_input_is_422(sandbox_api: httpx2.Client) -> None:
    user = create_user(sandbox_api, email="t@example.com")
    path = f"/user_management/users/{user['id']}/auth_factors"
    generated = sandbox_api.post(path, json={"type": "totp"}).json()["authentication_factor"]["totp"]["secret"]
    assert len(generated) == 32
    assert sandbox_api.post(path, json={"type": "totp", "totp_secret": "not base32!"}).status_code == 422
    assert sandbox_api.post(path, json={"type": "sms"}).status_code == 422
    assert sandbox_api.post("/user_management/users/user_nope/auth_factors", json={"type": "totp"}).status_code == 404


# Transport basics


def test_every_response_carries_a_request_id_and_echoes_the_callers(
    sandbox_api: httpx2.Client, sandbox: SandboxHandle
) -> None:
    for path in ("/user_management/users", "/health", "/_sandbox/stats", "/no/such/route"):
        assert sandbox_api.get(path).headers["X-Request-ID"].startswith("req_")
    echoed = sandbox_api.get("/organizations", headers={"X-Request-ID": "trace-123"})
    assert echoed.headers["X-Request-ID"] == "trace-123"


@pytest.mark.parametrize("header", [None, "Bearer sk_live_real", "Basic sk_test_x", "Bearer"])
def test_missing_or_non_test_key_is_401(sandbox: SandboxHandle, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = httpx2.get(f"{sandbox.url}/user_management/users", headers=headers)
    assert response.status_code == 401 and response.json()["code"] == "unauthorized"


def test_configured_api_keys_replace_the_sk_test_rule() -> None:
    with running_sandbox(Sandbox(api_keys=["sk_test_only_this"])) as handle:
        assert handle.api_key == "sk_test_only_this"
        url = f"{handle.url}/organizations"
        assert httpx2.get(url, headers={"Authorization": "bearer sk_test_only_this"}).status_code == 200
        assert httpx2.get(url, headers={"Authorization": "Bearer sk_test_other"}).status_code == 401


def test_a_body_that_is_not_json_is_400_and_not_an_object_is_422(sandbox_api: httpx2.Client) -> None:
    broken = sandbox_api.post(
        "/user_management/users", content=b"{email:", headers={"Content-Type": "application/json"}
    )
    assert (broken.status_code, broken.json()["code"]) == (400, "invalid_request_body")
    assert sandbox_api.post("/user_management/users", json=["a@example.com"]).status_code == 422


def test_unknown_routes_answer_404_json(sandbox_api: httpx2.Client) -> None:
    response = sandbox_api.get("/user_management/nothing/here")
    assert response.status_code == 404 and response.json() == {"message": "Not Found", "code": "not_found"}
