"""undo_migration over MCP: the preview first, the deletion only with the user's word, then followed to the end."""

from __future__ import annotations

import time

import httpx2
import pytest
from mcp import Client

from core.workos.sandbox import SandboxHandle
from server.mcp import create_server
from server.settings import ServerSettings
from tests.conftest import CsvWriter, ImportRun
from tests.mcp_support import call, confirmation_code, refused
from tests.test_undo import _comparable, _mixed_file, _seed_existing

pytestmark = pytest.mark.anyio


async def test_undo_migration_previews_asks_then_deletes_exactly_what_the_job_created(
    settings: ServerSettings, sandbox: SandboxHandle, sandbox_api: httpx2.Client, write_users: CsvWriter
) -> None:
    _seed_existing(sandbox_api)
    before = _comparable(sandbox.state())
    importer = ImportRun(sandbox, settings.state_dir)
    result = await importer.run(_mixed_file(write_users), create_org_if_missing=True)

    async with Client(create_server(settings), mode="legacy") as client:
        question = await refused(client, "undo_migration", {"job_id": result.job_id})
        assert sandbox.state() != before  # nothing deleted without the user's word
        assert "3 users" in question and "5 memberships" in question and "deletes objects from WorkOS" in question
        code = confirmation_code(question)
        started = await call(client, "undo_migration", {"job_id": result.job_id, "confirmation_code": code})
        assert started["started"] is True and started["delete"]["user"] == 3
        assert started["kept"] == {"users_adopted": 2, "memberships_existed": 1, "organizations_found": 1}
        deadline = time.monotonic() + 30
        while True:
            status = await call(client, "undo_migration", {"job_id": result.job_id})
            if status["state"] == "completed" or time.monotonic() > deadline:
                break
        again = await call(client, "undo_migration", {"job_id": result.job_id})

    assert status["state"] == "completed" and status["started"] is False
    assert status["deleted"] == {"membership": 5, "factor": 2, "user": 3, "organization": 1}
    assert status["next"]["tool"] == "verify_migration"
    assert again["started"] is False
    assert _comparable(sandbox.state()) == before
