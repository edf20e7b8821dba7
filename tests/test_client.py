"""WorkOSClient over httpx2's MockTransport: requests it sends, error classification, retries, secrets."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import traceback
from collections.abc import Callable
from email.utils import formatdate
from importlib.metadata import version
from typing import Any

import httpx2
import pytest

from core.errors import (
    AuthenticationError,
    Conflict,
    InvalidRequest,
    NotFound,
    RateLimited,
    ServerError,
    TransportError,
    WorkOSError,
)
from core.workos.client import WorkOSClient, to_workos_error
from core.workos.limits import RateLimiter, RetryPolicy

pytestmark = pytest.mark.anyio

API_KEY = "sk_test_SECRETKEY1234567890"
STAMP = "2026-11-30T00:00:00.000Z"
USER = {
    "object": "user",
    "id": "user_01",
    "email": "ada@example.com",
    "first_name": "Ada",
    "last_name": None,
    "email_verified": True,
    "external_id": "ext-1",
    "metadata": {"team": "core"},
    "created_at": STAMP,
    "updated_at": STAMP,
}
ORG = {"object": "organization", "id": "org_01", "name": "Acme", "external_id": "acme", "metadata": {}}
MEMBERSHIP = {
    "object": "organization_membership",
    "id": "om_01",
    "user_id": "user_01",
    "organization_id": "org_01",
    "status": "active",
    "role": {"slug": "admin"},
    "roles": [{"slug": "admin"}, {"slug": "billing"}],
    "user": USER,
}
Handler = Callable[[httpx2.Request], httpx2.Response]


def fast_limiter() -> RateLimiter:
    return RateLimiter(write_rate=1e6, read_rate=1e6, general_rate=1e6, max_pause=0.01, pause_base=0.001)


def make_client(handler: Handler, *, attempts: int = 3, **kwargs: Any) -> WorkOSClient:
    return WorkOSClient(
        api_key=API_KEY,
        base_url="https://workos.test",
        limiter=fast_limiter(),
        retry=RetryPolicy(attempts=attempts, base=0.0),
        transport=httpx2.MockTransport(handler),
        **kwargs,
    )


class Recorder:
    """A MockTransport handler that answers from a script and keeps every request it saw."""

    def __init__(self, *answers: httpx2.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def body(self, index: int = -1) -> Any:
        return json.loads(self.requests[index].content)


def page(*items: dict[str, Any], after: str | None = None) -> httpx2.Response:
    return httpx2.Response(200, json={"object": "list", "data": list(items), "list_metadata": {"after": after}})


# What the client sends


async def test_every_request_carries_the_key_user_agent_and_json_content_type() -> None:
    recorder = Recorder(httpx2.Response(201, json=USER))
    async with make_client(recorder) as client:
        await client.create_user(email="ada@example.com")
    request = recorder.requests[0]
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.headers["user-agent"] == f"workos-migrate/{version('workos-migrate')}"
    assert request.headers["content-type"] == "application/json"
    assert request.url == "https://workos.test/user_management/users"


async def test_create_user_sends_only_the_fields_given_and_parses_the_user() -> None:
    recorder = Recorder(httpx2.Response(201, json={**USER, "unknown_future_field": 1}))
    async with make_client(recorder) as client:
        user = await client.create_user(
            email="ada@example.com",
            first_name="Ada",
            password_hash="$2b$10$" + "a" * 53,
            password_hash_type="bcrypt",
            metadata={"team": "core"},
        )
    assert recorder.body() == {
        "email": "ada@example.com",
        "first_name": "Ada",
        "password_hash": "$2b$10$" + "a" * 53,
        "password_hash_type": "bcrypt",
        "metadata": {"team": "core"},
    }
    assert (user.id, user.email, user.email_verified, user.metadata) == (
        "user_01",
        "ada@example.com",
        True,
        USER["metadata"],
    )


async def test_update_user_puts_only_given_fields_and_rejects_unknown_ones() -> None:
    recorder = Recorder(httpx2.Response(200, json=USER))
    async with make_client(recorder) as client:
        await client.update_user("user_01", first_name="Ada", email_verified=False)
        with pytest.raises(TypeError, match="nickname"):
            await client.update_user("user_01", nickname="x")  # type: ignore[call-arg]
    assert recorder.requests[0].method == "PUT"
    assert recorder.body() == {"first_name": "Ada", "email_verified": False}


async def test_find_user_by_email_trims_and_lower_cases_and_asks_for_one() -> None:
    recorder = Recorder(page(USER), page())
    async with make_client(recorder) as client:
        assert (await client.find_user_by_email("  Ada@Example.COM ")).id == "user_01"  # type: ignore[union-attr]
        assert await client.find_user_by_email("nobody@example.com") is None
    assert dict(recorder.requests[0].url.params) == {"email": "ada@example.com", "limit": "1"}


async def test_external_ids_are_url_encoded_as_one_path_segment() -> None:
    recorder = Recorder(httpx2.Response(200, json=USER))
    async with make_client(recorder) as client:
        await client.get_user_by_external_id("a/b c?d")
    assert recorder.requests[0].url.raw_path == b"/user_management/users/external_id/a%2Fb%20c%3Fd"


@pytest.mark.parametrize(
    ("slugs", "expected"),
    [((), {}), (("admin",), {"role_slug": "admin"}), (("admin", "billing"), {"role_slugs": ["admin", "billing"]})],
)
async def test_membership_roles_go_as_role_slug_or_role_slugs(slugs: tuple[str, ...], expected: dict[str, Any]) -> None:
    recorder = Recorder(httpx2.Response(201, json=MEMBERSHIP))
    async with make_client(recorder) as client:
        membership = await client.create_membership(user_id="user_01", organization_id="org_01", role_slugs=slugs)
    assert recorder.body() == {"user_id": "user_01", "organization_id": "org_01", **expected}
    assert (membership.role_slug, membership.role_slugs) == ("admin", ("admin", "billing"))


async def test_list_memberships_sends_statuses_comma_joined_and_reads_every_page() -> None:
    second = {**MEMBERSHIP, "id": "om_02"}
    recorder = Recorder(page(MEMBERSHIP, after="om_01"), page(second))
    async with make_client(recorder) as client:
        memberships = await client.list_memberships(user_id="user_01", organization_id="org_01")
        with pytest.raises(ValueError):
            await client.list_memberships()
    assert [m.id for m in memberships] == ["om_01", "om_02"]
    first, then = (dict(r.url.params) for r in recorder.requests)
    assert first == {
        "user_id": "user_01",
        "organization_id": "org_01",
        "statuses": "active,inactive,pending",
        "limit": "100",
    }
    assert then["after"] == "om_01"


async def test_list_organizations_follows_the_after_cursor_until_it_ends() -> None:
    recorder = Recorder(page(ORG, after="org_01"), page({**ORG, "id": "org_02"}, after="org_02"), page())
    async with make_client(recorder) as client:
        names = [org.id async for org in client.list_organizations(search="Ac")]
    assert names == ["org_01", "org_02"]
    assert [r.url.params.get("after") for r in recorder.requests] == [None, "org_01", "org_02"]
    assert {r.url.params["search"] for r in recorder.requests} == {"Ac"}


async def test_list_roles_reads_the_unpaginated_envelope() -> None:
    recorder = Recorder(httpx2.Response(200, json={"object": "list", "data": [{"slug": "member", "name": "Member"}]}))
    async with make_client(recorder) as client:
        roles = await client.list_roles()
    assert [r.slug for r in roles] == ["member"]
    assert "limit" not in recorder.requests[0].url.params


async def test_enroll_totp_sends_the_secret_and_returns_the_factor() -> None:
    answer = {"authentication_factor": {"id": "auth_factor_01", "type": "totp", "user_id": "user_01"}}
    recorder = Recorder(httpx2.Response(201, json={**answer, "authentication_challenge": {"id": "c"}}))
    async with make_client(recorder) as client:
        factor = await client.enroll_totp("user_01", secret="JBSWY3DPEHPK3PXP", issuer="Acme")
    assert recorder.body() == {"type": "totp", "totp_secret": "JBSWY3DPEHPK3PXP", "totp_issuer": "Acme"}
    assert (factor.id, factor.type, factor.user_id) == ("auth_factor_01", "totp", "user_01")


async def test_lookups_answer_none_on_404_without_counting_an_error() -> None:
    recorder = Recorder(httpx2.Response(404, json={"message": "Not found"}))
    async with make_client(recorder) as client:
        assert await client.get_user_by_external_id("x") is None
        assert await client.get_organization("org_x") is None
        assert await client.get_organization_by_external_id("x") is None
        with pytest.raises(NotFound):
            await client.get_user("user_x")
        assert client.stats.errors == {"NotFound": 1}


# Classification


def answer(status: int, body: Any = None, *, text: str | None = None, **headers: str) -> httpx2.Response:
    request = httpx2.Request("POST", "https://workos.test/user_management/users")
    if text is not None:
        return httpx2.Response(status, text=text, headers=headers, request=request)
    return httpx2.Response(status, json=body, headers=headers, request=request)


DUPLICATE_EMAIL = {
    "message": "Could not create user.",
    "code": "user_creation_error",
    "errors": [{"code": "email_not_available", "message": "This email is not available."}],
}


@pytest.mark.parametrize(
    ("response", "kind", "code", "sub_codes"),
    [
        (answer(400, DUPLICATE_EMAIL), Conflict, "user_creation_error", ("email_not_available",)),
        (answer(409, {"message": "exists", "code": "user_already_exists"}), Conflict, "user_already_exists", ()),
        (answer(400, {"code": "external_id_already_used", "message": "x"}), Conflict, "external_id_already_used", ()),
        (
            answer(400, {"code": "user_creation_error", "errors": [{"code": "external_id_already_used"}]}),
            Conflict,
            "user_creation_error",
            ("external_id_already_used",),
        ),
        (
            answer(422, {"code": "organization_membership_already_exists"}),
            Conflict,
            "organization_membership_already_exists",
            (),
        ),
        (answer(409, {"message": "Membership already exists", "code": "conflict"}), Conflict, "conflict", ()),
        (answer(409, text="<html>conflict</html>"), Conflict, None, ()),
        (answer(400, {"code": "invalid_password_hash", "message": "bad"}), InvalidRequest, "invalid_password_hash", ()),
        (answer(422, {"code": "invalid_role", "message": "Role 'x'"}), InvalidRequest, "invalid_role", ()),
        (answer(422, {"code": "mystery_code", "errors": "not a list"}), InvalidRequest, "mystery_code", ()),
        (answer(400, text="not json"), InvalidRequest, None, ()),
        (answer(400, ["a", "list"]), InvalidRequest, None, ()),
        (answer(418, {"message": "teapot"}), InvalidRequest, None, ()),
        (answer(401, {"message": "Unauthorized", "code": "unauthorized"}), AuthenticationError, "unauthorized", ()),
        (answer(403, {"message": "Forbidden"}), AuthenticationError, None, ()),
        (answer(404, {"message": "User not found", "code": "not_found"}), NotFound, "not_found", ()),
        (answer(429, "Ratelimited"), RateLimited, None, ()),
        (answer(429, DUPLICATE_EMAIL), RateLimited, None, ()),
        (answer(429, text=""), RateLimited, None, ()),
        (answer(500, DUPLICATE_EMAIL), ServerError, "user_creation_error", ("email_not_available",)),
        (answer(503, text="<html>down</html>"), ServerError, None, ()),
        (answer(408, text=""), ServerError, None, ()),
        (answer(302, text=""), WorkOSError, None, ()),
    ],
)
def test_classification_goes_by_status_then_code_then_sub_code(
    response: httpx2.Response, kind: type[WorkOSError], code: str | None, sub_codes: tuple[str, ...]
) -> None:
    error = to_workos_error(response, method="POST", path="/user_management/users")
    assert type(error) is kind
    assert (error.status, error.code, error.sub_codes) == (response.status_code, code, sub_codes)


def test_duplicate_email_is_a_conflict_never_retryable_and_its_outcome_is_known() -> None:
    error = to_workos_error(answer(400, DUPLICATE_EMAIL), method="POST", path="/user_management/users")
    assert isinstance(error, Conflict)
    assert (error.retryable, error.outcome_unknown) == (False, False)
    assert "Could not create user." in str(error)


def test_server_errors_leave_a_write_outcome_unknown_but_not_a_read() -> None:
    post = to_workos_error(answer(502, text=""), method="POST", path="/organizations")
    get = to_workos_error(answer(502, text=""), method="GET", path="/organizations")
    assert (post.retryable, post.outcome_unknown) == (True, True)
    assert (get.retryable, get.outcome_unknown) == (True, False)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (lambda: "7", 7.0),
        (lambda: formatdate(time.time() + 30, usegmt=True), pytest.approx(30, abs=1.5)),
        (lambda: "x", None),
    ],
)
def test_retry_after_is_read_as_seconds_or_http_date(header: Callable[[], str], expected: Any) -> None:
    error = to_workos_error(answer(429, text="", **{"Retry-After": header()}), method="POST", path="/x")
    assert isinstance(error, RateLimited)
    assert error.retry_after == expected


def test_request_id_is_captured_from_the_response() -> None:
    error = to_workos_error(
        answer(422, {"code": "invalid_role"}, **{"X-Request-ID": "req_abc"}), method="POST", path="/x"
    )
    assert error.request_id == "req_abc"
    assert "request_id=req_abc" in str(error)


@pytest.mark.parametrize(
    ("exc", "method", "retryable", "unknown"),
    [
        (httpx2.ConnectError("refused"), "POST", True, False),
        (httpx2.ConnectTimeout("slow connect"), "POST", True, False),
        (httpx2.PoolTimeout("pool full"), "POST", True, False),
        (httpx2.ReadTimeout("timed out"), "POST", True, True),
        (httpx2.WriteTimeout("timed out"), "POST", True, True),
        (httpx2.RemoteProtocolError("Server disconnected without sending a response."), "POST", True, True),
        (httpx2.ReadError("connection reset"), "PUT", True, True),
        (httpx2.ReadTimeout("timed out"), "GET", True, False),
        (httpx2.UnsupportedProtocol("ftp"), "GET", False, False),
    ],
)
def test_transport_failures_are_unknown_unless_provably_never_sent(
    exc: httpx2.HTTPError, method: str, retryable: bool, unknown: bool
) -> None:
    error = to_workos_error(exc, method=method, path="/user_management/users")
    assert isinstance(error, TransportError)
    assert (error.retryable, error.outcome_unknown, error.status) == (retryable, unknown, None)
    assert type(exc).__name__ in str(error)


# Retries


async def test_a_post_with_unknown_outcome_is_raised_not_resent() -> None:
    for failure in (answer(500, text=""), httpx2.ReadTimeout("timed out"), httpx2.RemoteProtocolError("dropped")):
        recorder = Recorder(failure, httpx2.Response(201, json=USER))
        async with make_client(recorder) as client:
            with pytest.raises((ServerError, TransportError)) as caught:
                await client.create_user(email="ada@example.com")
        assert caught.value.outcome_unknown
        assert len(recorder.requests) == 1
        if isinstance(failure, Exception):
            assert caught.value.__cause__ is failure


async def test_a_post_that_was_never_sent_is_retried() -> None:
    recorder = Recorder(httpx2.ConnectError("refused"), httpx2.PoolTimeout("full"), httpx2.Response(201, json=USER))
    async with make_client(recorder) as client:
        assert (await client.create_user(email="ada@example.com")).id == "user_01"
        assert client.stats.retries == 2
    assert len(recorder.requests) == 3


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_idempotent_requests_are_retried_after_5xx_408_timeouts_and_drops(method: str) -> None:
    ok = httpx2.Response(204) if method == "DELETE" else httpx2.Response(200, json=USER)
    failures = [answer(503, text=""), answer(408, text=""), httpx2.ReadTimeout("t"), httpx2.ReadError("reset")]
    recorder = Recorder(*failures, ok)
    async with make_client(recorder, attempts=5) as client:
        call = {
            "GET": lambda: client.get_user("user_01"),
            "PUT": lambda: client.update_user("user_01", first_name="A"),
            "DELETE": lambda: client.delete_user("user_01"),
        }[method]
        await call()
        assert client.stats.retries == 4
    assert [r.method for r in recorder.requests] == [method] * 5


async def test_conflicts_and_invalid_requests_are_never_retried() -> None:
    for failure in (answer(400, DUPLICATE_EMAIL), answer(422, {"code": "invalid_role"}), answer(401, {})):
        recorder = Recorder(failure)
        async with make_client(recorder) as client:
            with pytest.raises(WorkOSError) as caught:
                await client.create_user(email="ada@example.com")
        assert not caught.value.retryable
        assert len(recorder.requests) == 1


async def test_retries_stop_after_the_configured_attempts() -> None:
    recorder = Recorder(answer(503, text=""))
    async with make_client(recorder, attempts=3) as client:
        with pytest.raises(ServerError):
            await client.get_user("user_01")
        stats = client.stats
    assert len(recorder.requests) == 3
    assert (stats.requests["read"], stats.retries, stats.errors) == (3, 2, {"ServerError": 1})


async def test_a_2xx_with_a_body_that_is_not_the_object_raises_server_error_without_retrying() -> None:
    recorder = Recorder(httpx2.Response(201, text="<html>proxy</html>"))
    async with make_client(recorder) as client:
        with pytest.raises(ServerError) as caught:
            await client.create_user(email="ada@example.com")
    assert (caught.value.retryable, caught.value.outcome_unknown) == (False, True)
    assert len(recorder.requests) == 1


# Construction


def test_from_env_needs_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORKOS_API_KEY", raising=False)
    monkeypatch.delenv("WORKOS_SECRET_KEY", raising=False)
    with pytest.raises(AuthenticationError, match="WORKOS_API_KEY"):
        WorkOSClient.from_env()


async def test_from_env_reads_the_secret_key_fallback_and_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORKOS_API_KEY", raising=False)
    monkeypatch.setenv("WORKOS_SECRET_KEY", API_KEY)
    monkeypatch.setenv("WORKOS_BASE_URL", "http://127.0.0.1:4100/")
    recorder = Recorder(httpx2.Response(200, json=USER))
    async with WorkOSClient.from_env(transport=httpx2.MockTransport(recorder), limiter=fast_limiter()) as client:
        await client.get_user("user_01")
    assert str(recorder.requests[0].url) == "http://127.0.0.1:4100/user_management/users/user_01"
    assert recorder.requests[0].headers["authorization"] == f"Bearer {API_KEY}"
    assert API_KEY not in repr(client)


async def test_connection_pool_is_sized_to_the_concurrency() -> None:
    open_now = peak = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal open_now, peak
        open_now += 1
        peak = max(peak, open_now)
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                await asyncio.sleep(0.02)
                body = json.dumps(USER).encode()
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
                )
                writer.write(body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            open_now -= 1
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with (
        server,
        WorkOSClient(
            api_key=API_KEY, base_url=f"http://127.0.0.1:{port}", concurrency=3, limiter=fast_limiter()
        ) as client,
    ):
        await asyncio.gather(*(client.get_user(f"user_{n}") for n in range(12)))
    assert peak == 3


# Secrets


SECRETS = {
    "password": "Hunter2-plaintext-PASSWORD",
    "hash": "$2b$10$abcdefghijklmnopqrstuvABCDEFGHIJKLMNOPQRSTUVWXYZ01234",
    "totp": "JBSWY3DPEHPK3PXPSECRETTOTP",
}


def echoing(status: int | Exception) -> Handler:
    """An answer whose message quotes everything the request carried, the way a careless server might."""

    def handler(request: httpx2.Request) -> httpx2.Response:
        if isinstance(status, Exception):
            raise status
        echo = f"{request.content.decode()} {request.headers['authorization']}"
        body = {"message": echo, "code": "user_creation_error", "errors": [{"code": "x", "message": echo}]}
        return httpx2.Response(status, json=body, headers={"Retry-After": "0"})

    return handler


@pytest.mark.parametrize(
    "failure",
    [400, 401, 403, 404, 409, 422, 429, 500, 503, 302, httpx2.ReadTimeout("timed out"), httpx2.ConnectError("refused")],
)
async def test_no_error_or_log_line_ever_holds_the_key_a_password_a_hash_or_a_totp_secret(
    failure: int | Exception, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    raised: list[BaseException] = []
    async with make_client(echoing(failure), attempts=2) as client:
        calls = [
            lambda: client.create_user(email="ada@example.com", password=SECRETS["password"], external_id="e1"),
            lambda: client.create_user(
                email="ada@example.com", password_hash=SECRETS["hash"], password_hash_type="bcrypt"
            ),
            lambda: client.update_user("user_01", password_hash=SECRETS["hash"], password_hash_type="bcrypt"),
            lambda: client.enroll_totp("user_01", secret=SECRETS["totp"]),
        ]
        for call in calls:
            with pytest.raises(WorkOSError) as caught:
                await call()
            raised.append(caught.value)
    texts = [caplog.text]
    for error in raised:
        texts += [str(error), repr(error), "".join(traceback.format_exception(error))]
    for text in texts:
        for secret in (API_KEY, *SECRETS.values()):
            assert secret not in text
