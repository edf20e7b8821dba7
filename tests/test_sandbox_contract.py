"""Contract tests: the official ``workos`` SDK (pinned) parses every sandbox answer and raises the right errors.

The SDK's generated models index every required key, so a missing or misnamed field in the sandbox's JSON
fails here. ``max_retries=0`` so each call is exactly one request.
"""

from __future__ import annotations

import pytest
from workos import (
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    RateLimitExceededError,
    ServerError,
    UnprocessableEntityError,
    WorkOSClient,
)
from workos.organization_membership import RoleMultiple, RoleSingle
from workos.organizations.models import OrganizationDomainData
from workos.user_management import PasswordHashed, PasswordPlaintext

from core.workos.sandbox import SandboxHandle

BCRYPT = "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"


@pytest.fixture
def sdk(sandbox: SandboxHandle) -> WorkOSClient:
    return WorkOSClient(api_key=sandbox.api_key, base_url=sandbox.url, max_retries=0)


def test_sdk_parses_created_fetched_updated_and_listed_users(sdk: WorkOSClient) -> None:
    created = sdk.user_management.create_user(
        email=" Ada@Example.COM ",
        first_name="Ada",
        last_name="Lovelace",
        email_verified=True,
        metadata={"plan": "pro"},
        external_id="ext-ada",
        password=PasswordHashed(password_hash=BCRYPT, password_hash_type="bcrypt"),
    )
    assert created.email == "ada@example.com"
    assert created.id.startswith("user_") and len(created.id) == len("user_") + 26
    assert sdk.user_management.get_user(created.id).external_id == "ext-ada"
    assert sdk.user_management.get_user_by_external_id("ext-ada").id == created.id
    updated = sdk.user_management.update_user(created.id, first_name="Augusta", locale="en-GB")
    assert (updated.first_name, updated.locale, updated.last_name) == ("Augusta", "en-GB", "Lovelace")
    page = sdk.user_management.list_users(email="ada@example.com")
    assert [user.id for user in page.data] == [created.id]
    sdk.user_management.delete_user(created.id)
    with pytest.raises(NotFoundError):
        sdk.user_management.get_user(created.id)


def test_sdk_auto_paging_walks_every_page_of_users(sdk: WorkOSClient) -> None:
    ids = {sdk.user_management.create_user(email=f"u{i}@example.com").id for i in range(7)}
    page = sdk.user_management.list_users(limit=3)
    assert len(page.data) == 3 and page.list_metadata.after is not None
    assert {user.id for user in page.auto_paging_iter()} == ids


def test_sdk_parses_organizations_with_domains_search_and_external_id(sdk: WorkOSClient) -> None:
    org = sdk.organizations.create_organization(
        name="Acme Corp",
        external_id="acme",
        metadata={"tier": "gold"},
        domain_data=[OrganizationDomainData(domain="acme.com", state="verified")],
    )
    sdk.organizations.create_organization(name="Globex", domain_data=[OrganizationDomainData("globex.com", "pending")])
    assert org.domains[0].domain == "acme.com"
    assert sdk.organizations.get_organization(org.id).name == "Acme Corp"
    assert sdk.organizations.get_organization_by_external_id("acme").id == org.id
    assert [o.id for o in sdk.organizations.list_organizations(search="acme").data] == [org.id]
    by_domain = sdk.organizations.list_organizations(domains=["nowhere.org", "acme.com"]).data
    assert [o.id for o in by_domain] == [org.id]
    assert sdk.organizations.update_organization(org.id, name="Acme Inc").name == "Acme Inc"


