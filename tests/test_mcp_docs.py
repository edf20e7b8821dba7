"""The MCP set-up users copy works, and docs/tools.md documents every tool, argument and result field."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from mcp import Client, StdioServerParameters

from server import cli
from server.mcp import create_server
from server.settings import ServerSettings

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parent.parent


def _expand(value: str, env: dict[str, str]) -> str:
    """Claude Code's ``${VAR}`` and ``${VAR:-default}`` expansion."""
    return re.sub(r"\$\{(\w+)(?::-([^}]*))?\}", lambda m: env.get(m.group(1)) or (m.group(2) or ""), value)


async def test_docs_describe_every_tool_argument_and_result_field(tmp_path: Path) -> None:
    settings = ServerSettings(state_dir=tmp_path / "state", workspace=tmp_path)
    async with Client(create_server(settings), mode="legacy") as client:
        tools = (await client.list_tools()).tools
        templates = (await client.list_resource_templates()).resource_templates
    doc = (ROOT / "docs" / "tools.md").read_text()
    sections = dict(re.findall(r"^## (\w+)\n(.*?)(?=^## |\Z)", doc, flags=re.S | re.M))
    for tool in tools:
        assert tool.name in sections, f"docs/tools.md has no section for {tool.name}"
        assert tool.description, tool.name
        section = sections[tool.name]
        fields = [*tool.input_schema["properties"], *(tool.output_schema or {}).get("properties", {})]
        if tool.name == "cancel_migration":
            fields = list(tool.input_schema["properties"])  # "the job's status, as get_migration_status returns it"
        for field in fields:
            assert f"`{field}`" in section, f"{tool.name}: {field} is not documented"
    for template in templates:
        assert template.uri_template in doc
    assert "`migration://jobs`" in doc and "guided_migration" in doc


async def test_mcp_json_starts_the_server_with_the_key_from_the_environment(tmp_path: Path) -> None:
    config = json.loads((ROOT / "mcp.json").read_text())
    (server,) = config["mcpServers"].values()
    env = {"WORKOS_API_KEY": "sk_test_from_env"}
    assert server["type"] == "stdio" and server["env"]["WORKOS_API_KEY"] == "${WORKOS_API_KEY}"
    expanded = {name: _expand(value, env) for name, value in server["env"].items()}
    assert expanded["WORKOS_API_KEY"] == "sk_test_from_env"
    assert expanded["WORKOS_BASE_URL"] == "https://api.workos.com"
    params = StdioServerParameters(
        command=str(ROOT / server["command"]),
        args=server["args"],
        env={**expanded, "MIGRATION_STATE_DIR": str(tmp_path / "state")},
        cwd=str(ROOT),
    )
    async with Client(params, mode="legacy") as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
    assert {"plan_migration", "execute_migration", "analyze_errors"} <= names


def test_serve_command_runs_the_same_server(monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[bool] = []
    monkeypatch.setattr("server.mcp.main", lambda: served.append(True))
    result = CliRunner().invoke(cli.main, ["serve"])
    assert result.exit_code == 0 and served == [True]
    assert "MCP server over stdio" in CliRunner().invoke(cli.main, ["serve", "--help"]).output
