"""The sandbox's injected behaviour: rate limits and their headers, 429 styles, latency, error hooks and each
probabilistic fault kind (including which of them really wrote), over loopback HTTP."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

import httpx2
import pytest

from core.errors import OptionsError
from core.workos.sandbox import Fault, SandboxHandle, parse_fault

USERS = "/user_management/users"


def emails(sandbox: SandboxHandle) -> list[str]:
    return [user["email"] for user in sandbox.state()["users"]]


# Rate limits


def test_every_api_response_carries_rate_limit_headers_that_count_down(
    sandbox_api: httpx2.Client, sandbox: SandboxHandle
) -> None:
    sandbox.configure(read_limit=5)
    first, second = sandbox_api.get(USERS), sandbox_api.get(USERS)
    assert (first.headers["X-RateLimit-Limit"], first.headers["X-RateLimit-Remaining"]) == ("5", "4")
    assert second.headers["X-RateLimit-Remaining"] == "3"
    assert 0 <= int(first.headers["X-RateLimit-Reset"]) - time.time() <= 11


def test_write_limit_refuses_with_429_retry_after_and_nothing_written(
    sandbox_api: httpx2.Client, sandbox: SandboxHandle
) -> None:
    sandbox.configure(write_limit=2)
    for i in range(2):
        assert sandbox_api.post(USERS, json={"email": f"w{i}@example.com"}).status_code == 201
    refused = sandbox_api.post(USERS, json={"email": "late@example.com"})
    assert refused.status_code == 429
    assert refused.json() == {"message": "Too Many Requests", "code": "rate_limit_exceeded"}
    assert 9 <= int(refused.headers["Retry-After"]) <= 10
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert "late@example.com" not in emails(sandbox)


def test_reads_and_writes_are_separate_buckets_and_organizations_only_count_globally(
    sandbox_api: httpx2.Client, sandbox: SandboxHandle
) -> None:
    sandbox.configure(write_limit=1, read_limit=1)
    assert sandbox_api.post(USERS, json={"email": "a@example.com"}).status_code == 201
    assert sandbox_api.get(USERS).status_code == 200
    for _ in range(3):
        assert sandbox_api.get("/organizations").status_code == 200
    assert sandbox_api.get(USERS).status_code == 429


def test_global_limit_is_counted_per_api_key(sandbox: SandboxHandle) -> None:
    sandbox.configure(global_limit=2)
    one = {"Authorization": "Bearer sk_test_one"}
    two = {"Authorization": "Bearer sk_test_two"}
    assert [httpx2.get(f"{sandbox.url}/organizations", headers=one).status_code for _ in range(3)] == [200, 200, 429]
    assert httpx2.get(f"{sandbox.url}/organizations", headers=two).status_code == 200


def test_the_window_slides_so_requests_are_admitted_again_after_it(
    sandbox_api: httpx2.Client, sandbox: SandboxHandle
) -> None:
    sandbox.configure(read_limit=2, read_window_s=0.3)
    assert [sandbox_api.get(USERS).status_code for _ in range(3)] == [200, 200, 429]
    time.sleep(0.35)
    assert sandbox_api.get(USERS).status_code == 200


def test_retry_after_as_http_date(sandbox_api: httpx2.Client, sandbox: SandboxHandle) -> None:
    sandbox.configure(read_limit=1, retry_after_style="http_date")
    sandbox_api.get(USERS)
    refused = sandbox_api.get(USERS)
    wait = parsedate_to_datetime(refused.headers["Retry-After"]).timestamp() - time.time()
    assert 8 <= wait <= 11


def test_retry_after_omitted_and_a_bare_string_body(sandbox_api: httpx2.Client, sandbox: SandboxHandle) -> None:
    sandbox.configure(read_limit=1, retry_after_style="omit", rate_limit_body="string")
    sandbox_api.get(USERS)
    refused = sandbox_api.get(USERS)
    assert refused.status_code == 429 and "Retry-After" not in refused.headers
    assert refused.json() == "Ratelimited"


def test_a_plain_text_429_body(sandbox_api: httpx2.Client, sandbox: SandboxHandle) -> None:
    sandbox.configure(read_limit=1, rate_limit_body="text")
    sandbox_api.get(USERS)
    refused = sandbox_api.get(USERS)
    assert refused.text == "Too Many Requests" and refused.headers["content-type"].startswith("text/plain")


def test_health_and_admin_endpoints_are_never_limited(sandbox_api: httpx2.Client, sandbox: SandboxHandle) -> None:
    sandbox.configure(global_limit=1)
    for _ in range(5):
        assert sandbox_api.get("/health").json() == {"status": "ok"}
        assert sandbox_api.get("/_sandbox/stats").status_code == 200
    assert "X-RateLimit-Limit" not in sandbox_api.get("/health").headers


def test_a_zero_limit_disables_that_bucket(sandbox_api: httpx2.Client, sandbox: SandboxHandle) -> None:
    sandbox.configure(write_limit=0, read_limit=0, global_limit=0)
    response = sandbox_api.get(USERS)
    assert response.status_code == 200 and "X-RateLimit-Limit" not in response.headers


def test_unauthorized_requests_do_not_spend_the_limit(sandbox_api: httpx2.Client, sandbox: SandboxHandle) -> None:
    sandbox.configure(read_limit=1)
    assert httpx2.get(f"{sandbox.url}{USERS}").status_code == 401
    assert sandbox_api.get(USERS).status_code == 200


# Latency


def test_latency_and_jitter_delay_api_calls_but_not_health(sandbox_api: httpx2.Client, sandbox: SandboxHandle) -> None:
    sandbox.configure(latency_ms=120, jitter_ms=40, fault_seed=1)
    started = time.perf_counter()
    sandbox_api.get(USERS)
    assert 0.12 <= time.perf_counter() - started < 0.5
    started = time.perf_counter()
    sandbox_api.get("/health")
    assert time.perf_counter() - started < 0.1


# Error hooks


def test_a_hook_short_circuits_before_any_write(sandbox_api: httpx2.Client, sandbox: SandboxHandle) -> None:
    sandbox.add_hook("POST", USERS, 503, body={"message": "down", "code": "maintenance"})
    response = sandbox_api.post(USERS, json={"email": "h@example.com"})
    assert (response.status_code, response.json()) == (503, {"message": "down", "code": "maintenance"})
    assert emails(sandbox) == []


def test_a_hook_with_a_count_expires_and_gets_the_emulators_default_body(
    sandbox_api: httpx2.Client, sandbox: SandboxHandle
) -> None:
    sandbox.add_hook("*", "/organizations", 409, count=2)
    first, second, third = (sandbox_api.get("/organizations") for _ in range(3))
    assert first.json() == {"message": "Conflict", "code": "conflict"} and second.status_code == 409
    assert third.status_code == 200
    assert httpx2.get(f"{sandbox.url}/_emulate/hooks").json() == []


def test_a_429_hook_says_when_to_retry_as_workos_does(sandbox_api: httpx2.Client, sandbox: SandboxHandle) -> None:
    sandbox.configure(burst_retry_after_s=4)
    sandbox.add_hook("POST", USERS, 429, count=1)
    limited = sandbox_api.post(USERS, json={"email": "r@example.com"})
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "4")
    assert sandbox_api.post(USERS, json={"email": "r@example.com"}).status_code == 201


def test_a_prefix_hook_matches_the_prefix_and_everything_below_it(
    sandbox_api: httpx2.Client, sandbox: SandboxHandle
) -> None:
    sandbox.add_hook("get", "/organizations/*", 418)
    assert sandbox_api.get("/organizations").status_code == 418
    assert sandbox_api.get("/organizations/org_1").json() == {"message": "Error 418", "code": "error"}
    assert sandbox_api.get(USERS).status_code == 200
    assert sandbox_api.post("/organizations", json={"name": "X"}).status_code == 201


def test_hooks_are_listed_and_deleted_by_id(sandbox: SandboxHandle) -> None:
    hook = sandbox.add_hook("GET", "*", 500)
    assert hook["id"].startswith("hook_")
    assert [h["id"] for h in httpx2.get(f"{sandbox.url}/_emulate/hooks").json()] == [hook["id"]]
    assert httpx2.delete(f"{sandbox.url}/_emulate/hooks/{hook['id']}").status_code == 204
    missing = httpx2.delete(f"{sandbox.url}/_emulate/hooks/{hook['id']}")
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")


@pytest.mark.parametrize(
    "hook",
    [{"method": "GET", "path": "/x"}, {"method": "GET", "path": "/x", "status": 700}, {"path": "/x", "status": 500}],
)
def test_an_incomplete_or_invalid_hook_is_400(sandbox: SandboxHandle, hook: dict[str, object]) -> None:
    response = httpx2.post(f"{sandbox.url}/_emulate/hooks", json=hook)
    assert (response.status_code, response.json()["code"]) == (400, "bad_request")


# Faults


def test_fail_before_answers_5xx_and_writes_nothing(sandbox_api: httpx2.Client, sandbox: SandboxHandle) -> None:
    sandbox.configure(faults=[{"route": f"POST {USERS}", "kind": "fail_before", "rate": 1}], fault_status=502)
    response = sandbox_api.post(USERS, json={"email": "f@example.com"})
    assert response.status_code == 502
    assert emails(sandbox) == []
    assert sandbox.stats()["routes"][f"POST {USERS}"]["writes_applied"] == 0


def test_fail_after_writes_then_answers_5xx(sandbox_api: httpx2.Client, sandbox: SandboxHandle) -> None:
    sandbox.configure(faults=[{"route": f"POST {USERS}", "kind": "fail_after", "rate": 1}])
    response = sandbox_api.post(USERS, json={"email": "f@example.com"})
    assert (response.status_code, response.json()["code"]) == (500, "server_error")
    assert emails(sandbox) == ["f@example.com"]
    route = sandbox.stats()["routes"][f"POST {USERS}"]
    assert (route["5xx"], route["writes_applied"]) == (1, 1)


def test_drop_after_writes_then_drops_the_connection_without_a_response(
    sandbox_api: httpx2.Client, sandbox: SandboxHandle
) -> None:
    sandbox.configure(faults=[{"route": f"POST {USERS}", "kind": "drop_after", "rate": 1}])
    with pytest.raises(httpx2.RemoteProtocolError):
        sandbox_api.post(USERS, json={"email": "d@example.com"})
    assert emails(sandbox) == ["d@example.com"]
    route = sandbox.stats()["routes"][f"POST {USERS}"]
    assert (route["dropped"], route["writes_applied"]) == (1, 1)
    assert sandbox_api.get(USERS).status_code == 200


@pytest.mark.anyio
async def test_drop_after_reaches_an_async_client_as_a_transport_error(sandbox: SandboxHandle) -> None:
    sandbox.configure(faults=[{"route": f"POST {USERS}", "kind": "drop_after", "rate": 1}])
    headers = {"Authorization": f"Bearer {sandbox.api_key}"}
    async with httpx2.AsyncClient(base_url=sandbox.url, headers=headers) as client:
        with pytest.raises(httpx2.TransportError):
            await client.post(USERS, json={"email": "a@example.com"})


def test_slow_writes_then_holds_the_response_past_the_client_timeout(
    sandbox_api: httpx2.Client, sandbox: SandboxHandle
) -> None:
    sandbox.configure(faults=[{"route": f"POST {USERS}", "kind": "slow", "rate": 1}], slow_ms=600)
    with pytest.raises(httpx2.ReadTimeout):
        sandbox_api.post(USERS, json={"email": "s@example.com"}, timeout=0.15)
    assert emails(sandbox) == ["s@example.com"]
    started = time.perf_counter()
    assert sandbox_api.post(USERS, json={"email": "t@example.com"}, timeout=5).status_code == 201
    assert time.perf_counter() - started >= 0.6


def test_burst_429_answers_429_with_retry_after_and_writes_nothing(
    sandbox_api: httpx2.Client, sandbox: SandboxHandle
) -> None:
    sandbox.configure(faults=[{"route": "/user_management/*", "kind": "burst_429", "rate": 1}], burst_retry_after_s=3)
    response = sandbox_api.post(USERS, json={"email": "b@example.com"})
    assert (response.status_code, response.headers["Retry-After"]) == (429, "3")
    assert emails(sandbox) == []
    assert sandbox.stats()["totals"]["429"] == 1


def test_faults_only_hit_matching_routes(sandbox_api: httpx2.Client, sandbox: SandboxHandle) -> None:
    sandbox.configure(faults=[{"route": "POST /organizations", "kind": "fail_before", "rate": 1}])
    assert sandbox_api.post(USERS, json={"email": "a@example.com"}).status_code == 201
    assert sandbox_api.get("/organizations").status_code == 200
    assert sandbox_api.post("/organizations", json={"name": "X"}).status_code == 500


def test_a_fault_seed_replays_the_same_sequence(sandbox_api: httpx2.Client, sandbox: SandboxHandle) -> None:
    faults = [{"route": f"GET {USERS}", "kind": "fail_before", "rate": 0.5}]

    def run() -> list[int]:
        sandbox.reset()
        sandbox.configure(faults=faults, fault_seed=7)
        return [sandbox_api.get(USERS).status_code for _ in range(30)]

    first = run()
    assert first == run()
    assert 5 <= first.count(500) <= 25 and 200 in first


def test_parse_fault_reads_the_cli_form_and_names_bad_parts() -> None:
    assert parse_fault("POST /user_management/users:fail_after:0.05") == Fault(
        route="POST /user_management/users", kind="fail_after", rate=0.05
    )
    for spec in ("POST /x:explode:0.1", "POST /x:slow:1.5", "just-a-route"):
        with pytest.raises(OptionsError, match="--fault"):
            parse_fault(spec)
