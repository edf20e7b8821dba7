"""Confirmations of writes over MCP, held by the server: a form on clients that show one (accept, decline,
cancel, timeout) whatever the call says, a confirmation code on chat-only clients, forced modes, inline plans,
one job per plan. Each case on both protocol eras where the era changes how the question travels."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.types import CallToolResult

from core.app import LARGE_IMPORT_ROWS, ConfirmReason
from core.store import JobStore
from core.workos.sandbox import SandboxHandle
from server.confirm import Question
from server.mcp import create_server
from server.settings import ServerSettings
from tests.conftest import CsvWriter
from tests.mcp_support import (
    Answering,
    call,
    confirmation_code,
    confirmed,
    finished,
    refused,
    server_settings,
    text,
    wait_for_workers,
)

pytestmark = pytest.mark.anyio

LIVE_KEY = "sk_live_" + "x" * 24


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


async def test_a_client_with_forms_gets_the_form_whatever_the_call_brings(
    workspace: Path, sandbox: SandboxHandle, no_org_csv: Path, mode: str
) -> None:
    settings = server_settings(workspace, sandbox)
    ask = Answering("accept", {"confirm": True, "organization": "no organization"})
    async with Client(create_server(settings), mode=mode, elicitation_callback=ask) as client:
        plan_id = await _plan(client, no_org_csv)
        arguments = {"plan_id": plan_id, "confirmation_code": "ABC-DEF", "yes": True}
        started = await call(client, "execute_migration", arguments)
        status = await finished(client, started["job_id"])
    assert len(ask.messages) == 1
    assert (started["confirmation"], status["state"], status["succeeded"]) == ("elicitation", "completed", 2)
    assert _jobs(settings)[0].confirmation == "elicitation"


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
    assert ask.messages[0].startswith(
        f"Import 2 rows from <untrusted-data>{no_org_csv.name}</untrusted-data> into the test WorkOS environment at"
    )
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
        f"Import {LARGE_IMPORT_ROWS + 1:,} rows from <untrusted-data>{large_csv.name}</untrusted-data> into the test "
        f"WorkOS environment at {sandbox.url}? Estimated duration: ~7 minutes. (Asked because: more than 10,000 rows.)"
    ]
    assert ("declined" if action == "decline" else "dismissed") in message
    assert f'execute_migration(plan_id="{plan_id}")' in message and "confirmation code" not in message
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
    assert "MIGRATION_CONFIRM_MODE=code" in message and "confirmation code" not in message
    assert _jobs(settings) == []


async def test_a_chat_only_client_must_come_back_with_the_code_shown_with_the_question(
    workspace: Path, sandbox: SandboxHandle, large_csv: Path, no_org_csv: Path, mode: str
) -> None:
    settings = server_settings(workspace, sandbox, api_key=LIVE_KEY)
    async with Client(create_server(settings), mode=mode) as client:
        large_id = await _plan(client, large_csv)
        large = await refused(client, "execute_migration", {"plan_id": large_id, "yes": True})
        no_org_id = await _plan(client, no_org_csv)
        no_org = await refused(client, "execute_migration", {"plan_id": no_org_id})
        code = confirmation_code(no_org)
        borrowed = await refused(
            client, "execute_migration", {"plan_id": no_org_id, "confirmation_code": confirmation_code(large)}
        )
        jobs_before = _jobs(settings)
        started = await call(client, "execute_migration", {"plan_id": no_org_id, "confirmation_code": code.lower()})
        await finished(client, started["job_id"])
    assert f"Import {LARGE_IMPORT_ROWS + 1:,} rows" in large and "LIVE (production) WorkOS environment" in large
    assert "Estimated duration" in large and "this client cannot show a confirmation form" in large
    large_code = confirmation_code(large)
    assert f"Show the user this question and the confirmation code {large_code}, then wait" in large
    assert "never answer it yourself" in large
    assert f'execute_migration(plan_id="{large_id}", confirmation_code="{large_code}")' in large
    assert "call plan_migration again with org_id or org_external_id" in no_org
    assert code != large_code and "not the code of this question" in borrowed
    assert confirmation_code(borrowed) == code
    assert jobs_before == [] and started["confirmation"] == "code"


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


async def test_forced_code_mode_never_shows_a_form(
    workspace: Path, sandbox: SandboxHandle, no_org_csv: Path, mode: str
) -> None:
    settings = server_settings(workspace, sandbox, confirm_mode="code")
    ask = Answering("accept", {"confirm": True, "organization": "no organization"})
    async with Client(create_server(settings), mode=mode, elicitation_callback=ask) as client:
        plan_id = await _plan(client, no_org_csv)
        message = await refused(client, "execute_migration", {"plan_id": plan_id})
        started = await call(
            client, "execute_migration", {"plan_id": plan_id, "confirmation_code": confirmation_code(message)}
        )
        await finished(client, started["job_id"])
    assert ask.messages == []
    assert "MIGRATION_CONFIRM_MODE=code" in message
    assert started["confirmation"] == "code (MIGRATION_CONFIRM_MODE=code)"


def test_the_earlier_yes_arg_mode_means_code(tmp_path: Path) -> None:
    settings = ServerSettings.from_env({"HOME": str(tmp_path), "MIGRATION_CONFIRM_MODE": "yes-arg"})
    assert settings.confirm_mode == "code"


async def test_forced_elicit_mode_refuses_clients_without_forms(
    workspace: Path, sandbox: SandboxHandle, no_org_csv: Path, mode: str
) -> None:
    settings = server_settings(workspace, sandbox, confirm_mode="elicit")
    async with Client(create_server(settings), mode=mode) as client:
        message = await refused(client, "execute_migration", {"plan_id": await _plan(client, no_org_csv)})
    ask = Answering("accept", {"confirm": True, "organization": "no organization"})
    async with Client(create_server(settings), mode=mode, elicitation_callback=ask) as client:
        started = await call(client, "execute_migration", {"plan_id": await _plan(client, no_org_csv)})
        await finished(client, started["job_id"])
    assert "only through the client's confirmation form" in message and "confirmation code" not in message
    assert len(ask.messages) == 1
    assert started["confirmation"] == "elicitation (MIGRATION_CONFIRM_MODE=elicit)"


async def test_resume_with_a_live_key_asks_again(
    workspace: Path, sandbox: SandboxHandle, write_users: CsvWriter, mode: str
) -> None:
    path = write_users([{"email": "ada@example.com", "org_id": "org_1"}])
    settings = server_settings(workspace, sandbox, api_key=LIVE_KEY)
    async with Client(create_server(settings), mode=mode) as client:
        started = await confirmed(client, "execute_migration", {"plan_id": await _plan(client, path)})
        failed = await finished(client, started["job_id"])
        message = await refused(client, "resume_migration", {"job_id": started["job_id"]})
    assert failed["state"] == "failed"
    code = confirmation_code(message)
    assert f'resume_migration(job_id="{started["job_id"]}", confirmation_code="{code}")' in message


async def test_an_inline_plan_is_always_confirmed_because_nobody_saw_it(
    workspace: Path, sandbox: SandboxHandle, write_users: CsvWriter, mode: str
) -> None:
    path = write_users([{"email": "ada@example.com", "org_id": "org_1"}])
    settings = server_settings(workspace, sandbox)
    ask = Answering("decline")
    async with Client(create_server(settings), mode=mode, elicitation_callback=ask) as client:
        message = await refused(client, "execute_migration", {"plan": {"csv_path": path.name, "check_live": False}})
    assert len(ask.messages) == 1 and "not shown to the user" in ask.messages[0]
    assert "declined" in message and _jobs(settings) == []


async def test_one_plan_has_one_job_however_often_and_however_fast_it_is_executed(
    workspace: Path, sandbox: SandboxHandle, write_users: CsvWriter, mode: str
) -> None:
    path = write_users([{"email": f"user{n}@example.com", "org_id": "org_1"} for n in range(3)])
    settings = server_settings(workspace, sandbox)
    async with Client(create_server(settings), mode=mode) as client:
        plan_id = await _plan(client, path)
        results: list[dict[str, Any]] = []

        async def execute() -> None:
            results.append(await call(client, "execute_migration", {"plan_id": plan_id}))

        async with anyio.create_task_group() as group:
            for _ in range(4):
                group.start_soon(execute)
        again = await call(client, "execute_migration", {"plan_id": plan_id})
        await finished(client, again["job_id"])
    assert len({result["job_id"] for result in [*results, again]}) == 1
    assert sum(result["started"] for result in results) == 1 and again["started"] is False
    assert "nothing new was started" in text(await _again(settings, plan_id, mode))
    assert len(_jobs(settings)) == 1


async def _again(settings: ServerSettings, plan_id: str, mode: str) -> CallToolResult:
    async with Client(create_server(settings), mode=mode) as client:
        return await client.call_tool("execute_migration", {"plan_id": plan_id})


def test_question_text_and_code_depend_only_on_their_inputs() -> None:
    question = Question(
        verb="Import",
        rows=25_000,
        csv_name="users.csv",
        base_url="https://api.workos.com",
        reasons=(ConfirmReason.LIVE_KEY, ConfirmReason.LARGE_IMPORT),
        estimate="~9 minutes",
        bound_to="hash-1",
        retry_call='execute_migration(plan_id="plan-1")',
    )
    assert (
        question.message()
        == question.message()
        == (
            "Import 25,000 rows from <untrusted-data>users.csv</untrusted-data> into the LIVE (production) WorkOS "
            "environment at https://api.workos.com? Estimated duration: ~9 minutes. (Asked because: the key is a "
            "live (production) key, more than 10,000 rows.)"
        )
    )
    key = b"k" * 32
    assert question.needed and question.code(key) == question.code(key)
    assert question.code(key) != question.code(b"x" * 32)
    assert question.code(key) != replace(question, bound_to="hash-2").code(key)
    small = replace(question, rows=10_000, reasons=())
    assert not small.needed
