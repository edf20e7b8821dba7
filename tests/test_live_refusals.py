"""Failures the environment causes are told before any write: a rejected key ends a job ``failed`` (never a
crash, never an endless resume), and a wrong organization option is refused before a job exists."""

from __future__ import annotations

from pathlib import Path

import httpx2
import pytest
from click.testing import CliRunner
from mcp import Client

from core.engine import execute_job, prepare_job, start_resume
from core.errors import AuthenticationError, OptionsError
from core.preflight import check_org_option
from core.store import JobState, JobStore
from core.workos.sandbox import SandboxHandle
from server.cli import main
from server.mcp import create_server
from tests.conftest import FAST_RATES, REJECTED_KEY, CsvWriter, ImportRun
from tests.mcp_support import call, refused, server_settings, wait_for_workers

pytestmark = pytest.mark.anyio

RATES = [f"--{name.replace('_', '-')}={value}" for name, value in FAST_RATES.items()]


def _one_org_rows(count: int) -> list[dict[str, str]]:
    return [{"email": f"u{n}@example.com", "org_external_id": "acme", "org_name": "Acme"} for n in range(count)]


def _writes(sandbox: SandboxHandle) -> int:
    return int(sandbox.stats()["totals"]["writes_applied"])


async def test_a_rejected_key_during_organization_lookup_fails_the_job_and_resume_fails_the_same_way(
    importer: ImportRun, write_users: CsvWriter
) -> None:
    # 30 rows of one organization: the first lookup leads, the others wait on it; a 401 used to crash them.
    path = write_users(_one_org_rows(30))
    store = importer.store()
    job = prepare_job(store, importer.options(path, create_org_if_missing=True))
    result = await execute_job(store, job.id, api_key=REJECTED_KEY)
    assert result.state is JobState.FAILED
    assert result.last_error is not None and "the API key was rejected" in result.last_error
    assert REJECTED_KEY not in result.last_error
    assert result.exit_code == 2
    again = await execute_job(store, start_resume(store, job.id).id, api_key=REJECTED_KEY)
    assert again.state is JobState.FAILED and store.get_job(job.id).state is JobState.FAILED
    # With the right key the same job finishes: nothing was lost.
    final = await execute_job(store, start_resume(store, job.id).id, api_key=importer.sandbox.api_key)
    assert final.state is JobState.COMPLETED and final.succeeded == 30


async def test_a_rejected_key_in_single_org_mode_says_so(importer: ImportRun, write_users: CsvWriter) -> None:
    path = write_users([{"email": "ada@example.com"}])
    store = importer.store()
    job = prepare_job(store, importer.options(path, org_external_id="acme", org_name="Acme"))
    result = await execute_job(store, job.id, api_key=REJECTED_KEY)
    assert result.state is JobState.FAILED and "the API key was rejected" in (result.last_error or "")


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"org_id": "org_doesnotexist"}, "--org-id org_doesnotexist"),
        ({"org_external_id": "nope"}, "--org-external-id nope"),
        ({"org_name": "acme"}, "--org-name acme"),
    ],
)
async def test_organization_options_that_name_nothing_are_refused(
    importer: ImportRun, write_users: CsvWriter, values: dict[str, str], named: str
) -> None:
    options = importer.options(write_users([{"email": "ada@example.com"}]), **values)
    with pytest.raises(OptionsError) as caught:
        await check_org_option(options, api_key=importer.sandbox.api_key)
    assert named in str(caught.value) and "does not exist" in str(caught.value)


async def test_organization_options_that_will_work_pass(importer: ImportRun, write_users: CsvWriter) -> None:
    path = write_users([{"email": "ada@example.com"}])
    creatable = importer.options(path, org_external_id="new", org_name="New", create_org_if_missing=True)
    check = await check_org_option(creatable, api_key=importer.sandbox.api_key)
    assert check is not None and check.status.value == "will_be_created"
    assert await check_org_option(importer.options(path), api_key=importer.sandbox.api_key) is None
    assert _writes(importer.sandbox) == 0


async def test_an_ambiguous_organization_name_is_refused(
    importer: ImportRun, write_users: CsvWriter, sandbox_api: httpx2.Client
) -> None:
    for _ in range(2):
        sandbox_api.post("/organizations", json={"name": "Acme"}).raise_for_status()
    options = importer.options(write_users([{"email": "ada@example.com"}]), org_name="Acme")
    with pytest.raises(OptionsError, match="2 organizations are named 'Acme'"):
        await check_org_option(options, api_key=importer.sandbox.api_key)


async def test_a_rejected_key_is_told_by_the_option_check(importer: ImportRun, write_users: CsvWriter) -> None:
    options = importer.options(write_users([{"email": "ada@example.com"}]), org_id="org_1")
    with pytest.raises(AuthenticationError, match="the API key was rejected"):
        await check_org_option(options, api_key=REJECTED_KEY)


def test_cli_execute_refuses_a_wrong_org_id_before_creating_a_job(
    sandbox: SandboxHandle, cli_env: Path, write_users: CsvWriter
) -> None:
    sandbox.configure(write_limit=0, read_limit=0, global_limit=0)
    path = write_users([{"email": "ada@example.com"}])
    result = CliRunner().invoke(main, ["execute", "--csv", str(path), "--org-id", "org_doesnotexist", *RATES])
    assert result.exit_code == 2, result.output
    assert "--org-id org_doesnotexist" in result.output and "does not exist" in result.output
    assert "resume" not in result.output
    checkpoints = cli_env / ".workos-checkpoints"
    assert not checkpoints.exists() or JobStore.open(checkpoints).latest_job() is None
    assert _writes(sandbox) == 0


def test_cli_execute_refuses_an_organization_typed_at_the_prompt_that_does_not_exist(
    sandbox: SandboxHandle, cli_env: Path, monkeypatch: pytest.MonkeyPatch, write_users: CsvWriter
) -> None:
    sandbox.configure(write_limit=0, read_limit=0, global_limit=0)
    monkeypatch.setattr("server.cli._stdin_is_terminal", lambda: True)
    path = write_users([{"email": "ada@example.com"}])
    result = CliRunner().invoke(main, ["execute", "--csv", str(path), *RATES], input="acme\n")
    assert result.exit_code == 2, result.output
    assert "--org-id acme" in result.output and "does not exist" in result.output
    checkpoints = cli_env / ".workos-checkpoints"
    assert not checkpoints.exists() or JobStore.open(checkpoints).latest_job() is None


async def test_mcp_execute_refuses_a_wrong_org_id_before_creating_a_job(
    tmp_path: Path, sandbox: SandboxHandle, write_users: CsvWriter
) -> None:
    sandbox.configure(write_limit=0, read_limit=0, global_limit=0)
    settings = server_settings(tmp_path, sandbox)
    path = write_users([{"email": "ada@example.com"}])
    try:
        async with Client(create_server(settings), mode="legacy") as client:
            plan = await call(
                client, "plan_migration", {"csv_path": path.name, "org_id": "org_doesnotexist", "check_live": False}
            )
            message = await refused(client, "execute_migration", {"plan_id": plan["plan_id"], "yes": True})
    finally:
        wait_for_workers(settings.state_dir)
    assert "org_id org_doesnotexist" in message and "does not exist" in message  # MCP names arguments, not flags
    assert JobStore.open(settings.state_dir).latest_job() is None
