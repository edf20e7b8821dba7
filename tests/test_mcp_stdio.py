"""The MCP server as hosts run it: a stdio subprocess, raw JSON-RPC as Claude Desktop speaks it, jobs that
outlive the server, a killed worker resumed through the tool, and no secret anywhere in what it shows."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from core.workos.sandbox import SandboxHandle
from server.mcp import create_server
from tests.conftest import BCRYPT, FIREBASE, TOTP, CsvWriter
from tests.mcp_support import (
    FAST_SERVER_RATES,
    call,
    confirmation_code,
    finished,
    server_settings,
    text,
    wait_for_workers,
)

pytestmark = pytest.mark.anyio

LIVE_KEY = "sk_live_" + "y" * 24


@pytest.fixture
def workspace(tmp_path: Path, sandbox: SandboxHandle) -> Iterator[Path]:
    sandbox.configure(write_limit=0, read_limit=0, global_limit=0)
    yield tmp_path
    wait_for_workers(tmp_path / "state")


def _server_env(workspace: Path, sandbox: SandboxHandle, **extra: str) -> dict[str, str]:
    env = {
        "WORKOS_API_KEY": sandbox.api_key,
        "WORKOS_BASE_URL": sandbox.url,
        "MIGRATION_STATE_DIR": str(workspace / "state"),
        "MIGRATION_WORKSPACE": str(workspace),
        "MIGRATION_READ_RATE_LIMIT": str(FAST_SERVER_RATES["read_rate_limit"]),
        "MIGRATION_GLOBAL_RATE_LIMIT": str(FAST_SERVER_RATES["global_rate_limit"]),
    }
    return {**env, **extra}


def _params(workspace: Path, sandbox: SandboxHandle) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable, args=["-m", "server.mcp"], env=_server_env(workspace, sandbox), cwd=str(workspace)
    )


class RawHost:
    """A host that writes JSON-RPC lines to the server's stdin, as Claude Desktop does: no SDK in between."""

    def __init__(self, env: dict[str, str], cwd: Path, errlog: Path) -> None:
        self._err = errlog.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "server.mcp"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._err,
            env={"PATH": os.environ.get("PATH", ""), "HOME": str(cwd / "home"), **env},
            cwd=cwd,
        )
        self.lines: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.next_id = 0

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(message).encode() + b"\n")
        self.process.stdin.flush()

    def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self.next_id += 1
        self.send({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
        while True:
            message = json.loads(self.lines.get(timeout=30))
            if message.get("id") == self.next_id:
                return message

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=10)
        self._err.close()


def test_a_host_on_2025_11_25_without_elicitation_must_bring_back_the_confirmation_code(
    workspace: Path, sandbox: SandboxHandle, write_users: CsvWriter
) -> None:
    path = write_users([{"email": "ada@example.com", "org_id": "org_1"}])
    host = RawHost(_server_env(workspace, sandbox, WORKOS_API_KEY=LIVE_KEY), workspace, workspace / "server.log")
    try:
        hello = host.request(
            "initialize",
            {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "claude-ai", "version": "1"}},
        )
        host.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        tools = host.request("tools/list", {})["result"]["tools"]
        # The sandbox rejects the live key, which a live-checked plan would report: this test is about the form.
        arguments = {"csv_path": path.name, "check_live": False}
        plan = host.request("tools/call", {"name": "plan_migration", "arguments": arguments})["result"]
        plan_id = plan["structuredContent"]["plan_id"]
        refusal = host.request("tools/call", {"name": "execute_migration", "arguments": {"plan_id": plan_id}})
        code = confirmation_code(refusal["result"]["content"][0]["text"])
        arguments = {"plan_id": plan_id, "confirmation_code": code}
        started = host.request("tools/call", {"name": "execute_migration", "arguments": arguments})["result"]
    finally:
        host.close()
    assert hello["result"]["protocolVersion"] == "2025-11-25"
    assert "confirmation code" in hello["result"]["instructions"]
    assert "<untrusted-data>" in hello["result"]["instructions"]
    assert "execute_migration" in {tool["name"] for tool in tools}
    assert refusal["result"]["isError"] is True
    message = refusal["result"]["content"][0]["text"]
    assert "LIVE (production)" in message and "this client cannot show a confirmation form" in message
    assert f'execute_migration(plan_id="{plan_id}", confirmation_code="{code}")' in message
    assert started["structuredContent"]["confirmation"] == "code"
    assert LIVE_KEY not in (workspace / "server.log").read_text()


async def test_a_job_outlives_its_server_and_a_new_server_finds_it_finished(
    workspace: Path, sandbox: SandboxHandle, write_users: CsvWriter
) -> None:
    sandbox.configure(latency_ms=10)
    rows = [{"email": f"user{n}@example.com", "org_external_id": "acme", "org_name": "Acme"} for n in range(60)]
    path = write_users(rows)
    arguments = {"csv_path": path.name, "create_org_if_missing": True, "rate_limit": 5000, "concurrency": 2}
    async with Client(_params(workspace, sandbox), mode="legacy") as client:
        plan = await call(client, "plan_migration", arguments)
        started = await call(client, "execute_migration", {"plan_id": plan["plan_id"]})
    assert started["started"] and started["state"] in ("preparing", "running")
    async with Client(_params(workspace, sandbox)) as client:
        listed = await call(client, "list_migrations", {})
        status = await finished(client, started["job_id"])
    assert [job["job_id"] for job in listed["jobs"]] == [started["job_id"]]
    assert (status["state"], status["succeeded"]) == ("completed", 60)
    assert len(sandbox.state()["users"]) == 60


