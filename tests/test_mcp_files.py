"""Files fail closed over MCP: the workspace (MIGRATION_WORKSPACE, client roots, the server's own folder), no
file content in refusals or logs, no overwrite unless asked, never a job's CSV or the state dir, no symlink
followed, private output files. Over stdio as hosts start the server, and in memory on both protocol eras."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from mcp.client import ClientRequestContext
from mcp.client.stdio import stdio_client
from mcp.types import ListRootsResult, Root

from core.csvsource import CsvSource
from core.errors import OptionsError, SourceError
from core.store import JobStore
from core.workos.sandbox import SandboxHandle
from server.mcp import create_server
from server.settings import ServerSettings
from tests.conftest import BCRYPT, CsvWriter, write_rows
from tests.mcp_support import call, finished, refused, server_settings, text, unfenced

pytestmark = pytest.mark.anyio

LIVE_KEY = "sk_live_" + "k" * 24
ENV_FILE = f"WORKOS_API_KEY={LIVE_KEY}\nDATABASE_URL=postgres://admin:hunter2@db/prod\n"


def _files(root: Path) -> set[Path]:
    return {path for path in root.rglob("*") if path.is_file()}


async def test_a_server_started_in_root_without_a_workspace_reads_and_writes_only_its_own_folder(
    tmp_path: Path, sandbox: SandboxHandle
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "notes.csv").write_text("email\nada@example.com\n")
    before = _files(tmp_path)
    env = {
        "HOME": str(home),
        "PATH": os.environ.get("PATH", ""),
        "WORKOS_API_KEY": sandbox.api_key,
        "WORKOS_BASE_URL": sandbox.url,
    }
    params = StdioServerParameters(command=sys.executable, args=["-m", "server.mcp"], env=env, cwd="/")
    folder = home / "workos-migrate"
    async with Client(params, mode="legacy") as client:
        passwd = await refused(client, "plan_migration", {"csv_path": "/etc/passwd"})
        relative = await refused(client, "validate_csv", {"csv_path": "../notes.csv"})
        write_users_file = folder / "users.csv"
        write_users_file.write_text("email,email_verified\r\nada@example.com,yes\r\n")
        escaped = await refused(
            client,
            "validate_csv",
            {"csv_path": "users.csv", "auto_fix": True, "fixed_csv_path": str(tmp_path / "escaped.csv")},
        )
        fixed = await call(client, "validate_csv", {"csv_path": "users.csv", "auto_fix": True})
    for message in (passwd, relative, escaped):
        assert f"outside the workspace {folder}" in message and "MIGRATION_WORKSPACE" in message
    assert "root:" not in passwd
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert unfenced(fixed["fixed_csv"]) == str(folder / "users.fixed.csv")
    written = _files(tmp_path) - before
    state = home / ".local" / "share" / "workos-migrate"
    assert all(path.is_relative_to(folder) or path.is_relative_to(state) for path in written), written
    assert not (tmp_path / "escaped.csv").exists()


async def test_an_env_file_never_shows_its_key_in_a_result_or_a_log(
    tmp_path: Path, sandbox: SandboxHandle, mode: str
) -> None:
    (tmp_path / ".env").write_text(ENV_FILE)
    (tmp_path / "settings.csv").write_text("name;value\nkey;" + LIVE_KEY + "\n")
    env = {
        "HOME": str(tmp_path / "home"),
        "PATH": os.environ.get("PATH", ""),
        "MIGRATION_WORKSPACE": str(tmp_path),
        "MIGRATION_STATE_DIR": str(tmp_path / "state"),
        "WORKOS_API_KEY": sandbox.api_key,
        "WORKOS_BASE_URL": sandbox.url,
    }
    params = StdioServerParameters(command=sys.executable, args=["-m", "server.mcp"], env=env, cwd="/")
    shown: list[str] = []
    errlog = tmp_path / "server.log"
    with errlog.open("w") as err:
        async with Client(stdio_client(params, errlog=err), mode=mode) as client:
            for name in ("plan_migration", "validate_csv"):
                for path in (".env", "settings.csv"):
                    result = await client.call_tool(name, {"csv_path": path})
                    assert result.is_error
                    shown.append(text(result))
            result = await client.call_tool("execute_migration", {"plan": {"csv_path": ".env"}})
            shown.append(text(result))
    everything = "\n".join(shown) + errlog.read_text()
    assert "no column named 'email'" in shown[0] and "semicolons" in shown[1]
    for secret in (LIVE_KEY, "hunter2", "WORKOS_API_KEY=", "DATABASE_URL"):
        assert secret not in everything
    # The CLI keeps the header in its message: the user is looking at their own file in their terminal.
    with pytest.raises(SourceError, match="Found: 'WORKOS_API_KEY="):
        CsvSource(tmp_path / ".env")


async def test_existing_files_are_never_overwritten_unless_asked(
    settings: ServerSettings, write_users: CsvWriter, mode: str
) -> None:
    path = write_users([{"email": "ada@example.com", "email_verified": "yes"}])
    target = path.with_suffix(".fixed.csv")
    target.write_text("keep me\n")
    async with Client(create_server(settings), mode=mode) as client:
        message = await refused(client, "validate_csv", {"csv_path": path.name, "auto_fix": True})
        kept = target.read_text()
        replaced = await call(client, "validate_csv", {"csv_path": path.name, "auto_fix": True, "overwrite": True})
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert "already exists" in message and "overwrite=true" in message
    assert kept == "keep me\n"
    assert replaced["fixed_rows"] == 1 and "ada@example.com,true" in target.read_text()
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    for name in ("validate_csv", "analyze_errors"):
        annotations = tools[name].annotations
        assert annotations is not None and annotations.destructive_hint is True
        assert tools[name].input_schema["properties"]["overwrite"]["default"] is False


async def test_read_only_mode_never_replaces_a_file(
    tmp_path: Path, sandbox: SandboxHandle, write_users: CsvWriter
) -> None:
    path = write_users([{"email": "ada@example.com", "email_verified": "yes"}])
    path.with_suffix(".fixed.csv").write_text("keep me\n")
    settings = server_settings(tmp_path, sandbox, read_only=True)
    async with Client(create_server(settings), mode="legacy") as client:
        message = await refused(client, "validate_csv", {"csv_path": path.name, "auto_fix": True, "overwrite": True})
    assert "read-only" in message and path.with_suffix(".fixed.csv").read_text() == "keep me\n"


async def _job_with_failures(client: Client, path: Path) -> str:
    plan = await call(client, "plan_migration", {"csv_path": path.name, "create_org_if_missing": True})
    job_id = str((await call(client, "execute_migration", {"plan_id": plan["plan_id"]}))["job_id"])
    status = await finished(client, job_id)
    assert status["state"] == "completed_with_errors"
    return job_id


def _rows_with_a_bad_one() -> list[dict[str, str]]:
    return [
        {"email": "ada@example.com", "password_hash": BCRYPT, "password_hash_type": "bcrypt", "org_external_id": "o"},
        {"email": "not-an-email", "password": "Plain-Text-Secret-1", "org_external_id": "o", "org_name": "O"},
    ]


async def test_analysis_never_writes_a_jobs_csv_the_state_dir_or_through_a_planted_partial_symlink(
    settings: ServerSettings, tmp_path_factory: pytest.TempPathFactory
) -> None:
    rows = _rows_with_a_bad_one()
    rows[0]["org_name"] = "O"
    path = write_rows(settings.workspace / "users.csv", rows)
    outside = tmp_path_factory.mktemp("outside") / "stolen.csv"
    outside.write_text("")
    source_before = path.read_bytes()
    async with Client(create_server(settings), mode="legacy") as client:
        job_id = await _job_with_failures(client, path)
        store_file = settings.state_dir / "jobs.sqlite3"
        store_before = store_file.stat().st_size
        arguments: dict[str, Any] = {"job_id": job_id, "write_retry_csv": True, "include_non_retryable": True}
        source = await refused(
            client, "analyze_errors", {**arguments, "retry_csv_path": "users.csv", "overwrite": True}
        )
        ledger = await refused(
            client, "analyze_errors", {**arguments, "retry_csv_path": str(store_file), "overwrite": True}
        )
        (settings.workspace / "retry.csv.partial").symlink_to(outside)
        planted = await refused(client, "analyze_errors", {**arguments, "retry_csv_path": "retry.csv"})
        (settings.workspace / "retry.csv.partial").unlink()
        written = await call(client, "analyze_errors", {**arguments, "retry_csv_path": "retry.csv"})
    assert "source CSV of a migration job" in source and path.read_bytes() == source_before
    assert "state directory" in ledger and store_file.stat().st_size >= store_before
    assert "retry.csv.partial is in the way" in planted and outside.read_text() == ""
    assert "Plain-Text-Secret-1" not in planted
    retry = settings.workspace / "retry.csv"
    assert written["retry_rows"] == 1
    assert stat.S_IMODE(retry.stat().st_mode) == 0o600 and "not-an-email" in retry.read_text()


async def test_a_planted_partial_symlink_beside_the_fixed_copy_is_refused(
    settings: ServerSettings, write_users: CsvWriter, tmp_path_factory: pytest.TempPathFactory, mode: str
) -> None:
    path = write_users([{"email": "ada@example.com", "email_verified": "yes", "password": "Secret-Pass-123"}])
    outside = tmp_path_factory.mktemp("outside") / "stolen.csv"
    outside.write_text("")
    path.with_name("users.fixed.csv.partial").symlink_to(outside)
    async with Client(create_server(settings), mode=mode) as client:
        message = await refused(client, "validate_csv", {"csv_path": path.name, "auto_fix": True})
    assert "is in the way" in message
    assert outside.read_text() == "" and not path.with_suffix(".fixed.csv").exists()


async def test_files_in_the_state_dir_and_symlinked_targets_are_refused(
    settings: ServerSettings, write_users: CsvWriter, tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = write_users([{"email": "ada@example.com", "email_verified": "yes"}])
    outside = tmp_path_factory.mktemp("outside") / "elsewhere.csv"
    (settings.workspace / "link.fixed.csv").symlink_to(outside)
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    (settings.state_dir / "copy.csv").write_text(path.read_text())
    async with Client(create_server(settings), mode="legacy") as client:
        linked = await refused(
            client,
            "validate_csv",
            {"csv_path": path.name, "auto_fix": True, "fixed_csv_path": "link.fixed.csv", "overwrite": True},
        )
        state = await refused(client, "plan_migration", {"csv_path": str(settings.state_dir / "copy.csv")})
    assert "symbolic link" in linked and not outside.exists()
    assert "state directory" in state


async def test_client_roots_are_the_workspace_when_no_workspace_is_set(
    tmp_path: Path, sandbox: SandboxHandle, write_users: CsvWriter
) -> None:
    shared = tmp_path / "project"
    shared.mkdir()
    inside = write_rows(shared / "users.csv", [{"email": "ada@example.com"}])
    elsewhere = write_users([{"email": "bob@example.com"}], name="elsewhere.csv")

    async def roots(context: ClientRequestContext) -> ListRootsResult:
        return ListRootsResult(roots=[Root(uri=shared.as_uri()), Root(uri="file:///")])

    settings = server_settings(tmp_path, sandbox).model_copy(
        update={"workspace": None, "default_workspace": tmp_path / "own"}
    )
    async with Client(create_server(settings), mode="legacy", list_roots_callback=roots) as client:
        planned = await call(client, "plan_migration", {"csv_path": "users.csv"})
        message = await refused(client, "plan_migration", {"csv_path": str(elsewhere)})
    assert JobStore.open(settings.state_dir).get_plan(planned["plan_id"]).options.csv_path == inside
    assert f"outside the workspace {shared} (the folders this client shares" in message
    assert not (tmp_path / "own").exists()


def test_a_workspace_of_root_or_a_whole_home_is_refused_at_start(tmp_path: Path) -> None:
    for folder in ("/", str(tmp_path)):
        with pytest.raises(OptionsError, match="MIGRATION_WORKSPACE must be a folder for migration files"):
            ServerSettings.from_env({"HOME": str(tmp_path), "MIGRATION_WORKSPACE": folder})
    with pytest.raises(OptionsError, match="absolute path"):
        ServerSettings.from_env({"HOME": str(tmp_path), "MIGRATION_WORKSPACE": "files"})
    settings = ServerSettings.from_env({"HOME": str(tmp_path), "MIGRATION_WORKSPACE": str(tmp_path / "files")})
    assert settings.workspace == tmp_path / "files"


def test_another_users_home_is_refused_where_homes_live_in_a_users_folder(tmp_path: Path) -> None:
    # Windows keeps homes in C:\Users (macOS in /Users): a neighbour of the user's home is someone's home too.
    home = tmp_path / "Users" / "ada"
    home.mkdir(parents=True)
    with pytest.raises(OptionsError, match="MIGRATION_WORKSPACE must be a folder for migration files"):
        ServerSettings.from_env({"HOME": str(home), "MIGRATION_WORKSPACE": str(tmp_path / "Users" / "bob")})
    settings = ServerSettings.from_env({"HOME": str(home), "MIGRATION_WORKSPACE": str(home / "exports")})
    assert settings.workspace == home / "exports"