def test_sdk_parses_memberships_with_role_and_roles(sandbox: SandboxHandle, sdk: WorkOSClient) -> None:
    sandbox.configure(multiple_roles_enabled=True)
    user = sdk.user_management.create_user(email="m@example.com")
    org = sdk.organizations.create_organization(name="Org")
    other = sdk.organizations.create_organization(name="Other")
    single = sdk.organization_membership.create_organization_membership(
        user_id=user.id, organization_id=org.id, role=RoleSingle(role_slug="admin")
    )
    multi = sdk.organization_membership.create_organization_membership(
        user_id=user.id, organization_id=other.id, role=RoleMultiple(role_slugs=["admin", "member"])
    )
    assert single.role.slug == "admin" and single.user.id == user.id
    assert [r.slug for r in multi.roles] == ["admin", "member"]
    assert sdk.organization_membership.get_organization_membership(single.id).organization_id == org.id
    listed = sdk.organization_membership.list_organization_memberships(user_id=user.id, statuses=["active"])
    assert {m.id for m in listed.data} == {single.id, multi.id}
    inactive = sdk.organization_membership.deactivate_organization_membership(single.id)
    assert inactive.status == "inactive"
    assert sdk.organization_membership.reactivate_organization_membership(single.id).status == "active"


def test_sdk_parses_environment_and_organization_role_lists(sdk: WorkOSClient) -> None:
    org = sdk.organizations.create_organization(name="Org")
    assert [role.slug for role in sdk.authorization.list_environment_roles().data] == ["member", "admin"]
    assert [role.slug for role in sdk.authorization.list_organization_roles(org.id).data] == ["member", "admin"]


def test_sdk_parses_totp_enrollment_and_factor_list(sdk: WorkOSClient) -> None:
    user = sdk.user_management.create_user(email="t@example.com")
    enrolled = sdk.multi_factor_auth.create_user_auth_factor(user.id, type="totp", totp_secret="JBSWY3DPEHPK3PXP")
    assert enrolled.authentication_factor.totp is not None
    assert enrolled.authentication_factor.totp.secret == "JBSWY3DPEHPK3PXP"
    assert enrolled.authentication_challenge.authentication_factor_id == enrolled.authentication_factor.id
    factors = sdk.multi_factor_auth.list_user_auth_factors(user.id).data
    assert [f.id for f in factors] == [enrolled.authentication_factor.id]


def test_sdk_sees_duplicate_email_as_bad_request_with_email_not_available(sdk: WorkOSClient) -> None:
    sdk.user_management.create_user(email="dup@example.com", password=PasswordPlaintext(password="long enough pw"))
    with pytest.raises(BadRequestError) as caught:
        sdk.user_management.create_user(email="DUP@example.com")
    assert caught.value.code == "user_creation_error"
    assert [e["code"] for e in caught.value.errors] == ["email_not_available"]
    assert caught.value.request_id and caught.value.request_id.startswith("req_")


def test_sdk_raises_not_found_for_unknown_objects(sdk: WorkOSClient) -> None:
    with pytest.raises(NotFoundError):
        sdk.organizations.get_organization("org_01HZZZZZZZZZZZZZZZZZZZZZZZ")
    with pytest.raises(NotFoundError):
        sdk.user_management.get_user_by_external_id("nobody")


def test_sdk_raises_unprocessable_entity_for_an_unknown_role(sdk: WorkOSClient) -> None:
    user = sdk.user_management.create_user(email="r@example.com")
    org = sdk.organizations.create_organization(name="Org")
    with pytest.raises(UnprocessableEntityError) as caught:
        sdk.organization_membership.create_organization_membership(
            user_id=user.id, organization_id=org.id, role=RoleSingle(role_slug="owner")
        )
    assert caught.value.code == "invalid_role"


def test_sdk_raises_rate_limit_exceeded_with_retry_after(sandbox: SandboxHandle, sdk: WorkOSClient) -> None:
    sandbox.configure(read_limit=1)
    sdk.user_management.list_users()
    with pytest.raises(RateLimitExceededError) as caught:
        sdk.user_management.list_users()
    assert caught.value.retry_after is not None and 1 <= caught.value.retry_after <= 10


def test_sdk_raises_server_error_and_authentication_error(sandbox: SandboxHandle, sdk: WorkOSClient) -> None:
    sandbox.add_hook("GET", "/organizations", 503, count=1)
    with pytest.raises(ServerError):
        sdk.organizations.list_organizations()
    stranger = WorkOSClient(api_key="sk_live_nope", base_url=sandbox.url, max_retries=0)
    with pytest.raises(AuthenticationError):
        stranger.organizations.list_organizations()
