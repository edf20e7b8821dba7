"""WorkOSClient against the loopback sandbox: every method, every error class, faults and rate limits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial
from typing import Any

import anyio
import pytest

from core.errors import (
    AuthenticationError,
    Conflict,
    InvalidRequest,
    NotFound,
    RateLimited,
    ServerError,
    TransportError,
)
from core.workos.client import WorkOSClient
from core.workos.limits import RateLimiter, RetryPolicy
from core.workos.sandbox import SandboxHandle

pytestmark = pytest.mark.anyio

BCRYPT = "$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"
TOTP_SECRET = "JBSWY3DPEHPK3PXP"


def quick_limiter(**kwargs: Any) -> RateLimiter:
    return RateLimiter(write_rate=1e4, read_rate=1e4, general_rate=1e4, pause_base=0.1, **kwargs)


@pytest.fixture
async def client(sandbox: SandboxHandle) -> AsyncIterator[WorkOSClient]:
    async with WorkOSClient(
        api_key=sandbox.api_key,
        base_url=sandbox.url,
        limiter=quick_limiter(max_pause=0.4),
        retry=RetryPolicy(attempts=4, base=0.0),
        timeout=5.0,
    ) as workos:
        yield workos


def fault(sandbox: SandboxHandle, route: str, kind: str, **config: Any) -> None:
    sandbox.configure(faults=[{"route": route, "kind": kind, "rate": 1.0}], fault_seed=1, **config)


# Every method


async def test_user_lifecycle_create_find_get_update_delete(client: WorkOSClient) -> None:
    created = await client.create_user(
        email="  Ada@Example.com ",
        first_name="Ada",
        last_name="Lovelace",
        email_verified=True,
        password_hash=BCRYPT,
        password_hash_type="bcrypt",
        external_id="ext-ada",
        metadata={"team": "engines"},
    )
    assert (created.email, created.external_id, created.metadata) == ("ada@example.com", "ext-ada", {"team": "engines"})
    assert (await client.find_user_by_email("ADA@example.com ")) == created
    assert (await client.get_user_by_external_id("ext-ada")) == created
    assert (await client.get_user(created.id)) == created
    updated = await client.update_user(created.id, first_name="Augusta", metadata={"team": "analytics"})
    assert (updated.first_name, updated.last_name, updated.metadata) == ("Augusta", "Lovelace", {"team": "analytics"})
    await client.delete_user(created.id)
    assert await client.find_user_by_email("ada@example.com") is None
    assert await client.get_user_by_external_id("ext-ada") is None
    with pytest.raises(NotFound) as caught:
        await client.get_user(created.id)
    assert caught.value.request_id and caught.value.request_id.startswith("req_")


async def test_organizations_create_get_and_list_every_page(client: WorkOSClient) -> None:
    acme = await client.create_organization(name="Acme", external_id="acme", metadata={"tier": "gold"})
    assert (await client.get_organization(acme.id)) == acme
    assert (await client.get_organization_by_external_id("acme")) == acme
    assert await client.get_organization("org_01NOPE") is None
    assert await client.get_organization_by_external_id("nope") is None
    async with anyio.create_task_group() as group:
        for n in range(120):
            group.start_soon(partial(client.create_organization, name=f"Team {n:03}"))
    teams = [org.name async for org in client.list_organizations(search="team")]
    assert sorted(teams) == [f"Team {n:03}" for n in range(120)]
    assert len([org async for org in client.list_organizations()]) == 121


async def test_memberships_with_default_one_and_several_roles(client: WorkOSClient, sandbox: SandboxHandle) -> None:
    sandbox.configure(multiple_roles_enabled=True)
    org = await client.create_organization(name="Acme", external_id="acme")
    users = [await client.create_user(email=f"u{n}@example.com") for n in range(3)]
    default = await client.create_membership(user_id=users[0].id, organization_id=org.id)
    one = await client.create_membership(user_id=users[1].id, organization_id=org.id, role_slugs=["admin"])
    both = await client.create_membership(user_id=users[2].id, organization_id=org.id, role_slugs=["admin", "member"])
    assert (default.role_slug, default.status) == ("member", "active")
    assert (one.role_slug, one.role_slugs) == ("admin", ("admin",))
    assert set(both.role_slugs) == {"admin", "member"}
    listed = await client.list_memberships(organization_id=org.id)
    assert {m.id for m in listed} == {default.id, one.id, both.id}
    assert [m.id for m in await client.list_memberships(user_id=users[1].id, organization_id=org.id)] == [one.id]
    assert {role.slug for role in await client.list_roles()} >= {"member", "admin"}


async def test_totp_enrollment_and_listing(client: WorkOSClient) -> None:
    user = await client.create_user(email="totp@example.com")
    factor = await client.enroll_totp(user.id, secret=TOTP_SECRET, issuer="Acme", user="totp@example.com")
    assert (factor.type, factor.user_id) == ("totp", user.id)
    assert [f.id for f in await client.list_auth_factors(user.id)] == [factor.id]


# Every error class


async def test_duplicate_email_and_external_id_are_conflicts(client: WorkOSClient) -> None:
    await client.create_user(email="dup@example.com", external_id="ext-1")
    with pytest.raises(Conflict) as email_taken:
        await client.create_user(email=" DUP@example.com")
    assert (email_taken.value.status, email_taken.value.code) == (400, "user_creation_error")
    assert email_taken.value.sub_codes == ("email_not_available",)
    with pytest.raises(Conflict) as external_taken:
        await client.create_user(email="other@example.com", external_id="ext-1")
    assert "external_id_already_used" in (external_taken.value.code, *external_taken.value.sub_codes)
    await client.create_organization(name="Acme", external_id="acme")
    with pytest.raises(Conflict):
        await client.create_organization(name="Acme again", external_id="acme")


@pytest.mark.parametrize("status", [400, 409, 422])
async def test_duplicate_membership_is_a_conflict_whatever_status_the_server_uses(
    client: WorkOSClient, sandbox: SandboxHandle, status: int
) -> None:
    sandbox.configure(duplicate_membership_status=status)
    org = await client.create_organization(name="Acme")
    user = await client.create_user(email="m@example.com")
    await client.create_membership(user_id=user.id, organization_id=org.id)
    with pytest.raises(Conflict) as caught:
        await client.create_membership(user_id=user.id, organization_id=org.id)
    assert caught.value.status == status


async def test_invalid_hash_role_and_multiple_roles_are_invalid_requests(client: WorkOSClient) -> None:
    with pytest.raises(InvalidRequest) as bad_hash:
        await client.create_user(email="h@example.com", password_hash="$2b$10$short", password_hash_type="bcrypt")
    assert bad_hash.value.code == "invalid_password_hash"
    org = await client.create_organization(name="Acme")
    user = await client.create_user(email="r@example.com")
    with pytest.raises(InvalidRequest) as bad_role:
        await client.create_membership(user_id=user.id, organization_id=org.id, role_slugs=["wizard"])
    assert (bad_role.value.status, bad_role.value.code) == (422, "invalid_role")
    with pytest.raises(InvalidRequest) as several:
        await client.create_membership(user_id=user.id, organization_id=org.id, role_slugs=["admin", "member"])
    assert several.value.code == "multiple_roles_not_enabled"


async def test_a_wrong_key_is_an_authentication_error(sandbox: SandboxHandle) -> None:
    async with WorkOSClient(api_key="not_a_key", base_url=sandbox.url, limiter=quick_limiter()) as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.get_user("user_x")
    assert caught.value.status == 401
    assert client.stats.requests["read"] == 1


@pytest.mark.parametrize(
    ("style", "body"), [("seconds", "json"), ("http_date", "json"), ("omit", "string"), ("seconds", "string")]
)
async def test_429s_pause_then_every_request_gets_through(
    client: WorkOSClient, sandbox: SandboxHandle, style: str, body: str
) -> None:
    sandbox.configure(write_limit=4, write_window_s=0.3, retry_after_style=style, rate_limit_body=body)
    created = [await client.create_user(email=f"r{n}@example.com") for n in range(10)]
    assert len({user.id for user in created}) == 10
    stats = client.stats
    assert stats.rate_limited >= 1
    assert stats.retries == stats.rate_limited
    assert stats.waited["pause"] > 0
    assert sandbox.stats()["routes"]["POST /user_management/users"]["writes_applied"] == 10


async def test_rate_limited_is_raised_when_429s_outlast_the_attempts(sandbox: SandboxHandle) -> None:
    sandbox.configure(faults=[{"route": "*", "kind": "burst_429", "rate": 1.0}], burst_retry_after_s=0)
    async with WorkOSClient(
        api_key=sandbox.api_key,
        base_url=sandbox.url,
        limiter=quick_limiter(max_pause=0.05),
        retry=RetryPolicy(attempts=3),
    ) as client:
        with pytest.raises(RateLimited) as caught:
            await client.create_organization(name="Acme")
    assert caught.value.status == 429
    assert caught.value.request_id
    assert client.stats.rate_limited == 3


async def test_a_write_answered_5xx_after_commit_is_unknown_and_found_by_its_natural_key(
    client: WorkOSClient, sandbox: SandboxHandle
) -> None:
    fault(sandbox, "POST /user_management/users", "fail_after")
    with pytest.raises(ServerError) as caught:
        await client.create_user(email="ghost@example.com")
    assert (caught.value.status, caught.value.outcome_unknown) == (500, True)
    assert sandbox.stats()["routes"]["POST /user_management/users"]["requests"] == 1
    assert (await client.find_user_by_email("ghost@example.com")) is not None


async def test_a_dropped_connection_after_a_write_is_unknown_and_never_resent(
    client: WorkOSClient, sandbox: SandboxHandle
) -> None:
    fault(sandbox, "POST /organizations", "drop_after")
    with pytest.raises(TransportError) as caught:
        await client.create_organization(name="Acme", external_id="acme")
    assert caught.value.outcome_unknown
    assert sandbox.stats()["routes"]["POST /organizations"]["requests"] == 1
    assert (await client.get_organization_by_external_id("acme")) is not None


async def test_a_response_slower_than_the_timeout_is_unknown_for_a_write(sandbox: SandboxHandle) -> None:
    fault(sandbox, "POST /user_management/users", "slow", slow_ms=2000)
    async with WorkOSClient(
        api_key=sandbox.api_key, base_url=sandbox.url, limiter=quick_limiter(), timeout=0.2
    ) as client:
        with pytest.raises(TransportError) as caught:
            await client.create_user(email="slow@example.com")
    assert caught.value.outcome_unknown
    assert "ReadTimeout" in str(caught.value)


async def test_reads_are_retried_through_5xx_drops_and_timeouts(sandbox: SandboxHandle) -> None:
    async with WorkOSClient(
        api_key=sandbox.api_key,
        base_url=sandbox.url,
        limiter=quick_limiter(),
        retry=RetryPolicy(attempts=6, base=0.0),
        timeout=0.3,
    ) as client:
        user = await client.create_user(email="read@example.com")
        sandbox.configure(
            faults=[
                {"route": "GET /user_management/users/*", "kind": kind, "rate": 0.15}
                for kind in ("fail_before", "drop_after", "slow")
            ],
            fault_seed=7,
            slow_ms=1000,
        )
        for _ in range(8):
            assert (await client.get_user(user.id)).id == user.id
        assert client.stats.retries > 0
        assert sandbox.stats()["totals"]["dropped"] > 0
