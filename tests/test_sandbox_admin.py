"""The sandbox's admin side and lifecycle: reset, stats, state, run-time config, seed files, the CLI command,
the ``python -m`` child process, clean shutdown, and that no secret reaches a log or a dump."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import threading
from pathlib import Path

import httpx2
import pytest
from click.testing import CliRunner

from core.errors import OptionsError
from core.workos.sandbox import Sandbox, SandboxHandle, load_seed, running_sandbox, spawned_sandbox
from server.cli import main

USERS = "/user_management/users"
BCRYPT = "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW"
TOTP = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def write_seed(tmp_path: Path, data: object, name: str = "seed.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


SEED = {
    "apiKeys": [{"value": "sk_test_seeded"}],
    "roles": [{"slug": "billing", "name": "Billing", "permissions": ["invoices:read"]}],
    "users": [
        {"id": "user_01SEEDED000000000000000001", "email": "Ada@Example.com", "password_hash": BCRYPT,
         "password_hash_type": "bcrypt", "totp_secret": TOTP},
        {"email": "bob@example.com", "external_id": "bob"},
    ],
    "organizations": [
        {"id": "org_01SEEDED000000000000000001", "name": "Acme", "external_id": "acme",
         "domains": [{"domain": "acme.com", "state": "verified"}],
         "memberships": [{"email": "ada@example.com", "role": "billing"},
                         {"email": "bob@example.com", "status": "inactive"}]},
    ],
    "errorHooks": [{"method": "GET", "path": "/organizations/org_broken", "status": 500}],
}  # fmt: skip


def test_a_seed_file_creates_users_orgs_memberships_roles_keys_and_hooks(tmp_path: Path) -> None:
    sandbox = Sandbox(seed=load_seed(write_seed(tmp_path, SEED)))
    with running_sandbox(sandbox) as handle:
        assert handle.api_key == "sk_test_seeded"
        state = handle.state()
        assert state["users"][0]["id"] == "user_01SEEDED000000000000000001"
        assert [u["email"] for u in state["users"]] == ["ada@example.com", "bob@example.com"]
        assert state["users"][0]["password_hash_type"] == "bcrypt"
        assert [(m["role"]["slug"], m["status"]) for m in state["organization_memberships"]] == [
            ("billing", "active"),
            ("member", "inactive"),
        ]
        assert [r["slug"] for r in state["roles"]] == ["member", "admin", "billing"]
        assert len(state["auth_factors"]) == 1
        headers = {"Authorization": "Bearer sk_test_seeded"}
        assert httpx2.get(f"{handle.url}/organizations/org_broken", headers=headers).status_code == 500
        acme = httpx2.get(f"{handle.url}/organizations/external_id/acme", headers=headers).json()
        assert acme["id"] == "org_01SEEDED000000000000000001"


def test_reset_returns_to_the_seed_and_the_start_up_config(tmp_path: Path) -> None:
    with running_sandbox(Sandbox(seed=load_seed(write_seed(tmp_path, SEED)))) as handle:
        headers = {"Authorization": f"Bearer {handle.api_key}"}
        httpx2.post(f"{handle.url}{USERS}", json={"email": "new@example.com"}, headers=headers)
        handle.configure(latency_ms=5, write_limit=1)
        handle.add_hook("*", "*", 500)
        handle.reset()
        assert len(handle.state()["users"]) == 2
        assert (handle.config()["latency_ms"], handle.config()["write_limit"]) == (0, 500)
        assert handle.stats()["totals"]["requests"] == 0
        assert [h["path"] for h in httpx2.get(f"{handle.url}/_emulate/hooks").json()] == ["/organizations/org_broken"]


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ({"users": [{"email": "a@example.com"}, {"email": "A@example.com"}]}, "users[1]"),
        ({"users": [{"email": "a@example.com", "password_hash": "nope", "password_hash_type": "bcrypt"}]}, "users[0]"),
        ({"organizations": [{"name": "X", "memberships": [{"email": "ghost@example.com"}]}]}, "memberships[0]"),
        ({"organizations": [{"name": "X", "memberships": [{"email": "a@x.com", "role": "owner"}]}],
          "users": [{"email": "a@x.com"}]}, "memberships[0]"),
        ({"users": "not a list"}, "users"),
        ({"widgets": []}, "widgets"),
    ],
)  # fmt: skip
def test_an_invalid_seed_raises_options_error_naming_the_entry(tmp_path: Path, data: object, where: str) -> None:
    with pytest.raises(OptionsError, match=where.replace("[", r"\[").replace("]", r"\]")):
        Sandbox(seed=load_seed(write_seed(tmp_path, data)))


def test_a_missing_or_unparsable_seed_file_raises_options_error(tmp_path: Path) -> None:
    with pytest.raises(OptionsError, match="cannot read"):
        load_seed(tmp_path / "absent.json")
    (tmp_path / "bad.json").write_text("{users: [", encoding="utf-8")
    with pytest.raises(OptionsError, match="not valid JSON"):
        load_seed(tmp_path / "bad.json")


def test_stats_count_outcomes_per_route_and_objects(sandbox_api: httpx2.Client, sandbox: SandboxHandle) -> None:
    sandbox_api.post(USERS, json={"email": "a@example.com"})
    sandbox_api.post(USERS, json={"email": "a@example.com"})
    sandbox_api.get(f"{USERS}/user_missing")
    sandbox_api.get(f"{USERS}/user_missing_too")
    stats = sandbox.stats()
    create = stats["routes"][f"POST {USERS}"]
    assert (create["requests"], create["2xx"], create["4xx"], create["writes_applied"]) == (2, 1, 1, 1)
    assert stats["routes"][f"GET {USERS}/{{user_id}}"]["4xx"] == 2
    assert stats["totals"]["requests"] == 4
    assert stats["objects"]["users"] == 1 and stats["objects"]["roles"] == 2


def test_config_changes_are_validated_and_a_bad_change_changes_nothing(sandbox: SandboxHandle) -> None:
    url = f"{sandbox.url}/_sandbox/config"
    for bad in ({"write_limit": -1}, {"nonsense": 1}, {"faults": [{"route": "/x", "kind": "boom", "rate": 1}]}):
        response = httpx2.put(url, json=bad)
        assert (response.status_code, response.json()["code"]) == (422, "invalid_config")
    assert sandbox.config()["write_limit"] == 500
    assert sandbox.configure(write_limit=7)["write_limit"] == 7


def test_no_password_hash_or_totp_secret_reaches_the_state_dump_stats_or_logs(
    sandbox_api: httpx2.Client, sandbox: SandboxHandle, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    user = sandbox_api.post(
        USERS, json={"email": "s@example.com", "password_hash": BCRYPT, "password_hash_type": "bcrypt"}
    ).json()
    sandbox_api.post(USERS, json={"email": "p@example.com", "password": "correct horse battery"})
    sandbox_api.post(f"{USERS}/{user['id']}/auth_factors", json={"type": "totp", "totp_secret": TOTP})
    sandbox_api.post(
        USERS, json={"email": "bad@example.com", "password_hash": BCRYPT[:-3], "password_hash_type": "bcrypt"}
    )
    exposed = json.dumps([sandbox.state(), sandbox.stats(), sandbox.config()]) + caplog.text
    for secret in (BCRYPT, BCRYPT[:-3], "correct horse battery", TOTP, sandbox.api_key):
        assert secret not in exposed


def test_running_sandbox_stops_its_thread_and_frees_its_port() -> None:
    before = {t.ident for t in threading.enumerate()}
    with running_sandbox() as handle:
        port = int(handle.url.rsplit(":", 1)[1])
        assert handle.health() == {"status": "ok"}
    assert {t.ident for t in threading.enumerate()} <= before
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        pass


def test_the_sandbox_cli_command_prints_its_url_and_answers_health(tmp_path: Path) -> None:
    seed = write_seed(tmp_path, {"users": [{"email": "cli@example.com"}]})
    executable = Path(sys.executable).parent / "workos-migrate"
    command = [str(executable), "sandbox", "--port", "0", "--seed", str(seed), "--write-limit", "5"]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        url = child.stdout.readline().split()[-1]
        env_line = child.stdout.readline()
        assert f"WORKOS_BASE_URL={url}" in env_line and "WORKOS_API_KEY=sk_test_" in env_line
        handle = SandboxHandle(url, "sk_test_cli")
        assert handle.health() == {"status": "ok"}
        assert handle.config()["write_limit"] == 5
        assert [u["email"] for u in handle.state()["users"]] == ["cli@example.com"]
        handle.close()
    finally:
        child.terminate()
        child.wait(timeout=10)
        if child.stdout is not None:
            child.stdout.close()


@pytest.mark.parametrize(
    "args",
    [["--fault", "POST /x:explode:0.5"], ["--seed", "/no/such/seed.json"], ["--write-limit", "-3"]],
)
def test_the_sandbox_cli_command_exits_2_on_bad_options(args: list[str]) -> None:
    result = CliRunner().invoke(main, ["sandbox", "--port", "0", *args])
    assert result.exit_code == 2


def test_spawned_sandbox_runs_in_a_child_process_configured_by_json() -> None:
    with spawned_sandbox(["--config", json.dumps({"write_limit": 3, "multiple_roles_enabled": True})]) as handle:
        assert handle.config()["write_limit"] == 3
        response = httpx2.post(
            f"{handle.url}{USERS}",
            json={"email": "c@example.com"},
            headers={"Authorization": f"Bearer {handle.api_key}"},
        )
        assert response.status_code == 201 and response.headers["X-RateLimit-Remaining"] == "2"


def test_the_seed_example_in_the_docs_starts_a_sandbox(tmp_path: Path) -> None:
    text = (Path(__file__).parents[1] / "docs" / "sandbox.md").read_text(encoding="utf-8")
    example = text.split("```json\n", 1)[1].split("```", 1)[0]
    sandbox = Sandbox(seed=load_seed(write_seed(tmp_path, json.loads(example))))
    assert sandbox.api_key == "sk_test_rehearsal"
    memberships = sandbox.state.dump()["organization_memberships"]
    assert [[r["slug"] for r in m["roles"]] for m in memberships] == [["billing", "org-auditor"], ["member"]]


def test_importing_the_sandbox_loads_no_front_door_library() -> None:
    code = "import sys, core.workos.sandbox; print(sorted({'click', 'rich', 'mcp', 'server'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
