"""The orchestrator document (shared/reference/import-orchestrator.md) works as written: its automation
script, adapted only to this CLI's command names, and its programmatic example, against the sandbox."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx2
import pytest

from core import MigrationOrchestrator
from core.orchestrator import dry_run
from core.workos.sandbox import SandboxHandle
from tests.conftest import write_rows

# The document's "Example: Automated Migration", with its commands spelled as this CLI spells them:
# `npx tsx bin/validate-csv.ts` is `workos-migrate validate`, `bin/orchestrate-migration.ts` is
# `workos-migrate` (execute is the default command; `--plan` plans), `bin/analyze-errors.ts` is
# `workos-migrate analyze-errors`. `org_123` is the sandbox's organization, passed in as $ORG_ID.
AUTOMATION_SCRIPT = """#!/bin/bash
set -e

# Validate CSV
workos-migrate validate --csv users.csv --auto-fix --fixed-csv users-fixed.csv

# Plan migration
workos-migrate --csv users-fixed.csv --org-id "$ORG_ID" --plan

# Execute migration (non-interactive)
workos-migrate \\
  --csv users-fixed.csv \\
  --org-id "$ORG_ID" \\
  --job-id auto-migration-$(date +%s) \\
  --errors-out errors.jsonl \\
  --yes

# Analyze errors if any
if [ -f errors.jsonl ]; then
  workos-migrate analyze-errors --errors errors.jsonl --retry-csv retry.csv

  # Retry failed imports
  if [ -f retry.csv ]; then
    workos-migrate --csv retry.csv --org-id "$ORG_ID" --yes
  fi
fi
echo "script finished"
"""


@pytest.fixture
def org_id(sandbox_api: httpx2.Client) -> str:
    return str(sandbox_api.post("/organizations", json={"name": "Acme"}).json()["id"])


def run_script(tmp_path: Path, sandbox: SandboxHandle, org_id: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "migrate.sh"
    script.write_text(AUTOMATION_SCRIPT)
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "WORKOS_BASE_URL": sandbox.url,
        "WORKOS_API_KEY": sandbox.api_key,
        "ORG_ID": org_id,
    }
    return subprocess.run(
        ["bash", str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240, check=False
    )


def test_the_automation_script_runs_to_its_end_when_the_migration_succeeds(
    tmp_path: Path, sandbox: SandboxHandle, org_id: str
) -> None:
    # "maybe" is an error the auto-fix clears, "yes" a warning it fixes: the fixed copy has no error left.
    rows = [{"email": f"u{n}@example.com", "email_verified": "yes"} for n in range(4)]
    rows.append({"email": "maybe@example.com", "email_verified": "maybe"})
    write_rows(tmp_path / "users.csv", rows)
    done = run_script(tmp_path, sandbox, org_id)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "✓ The fixed copy has no errors" in done.stdout
    assert done.stdout.rstrip().endswith("script finished")
    assert not (tmp_path / "errors.jsonl").exists() and not (tmp_path / "retry.csv").exists()
    state = sandbox.state()
    assert len(state["users"]) == 5 and len(state["organization_memberships"]) == 5


def test_the_automation_script_stops_with_an_error_when_rows_fail(
    tmp_path: Path, sandbox: SandboxHandle, org_id: str
) -> None:
    # WorkOS refuses a weak plaintext password row by row: the plan cannot see it, the import fails the row.
    rows = [{"email": "ok@example.com"}, {"email": "weak@example.com", "password": "Zq7!xw"}]
    write_rows(tmp_path / "users.csv", rows)
    done = run_script(tmp_path, sandbox, org_id)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "script finished" not in done.stdout
    assert "Migration completed with failed rows" in done.stdout
    assert (tmp_path / "errors.jsonl").exists()
    assert [user["email"] for user in sandbox.state()["users"]] == ["ok@example.com"]


# The document's "Programmatic Usage", in Python. Adapted only where Python is not TypeScript: the import is
# `from core import MigrationOrchestrator`, `OrchestratorOptions` is a dict with the document's own keys,
# `await orchestrator.execute()` outside a coroutine is `anyio.run(orchestrator.execute)`, `console.log`
# and `console.error` are `print` to stdout and stderr, `process.exit` is `sys.exit`; and `org_123` is the
# sandbox's organization, read from $ORG_ID.
PROGRAMMATIC_EXAMPLE = """
import os
import sys

import anyio

from core import MigrationOrchestrator

# Generate plan
options = {
    "csvPath": "users.csv",
    "orgId": os.environ["ORG_ID"],
    "quiet": True,
    "yes": True,  # Skip prompts
}

orchestrator = MigrationOrchestrator(options)
plan = orchestrator.plan()

if not plan.valid:
    print("Invalid plan:", plan.validation.errors, file=sys.stderr)
    sys.exit(1)

# Execute import
result = anyio.run(orchestrator.execute)

print(f"Import complete: {result.summary.successes} successes, {result.summary.failures} failures")
print(f"Duration: {result.duration}ms")
"""


def run_example(tmp_path: Path, sandbox: SandboxHandle, org_id: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WORKOS_BASE_URL": sandbox.url, "WORKOS_API_KEY": sandbox.api_key, "ORG_ID": org_id}
    return subprocess.run(
        [sys.executable, "-c", PROGRAMMATIC_EXAMPLE], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip


def test_the_programmatic_example_runs_as_written(tmp_path: Path, sandbox: SandboxHandle, org_id: str) -> None:
    write_rows(tmp_path / "users.csv", [{"email": f"u{n}@example.com"} for n in range(3)])
    done = run_example(tmp_path, sandbox, org_id)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "Import complete: 3 successes, 0 failures"
    assert re.fullmatch(r"Duration: \d+ms", lines[1])
    assert len(sandbox.state()["organization_memberships"]) == 3


def test_the_programmatic_example_stops_on_an_invalid_plan_with_its_errors(
    tmp_path: Path, sandbox: SandboxHandle, org_id: str
) -> None:
    write_rows(tmp_path / "users.csv", [{"email": "broken"}])
    before = sandbox.stats()["totals"]["requests"]  # the organization's creation
    done = run_example(tmp_path, sandbox, org_id)
    assert done.returncode == 1
    assert done.stderr.startswith("Invalid plan: ['1 of 1 rows have errors (see issues)']")
    assert sandbox.stats()["totals"]["requests"] == before


def test_the_documents_names_match_the_librarys_own(tmp_path: Path) -> None:
    path = write_rows(tmp_path / "users.csv", [{"email": "a@example.com"}, {"email": "broken"}])
    plan = MigrationOrchestrator({"csvPath": path, "orgId": "org_123", "checkpointDir": tmp_path}).plan()
    assert plan.options.org_id == "org_123" and plan.options.checkpoint_dir == tmp_path
    assert plan.validation.model_dump() == {"valid": False, "errors": plan.errors, "warnings": plan.warnings}
    result = dry_run(plan.options)
    assert (result.summary.successes, result.summary.failures, result.summary.total) == (1, 1, 2)
    assert result.duration == round(result.duration_seconds * 1000)
