"""``make demo``: a whole migration driven over MCP as an assistant drives it, against a local WorkOS sandbox.

Starts the sandbox in a child process (with some faults, so that rows fail), writes an example CSV into a
temporary workspace, starts this MCP server over stdio exactly as a host does (``python -m server.mcp``,
settings in its environment), and calls its tools in the order an assistant would: plan, execute with
``yes``, follow to completion, analyse the failures, retry them. Each call and the text the model reads is
printed. Nothing here is imported by the server; it is a client of it.
"""

from __future__ import annotations

import csv
import json
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.types import CallToolResult

from core.workos.sandbox import SandboxHandle, spawned_sandbox

__all__ = ["main"]

ROWS = 300
ORGANIZATIONS = ("Acme", "Globex", "Initech")
BCRYPT = "$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"
# WorkOS's real rate limits and a little latency, plus enough server errors that some rows still fail after
# the client's retries.
SANDBOX = {
    "latency_ms": 20,
    "faults": [
        {"route": "POST /user_management/users", "kind": "fail_before", "rate": 0.3},
        {"route": "POST /user_management/organization_memberships", "kind": "fail_before", "rate": 0.3},
    ],
    "fault_seed": 7,
}


def _write_example(path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["email", "first_name", "last_name", "password_hash", "password_hash_type", "org_external_id", "org_name"]
        )
        for n in range(ROWS):
            org = ORGANIZATIONS[n % len(ORGANIZATIONS)]
            writer.writerow([f"user{n}@example.com", "Ada", f"User {n}", BCRYPT, "bcrypt", org.lower(), org])
        writer.writerow(["not-an-email", "Bad", "Row", "", "", "acme", "Acme"])


def _show(name: str, arguments: dict[str, Any], result: CallToolResult) -> dict[str, Any]:
    print(f"\n→ {name}({json.dumps(arguments)})")
    for block in result.content:
        if block.type == "text":
            print(textwrap.indent(block.text, "  "))
    if result.is_error or result.structured_content is None:
        raise SystemExit(f"{name} failed")
    return dict(result.structured_content)


async def _tool(client: Client, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return _show(name, arguments, await client.call_tool(name, arguments))


_SETTLED = ("completed", "completed_with_errors", "failed", "cancelled", "interrupted")


async def _follow(client: Client, job_id: str) -> dict[str, Any]:
    """Poll until the job has settled: no worker, and no row left (a worker that has not started yet on a
    loaded machine is not a finished job)."""
    while True:
        status = await client.call_tool("get_migration_status", {"job_id": job_id, "wait_seconds": 3})
        found = status.structured_content or {}
        settled = found.get("state") in _SETTLED and (
            found.get("pending") == 0 or found.get("state") != "completed_with_errors"
        )
        if status.is_error or (not found.get("worker_running") and settled):
            return _show("get_migration_status", {"job_id": job_id, "wait_seconds": 3}, status)
        counts = f"{found['succeeded']:,} succeeded, {found['failed']:,} failed"
        print(f"  … {found['state']}: {found['percent']:g}% ({counts})")


async def _conversation(sandbox: SandboxHandle, workspace: Path) -> None:
    env = {
        "WORKOS_API_KEY": sandbox.api_key,
        "WORKOS_BASE_URL": sandbox.url,
        "MIGRATION_WORKSPACE": str(workspace),
        "MIGRATION_STATE_DIR": str(workspace / "state"),
    }
    server = StdioServerParameters(command=sys.executable, args=["-m", "server.mcp"], env=env, cwd=str(workspace))
    log = workspace / "server.log"
    with log.open("w") as errlog:
        await _drive(stdio_client(server, errlog=errlog), sandbox)


async def _drive(transport: Any, sandbox: SandboxHandle) -> None:
    async with Client(transport, mode="legacy") as client:
        tools = [tool.name for tool in (await client.list_tools()).tools]
        print(f"Connected to workos-migrate over stdio; tools: {', '.join(tools)}")
        arguments = {"csv_path": "users.csv", "create_org_if_missing": True, "concurrency": 20}
        plan = await _tool(client, "plan_migration", arguments)
        print("\n(The assistant shows the plan; the user agrees in chat.)")
        started = await _tool(client, "execute_migration", {"plan_id": plan["plan_id"], "yes": True})
        job_id = started["job_id"]
        await _follow(client, job_id)
        await _tool(client, "analyze_errors", {"job_id": job_id})
        sandbox.configure(faults=[])
        print("\n(The sandbox's faults are switched off; the user agrees to retry.)")
        await _tool(client, "resume_migration", {"job_id": job_id, "retry_failed": True, "yes": True})
        final = await _follow(client, job_id)
    state = sandbox.state()
    print(
        f"\nSandbox now holds {len(state['users']):,} users, {len(state['organization_memberships']):,} memberships "
        f"and {len(state['organizations'])} organizations; job {job_id} ended {final['state']} with "
        f"{final['failed']} failed row(s) (the invalid one)."
    )


def main() -> None:
    """Run the demo in a new temporary workspace, kept afterwards; exits non-zero when a step fails."""
    workspace = Path(tempfile.mkdtemp(prefix="workos-migrate-demo-"))
    _write_example(workspace / "users.csv")
    print(f"Example CSV: {workspace / 'users.csv'} ({ROWS + 1} rows, one invalid)")
    with spawned_sandbox(["--config", json.dumps(SANDBOX)]) as sandbox:
        print(f"WorkOS sandbox at {sandbox.url}, with WorkOS's rate limits and faults (some writes answer 500)")
        anyio.run(_conversation, sandbox, workspace)
    print(f"The workspace (CSV, job store, server and worker logs) stays in {workspace}.")


if __name__ == "__main__":
    main()
