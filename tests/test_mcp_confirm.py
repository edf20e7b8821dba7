"""Confirmations of writes over MCP: yes=true, elicitation (accept, decline, cancel, timeout), no elicitation,
forced modes. Each case on both protocol eras where the era changes how the question travels."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client

from core.store import JobStore
from core.workos.sandbox import SandboxHandle
from server.confirm import LARGE_IMPORT_ROWS, Question
from server.mcp import create_server
from server.settings import ServerSettings
from tests.conftest import CsvWriter
from tests.mcp_support import Answering, call, finished, refused, server_settings, wait_for_workers

pytestmark = pytest.mark.anyio

LIVE_KEY = "sk_live_" + "x" * 24


@pytest.fixture(params=["legacy", "auto"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def workspace(tmp_path: Path, sandbox: SandboxHandle) -> Iterator[Path]:
    sandbox.configure(write_limit=0, read_limit=0, global_limit=0)
    yield tmp_path
    wait_for_workers(tmp_path / "state")


@pytest.fixture
def large_csv(write_users: CsvWriter) -> Path:
    """More rows than the confirmation threshold (never executed in these tests)."""
    rows = [{"email": f"user{n}@example.com", "org_id": "org_1"} for n in range(LARGE_IMPORT_ROWS + 1)]
    return write_users(rows, name="large.csv")


@pytest.fixture
def no_org_csv(write_users: CsvWriter) -> Path:
    """Two users and no organization column: which organization must be asked."""
    return write_users([{"email": "ada@example.com"}, {"email": "bob@example.com"}], name="no_org.csv")


async def _plan(client: Client, path: Path, **arguments: Any) -> str:
    # Confirmation is what these tests are about: the environment check is tested in test_preflight.py.
    values = {"csv_path": path.name, "rate_limit": 5000, "check_live": False, **arguments}
    plan = await call(client, "plan_migration", values)
    return str(plan["plan_id"])


def _jobs(settings: ServerSettings) -> list[Any]:
    return JobStore.open(settings.state_dir).list_jobs()


async def test_yes_skips_the_question_and_is_recorded(
    workspace: Path, sandbox: SandboxHandle, no_org_csv: Path, mode: str
) -> None:
    settings = server_settings(workspace, sandbox)
    ask = Answering("accept", {"confirm": True, "organization": "no organization"})
    async with Client(create_server(settings), mode=mode, elicitation_callback=ask) as client:
        plan_id = await _plan(client, no_org_csv)
        started = await call(client, "execute_migration", {"plan_id": plan_id, "yes": True})
        status = await finished(client, started["job_id"])
    assert ask.messages == []
    assert (started["confirmation"], status["state"], status["succeeded"]) == ("yes", "completed", 2)
    assert _jobs(settings)[0].confirmation == "yes"


async def test_elicitation_accept_chooses_the_organization_every_user_joins(
    workspace: Path, sandbox: SandboxHandle, no_org_csv: Path, mode: str
) -> None:
    with httpx2.Client(base_url=sandbox.url, headers={"Authorization": f"Bearer {sandbox.api_key}"}) as api:
        org_id = api.post("/organizations", json={"name": "Acme"}).json()["id"]
    settings = server_settings(workspace, sandbox)
    ask = Answering("accept", {"confirm": True, "organization": "organization id", "value": org_id})
    async with Client(create_server(settings), mode=mode, elicitation_callback=ask) as client:
        plan_id = await _plan(client, no_org_csv)
        started = await call(client, "execute_migration", {"plan_id": plan_id})
        status = await finished(client, started["job_id"])
    assert len(ask.messages) == 1
    assert ask.messages[0].startswith(f"Import 2 rows from {no_org_csv.name} into the test WorkOS environment at")
    assert "no organization columns" in ask.messages[0]
    assert set(ask.schemas[0]["properties"]) == {"confirm", "organization", "value"}
    assert (status["state"], started["confirmation"]) == ("completed", "elicitation")
    job = _jobs(settings)[0]
    assert (job.options.org_id, job.confirmation, job.plan_hash) == (org_id, "elicitation", started["plan_hash"])
    assert {m["organization_id"] for m in sandbox.state()["organization_memberships"]} == {org_id}


@pytest.mark.parametrize("action", ["decline", "cancel"])
async def test_declined_or_dismissed_form_starts_nothing(
    workspace: Path, sandbox: SandboxHandle, large_csv: Path, mode: str, action: str
) -> None:
    settings = server_settings(workspace, sandbox)
    ask = Answering(action)
    async with Client(create_server(settings), mode=mode, elicitation_callback=ask) as client:
        plan_id = await _plan(client, large_csv)
        message = await refused(client, "execute_migration", {"plan_id": plan_id})
    assert ask.messages == [
        f"Import {LARGE_IMPORT_ROWS + 1:,} rows from {large_csv.name} into the test WorkOS environment at "
        f"{sandbox.url}? Estimated duration: ~7 minutes."
    ]
    assert ("declined" if action == "decline" else "dismissed") in message
    assert f'execute_migration(plan_id="{plan_id}", yes=true)' in message
    assert _jobs(settings) == []


async def test_unticked_confirm_box_starts_nothing(
    workspace: Path, sandbox: SandboxHandle, large_csv: Path, mode: str
) -> None:
    settings = server_settings(workspace, sandbox)
    async with Client(
        create_server(settings), mode=mode, elicitation_callback=Answering("accept", {"confirm": False})
    ) as client:
        message = await refused(client, "execute_migration", {"plan_id": await _plan(client, large_csv)})
    assert "did not tick" in message and _jobs(settings) == []


async def test_organization_choice_without_a_value_starts_nothing(
    workspace: Path, sandbox: SandboxHandle, no_org_csv: Path, mode: str
) -> None:
    settings = server_settings(workspace, sandbox)
    ask = Answering("accept", {"confirm": True, "organization": "organization external id", "value": " "})
    async with Client(create_server(settings), mode=mode, elicitation_callback=ask) as client:
        message = await refused(client, "execute_migration", {"plan_id": await _plan(client, no_org_csv)})
    assert "gave no value" in message and _jobs(settings) == []


async def test_unanswered_form_times_out_with_instructions(
    workspace: Path, sandbox: SandboxHandle, large_csv: Path
) -> None:
    # Only handshake-era connections make the server wait for the form; on 2026-07-28 the question goes back
    # with the result and the client retries when it has the answer.
    settings = server_settings(workspace, sandbox, elicit_timeout=0.3)
    ask = Answering("accept", {"confirm": True}, delay=5)
    async with Client(create_server(settings), mode="legacy", elicitation_callback=ask) as client:
        message = await refused(client, "execute_migration", {"plan_id": await _plan(client, large_csv)})
    assert "No answer came from the confirmation form within 0.3 s" in message
    assert "yes=true" in message and _jobs(settings) == []


async def test_client_without_elicitation_is_told_to_ask_in_chat(
    workspace: Path, sandbox: SandboxHandle, large_csv: Path, no_org_csv: Path, mode: str
) -> None:
    settings = server_settings(workspace, sandbox, api_key=LIVE_KEY)
    async with Client(create_server(settings), mode=mode) as client:
        large_id = await _plan(client, large_csv)
        large = await refused(client, "execute_migration", {"plan_id": large_id})
        no_org = await refused(client, "execute_migration", {"plan_id": await _plan(client, no_org_csv)})
    assert f"Import {LARGE_IMPORT_ROWS + 1:,} rows" in large and "LIVE (production) WorkOS environment" in large
    assert "Estimated duration" in large and "this client cannot show a confirmation form" in large
    assert f'Ask the user in chat; if they confirm, call execute_migration(plan_id="{large_id}", yes=true).' in large
    assert "call plan_migration again with org_id or org_external_id" in no_org
    assert _jobs(settings) == []


async def test_live_key_needs_confirmation_even_for_a_small_file(
    workspace: Path, sandbox: SandboxHandle, write_users: CsvWriter, mode: str
) -> None:
    path = write_users([{"email": "ada@example.com", "org_id": "org_1"}])
    settings = server_settings(workspace, sandbox, api_key=LIVE_KEY)
    ask = Answering("accept", {"confirm": True})
    async with Client(create_server(settings), mode=mode, elicitation_callback=ask) as client:
        started = await call(client, "execute_migration", {"plan_id": await _plan(client, path)})
        status = await finished(client, started["job_id"])
    assert "LIVE (production)" in ask.messages[0]
    assert started["confirmation"] == "elicitation"
    assert status["state"] == "failed" and "the API key was rejected" in status["last_error"]
    assert LIVE_KEY not in str(status)


async def test_forced_yes_arg_mode_never_shows_a_form(
    workspace: Path, sandbox: SandboxHandle, no_org_csv: Path, mode: str
) -> None:
    settings = server_settings(workspace, sandbox, confirm_mode="yes-arg")
    ask = Answering("accept", {"confirm": True, "organization": "no organization"})
    async with Client(create_server(settings), mode=mode, elicitation_callback=ask) as client:
        plan_id = await _plan(client, no_org_csv)
        message = await refused(client, "execute_migration", {"plan_id": plan_id})
        started = await call(client, "execute_migration", {"plan_id": plan_id, "yes": True})
        await finished(client, started["job_id"])
    assert ask.messages == []
    assert "MIGRATION_CONFIRM_MODE=yes-arg" in message
    assert started["confirmation"] == "yes (MIGRATION_CONFIRM_MODE=yes-arg)"


async def test_forced_elicit_mode_ignores_yes_and_refuses_clients_without_forms(
    workspace: Path, sandbox: SandboxHandle, no_org_csv: Path, mode: str
) -> None:
    settings = server_settings(workspace, sandbox, confirm_mode="elicit")
    async with Client(create_server(settings), mode=mode) as client:
        message = await refused(client, "execute_migration", {"plan_id": await _plan(client, no_org_csv), "yes": True})
    ask = Answering("accept", {"confirm": True, "organization": "no organization"})
    async with Client(create_server(settings), mode=mode, elicitation_callback=ask) as client:
        started = await call(client, "execute_migration", {"plan_id": await _plan(client, no_org_csv), "yes": True})
        await finished(client, started["job_id"])
    assert "yes=true is not accepted" in message
    assert len(ask.messages) == 1
    assert started["confirmation"] == "elicitation (MIGRATION_CONFIRM_MODE=elicit)"


async def test_resume_with_a_live_key_asks_again(
    workspace: Path, sandbox: SandboxHandle, write_users: CsvWriter, mode: str
) -> None:
    path = write_users([{"email": "ada@example.com", "org_id": "org_1"}])
    settings = server_settings(workspace, sandbox, api_key=LIVE_KEY)
    async with Client(create_server(settings), mode=mode) as client:
        started = await call(client, "execute_migration", {"plan_id": await _plan(client, path), "yes": True})
        failed = await finished(client, started["job_id"])
        message = await refused(client, "resume_migration", {"job_id": started["job_id"]})
    assert failed["state"] == "failed"
    assert f'resume_migration(job_id="{started["job_id"]}", yes=true)' in message


def test_question_text_depends_only_on_its_inputs() -> None:
    question = Question(
        verb="Import",
        rows=25_000,
        csv_name="users.csv",
        base_url="https://api.workos.com",
        live=True,
        estimate="~9 minutes",
        choose_organization=False,
        retry_call='execute_migration(plan_id="plan-1", yes=true)',
    )
    assert (
        question.message()
        == question.message()
        == (
            "Import 25,000 rows from users.csv into the LIVE (production) WorkOS environment at "
            "https://api.workos.com? Estimated duration: ~9 minutes."
        )
    )
    assert question.needed and question.large
    small = Question("Import", 10_000, "u.csv", "http://x", False, None, False, "c")
    assert not small.needed
