"""The whole assistant conversation over MCP against a faulty sandbox: plan, execute, follow, analyse, retry."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp import Client

from core.workos.sandbox import SandboxHandle
from server.mcp import create_server
from tests.conftest import BCRYPT, CsvWriter
from tests.mcp_support import call, finished, server_settings, text, unfenced, wait_for_workers

pytestmark = pytest.mark.anyio

ROUTES = ("POST /user_management/users", "POST /user_management/organization_memberships")


@pytest.fixture
def workspace(tmp_path: Path, sandbox: SandboxHandle) -> Iterator[Path]:
    sandbox.configure(write_limit=0, read_limit=0, global_limit=0)
    yield tmp_path
    wait_for_workers(tmp_path / "state")


async def test_plan_execute_follow_analyse_and_retry_imports_every_valid_row_once(
    workspace: Path, sandbox: SandboxHandle, write_users: CsvWriter
) -> None:
    rows = [
        {
            "email": f"user{n}@example.com",
            "password_hash": BCRYPT,
            "password_hash_type": "bcrypt",
            "org_external_id": f"org-{n % 3}",
            "org_name": f"Org {n % 3}",
        }
        for n in range(40)
    ]
    rows += [{"email": "not-an-email", "org_external_id": "org-0"}, {"email": "", "org_external_id": "org-1"}]
    path = write_users(rows)
    sandbox.configure(faults=[{"route": route, "kind": "fail_before", "rate": 0.8} for route in ROUTES], fault_seed=3)
    settings = server_settings(workspace, sandbox)
    async with Client(create_server(settings), mode="legacy") as client:
        plan = await call(
            client,
            "plan_migration",
            # max_outage 0: 80% failures would be an outage the breaker waits out; here rows must fail.
            {
                "csv_path": path.name,
                "create_org_if_missing": True,
                "rate_limit": 5000,
                "concurrency": 8,
                "max_outage": 0,
            },
        )
        started = await call(client, "execute_migration", {"plan_id": plan["plan_id"]})
        first = await finished(client, started["job_id"])
        analysis = await client.call_tool("analyze_errors", {"job_id": started["job_id"], "write_retry_csv": True})
        sandbox.configure(faults=[])
        retried = await call(client, "resume_migration", {"job_id": started["job_id"], "retry_failed": True})
        done = await finished(client, started["job_id"])
    assert (plan["rows"], plan["invalid_rows"]) == (42, 2)
    assert first["state"] == "completed_with_errors" and first["failed"] > 2
    assert first["next"]["tool"] == "analyze_errors"

    found = analysis.structured_content
    assert found is not None and not analysis.is_error
    assert found["failures"] == first["failed"]
    assert found["retryable"] == first["failed"] - 2
    assert found["next"]["tool"] == "resume_migration" and found["next"]["arguments"]["retry_failed"] is True
    shown = text(analysis)
    assert "email_invalid" in shown and BCRYPT not in shown
    retry_file = Path(str(unfenced(found["retry_file"])))
    assert retry_file.parent == workspace and retry_file.name == f"{started['job_id']}.retry.csv"
    with retry_file.open(newline="") as handle:
        assert len(list(csv.reader(handle))) - 1 == found["retry_rows"]

    assert retried["started"]
    assert (done["state"], done["succeeded"], done["failed"], done["invalid"]) == ("completed_with_errors", 40, 2, 2)
    state = sandbox.state()
    emails = sorted(user["email"] for user in state["users"])
    assert emails == sorted(f"user{n}@example.com" for n in range(40))
    assert len(state["organization_memberships"]) == 40 and len(state["organizations"]) == 3
