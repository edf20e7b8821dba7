"""The Claude Desktop Extension: its manifest says what the server is and reads, ``make bundle`` packs it with
the official packer, and the packed bundle starts the way Claude Desktop starts it.

The packing test needs npm (for ``npx @anthropic-ai/mcpb``): without it, it skips and says so.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import pytest
from mcp import StdioServerParameters

from core.options import DEFAULT_BASE_URL
from core.workos.sandbox import SandboxHandle
from mcpb.build import PACKER
from server.settings import ServerSettings
from tests.install_support import ROOT, dev_command, host_env, plan_as_a_host, run_step, server_tools, users_workspace

pytestmark = pytest.mark.anyio

MANIFEST: dict[str, Any] = json.loads((ROOT / "mcpb" / "manifest.json").read_text(encoding="utf-8"))


def desktop_substitute(value: str, *, dirname: Path, user_config: dict[str, str]) -> str:
    """What Claude Desktop does to ``mcp_config`` values: ``${__dirname}`` and ``${user_config.KEY}``."""
    value = value.replace("${__dirname}", str(dirname))
    return re.sub(r"\$\{user_config\.(\w+)\}", lambda match: user_config[match.group(1)], value)


def _user_config(workspace: Path, **values: str) -> dict[str, str]:
    """The values a user gives in Desktop's settings form; the defaults where none is given."""
    defaults = {
        key: str(option["default"]).lower() if isinstance(option.get("default"), bool) else option.get("default")
        for key, option in MANIFEST["user_config"].items()
    }
    return {
        **{k: v for k, v in defaults.items() if v is not None},
        "workos_api_key": "sk_test_abc",
        "workspace": str(workspace),
        **values,
    }


async def test_the_manifest_lists_exactly_the_servers_tools(tmp_path: Path) -> None:
    listed = [tool["name"] for tool in MANIFEST["tools"]]
    assert sorted(listed) == await server_tools(tmp_path)
    assert len(listed) == len(set(listed)) and all(tool["description"] for tool in MANIFEST["tools"])


def test_the_manifest_has_the_packages_version_and_python() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert MANIFEST["version"] == project["version"]
    assert MANIFEST["compatibility"]["runtimes"]["python"] == project["requires-python"]
    assert (MANIFEST["manifest_version"], MANIFEST["server"]["type"]) == ("0.4", "uv")


def test_desktops_settings_reach_the_server_as_its_environment(tmp_path: Path) -> None:
    options = MANIFEST["user_config"]
    key, workspace = options["workos_api_key"], options["workspace"]
    assert (key["type"], key["sensitive"], key["required"]) == ("string", True, True)
    assert (workspace["type"], workspace["required"]) == ("directory", True)
    assert options["workos_base_url"]["default"] == DEFAULT_BASE_URL
    config = MANIFEST["server"]["mcp_config"]
    used = set(re.findall(r"\$\{user_config\.(\w+)\}", json.dumps(config)))
    assert used == set(options), "every setting is passed to the server, and only settings the form asks for"

    def settings(**values: str) -> ServerSettings:
        given = _user_config(tmp_path, **values)
        env = {
            name: desktop_substitute(value, dirname=tmp_path, user_config=given)
            for name, value in config["env"].items()
        }
        return ServerSettings.from_env(env)

    default = settings()
    assert (default.key, default.workspace, default.base_url, default.read_only) == (
        "sk_test_abc",
        tmp_path,
        DEFAULT_BASE_URL,
        False,
    )
    changed = settings(workos_base_url="http://127.0.0.1:4100", read_only="true")
    assert (changed.base_url, changed.read_only) == ("http://127.0.0.1:4100", True)
    assert "sk_test_abc" not in json.dumps(config), "the key is in the host's storage, never in the bundle"


async def test_make_bundle_packs_a_valid_bundle_that_starts_as_desktop_starts_it(
    wheel: Path, tmp_path: Path, sandbox: SandboxHandle
) -> None:
    npx = shutil.which("npx")
    if npx is None:
        pytest.skip("npm is not installed here: the Desktop Extension cannot be packed or validated by mcpb")
    command = [sys.executable, ROOT / "mcpb" / "build.py", "--out", tmp_path / "dist", "--wheel", wheel]
    built = run_step([*command, "--staging", tmp_path / "staging"], what="make bundle").stdout.strip()
    bundle = Path(built)
    assert bundle.name == f"workos-migrate-{MANIFEST['version']}.mcpb"
    installed = tmp_path / "Claude Extensions" / "workos-migrate"  # where Desktop unpacks it (a space in the path)
    with zipfile.ZipFile(bundle) as archive:
        expected = {"manifest.json", "icon.png", "main.py", "pyproject.toml", "uv.lock", wheel.name}
        assert set(archive.namelist()) == expected
        archive.extractall(installed)
    assert json.loads((installed / "manifest.json").read_text()) == MANIFEST
    validated = run_step([npx, "--yes", PACKER, "validate", installed / "manifest.json"], what="mcpb validate")
    assert "validation passes" in validated.stdout

    workspace = users_workspace(tmp_path / "migration")
    given = _user_config(workspace, workos_api_key=sandbox.api_key, workos_base_url=sandbox.url)
    config = MANIFEST["server"]["mcp_config"]
    env = {
        name: desktop_substitute(value, dirname=installed, user_config=given) for name, value in config["env"].items()
    }
    # Desktop runs "uv" with the uv it manages; here it is the dev extra's.
    assert config["command"] == "uv"
    args = [desktop_substitute(arg, dirname=installed, user_config=given) for arg in config["args"]]
    warm_up = run_step(
        [dev_command("uv"), *args[:-1], "python", "-c", "import server.mcp"],
        what="uv run (first start)",
        env=host_env(tmp_path / "data"),
    )
    assert warm_up.returncode == 0
    params = StdioServerParameters(
        command=str(dev_command("uv")), args=args, env=host_env(tmp_path / "data", **env), cwd="/"
    )
    await plan_as_a_host(params, workspace)
    assert (tmp_path / "data" / "workos-migrate" / "jobs.sqlite3").exists()