async def test_killed_worker_is_resumed_through_the_tool(
    workspace: Path, sandbox: SandboxHandle, write_users: CsvWriter
) -> None:
    sandbox.configure(latency_ms=10)
    rows = [{"email": f"user{n}@example.com", "org_external_id": "acme", "org_name": "Acme"} for n in range(300)]
    path = write_users(rows)
    settings = server_settings(workspace, sandbox)
    async with Client(create_server(settings), mode="legacy") as client:
        plan = await call(
            client,
            "plan_migration",
            {"csv_path": path.name, "create_org_if_missing": True, "rate_limit": 5000, "concurrency": 2},
        )
        job_id = (await call(client, "execute_migration", {"plan_id": plan["plan_id"]}))["job_id"]
        while (await call(client, "get_migration_status", {"job_id": job_id, "wait_seconds": 1}))["succeeded"] < 30:
            pass
        pid = int((settings.state_dir / job_id / "runner.pid").read_text())
        os.killpg(pid, signal.SIGKILL)
        killed = await finished(client, job_id)
        sandbox.configure(latency_ms=0)
        resumed = await call(client, "resume_migration", {"job_id": job_id})
        done = await finished(client, job_id)
    assert (killed["state"], killed["worker_running"]) == ("interrupted", False)
    assert killed["next"]["tool"] == "resume_migration" and killed["pending"] > 0
    assert resumed["started"]
    assert (done["state"], done["succeeded"], done["failed"]) == ("completed", 300, 0)
    state = sandbox.state()
    emails = [user["email"] for user in state["users"]]
    assert len(emails) == len(set(emails)) == 300
    assert len(state["organization_memberships"]) == 300 and len(state["organizations"]) == 1


async def test_no_tool_result_resource_or_log_of_a_run_holds_a_secret(
    workspace: Path, sandbox: SandboxHandle, write_users: CsvWriter
) -> None:
    secrets = {
        "hash": BCRYPT,
        "firebase": FIREBASE.split("$")[2],
        "password": "Correct-Horse-Battery-9",
        "weak": "Weak-Password-42!",
        "totp": TOTP,
        "bad_hash": "$2b$10$notARealHashValue",
    }
    rows = [
        {"email": "ada@example.com", "password_hash": BCRYPT, "password_hash_type": "bcrypt"},
        {"email": "bob@example.com", "password_hash": FIREBASE, "password_hash_type": "firebase-scrypt"},
        {"email": "cy@example.com", "password": secrets["password"], "totp_secret": TOTP},
        {"email": "dee@example.com", "password_hash": secrets["bad_hash"], "password_hash_type": "bcrypt"},
        {"email": "eve@example.com", "password": secrets["weak"]},
    ]
    for row in rows:
        row.update(org_external_id="acme", org_name="Acme")
    path = write_users(rows)
    sandbox.add_hook("POST", "/user_management/users", 422, body={"code": "password_strength_error"}, count=1)
    errlog = workspace / "server-stderr.log"
    shown: list[str] = []
    with errlog.open("w") as err:
        async with Client(stdio_client(_params(workspace, sandbox), errlog=err), mode="legacy") as client:
            arguments = {"csv_path": path.name, "create_org_if_missing": True, "rate_limit": 5000}
            for name, args in (("plan_migration", arguments), ("validate_csv", {"csv_path": path.name})):
                result = await client.call_tool(name, args)
                shown += [text(result), json.dumps(result.structured_content)]
            plan_id = json.loads(shown[1])["plan_id"]
            started = await client.call_tool("execute_migration", {"plan_id": plan_id})
            job_id = started.structured_content["job_id"]
            status = await finished(client, job_id)
            for name, args in (
                ("get_migration_status", {"job_id": job_id}),
                ("list_migrations", {}),
                ("cancel_migration", {"job_id": job_id}),
                ("resume_migration", {"job_id": job_id, "retry_failed": True}),
            ):
                result = await client.call_tool(name, args)
                shown += [text(result), json.dumps(result.structured_content)]
            await finished(client, job_id)
            for uri in ("migration://jobs", f"migration://jobs/{job_id}", f"migration://jobs/{job_id}/errors"):
                shown += [content.text for content in (await client.read_resource(uri)).contents]
            shown += [text(started), json.dumps(status)]
    job_dir = workspace / "state" / job_id
    files = {name: (job_dir / name).read_text() for name in ("runner.log", "errors.jsonl")}
    files["server stderr"] = errlog.read_text()
    assert status["failed"] >= 1 and "job " + job_id in files["server stderr"]
    everything = {"tool results and resources": "\n".join(shown), **files}
    for where, body in everything.items():
        assert sandbox.api_key not in body, where
        for name, secret in secrets.items():
            assert secret not in body, f"{name} in {where}"
