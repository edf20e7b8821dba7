"""Helpers for the tests of the package as users install it: install steps, a host's environment, the tools.

An install step needs the package registry (or a warm cache). When the registry cannot be reached the step
skips its test and says so; any other failure fails it with the step's output.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters

from server.mcp import create_server
from server.settings import ServerSettings
from tests.conftest import BCRYPT, csv_text
from tests.mcp_support import call

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = "Scripts" if os.name == "nt" else "bin"
"""Where a virtual environment keeps its commands."""
STEP_TIMEOUT_S = 600

# The machine's network settings (proxies, certificate bundles, index URLs) a user's session would have too.
_NETWORK = re.compile(r"PROXY|^SSL_|CERT|_CA_|^UV_|^PIP_|^NPM_", re.IGNORECASE)
# What pip, uv and npm print when they cannot reach a registry (DNS, refused or reset connections, timeouts,
# proxies, certificates).
_OFFLINE = re.compile(
    r"NewConnectionError|Max retries exceeded|Temporary failure in name resolution|Name or service not known|"
    r"Network is unreachable|ConnectTimeout|ReadTimeout|ProxyError|dns error|error sending request|"
    r"Failed to fetch|Could not connect|connection refused|tcp connect error|ENOTFOUND|ECONNREFUSED|"
    r"ECONNRESET|ETIMEDOUT|EAI_AGAIN|UNABLE_TO_GET_ISSUER_CERT|SELF_SIGNED_CERT",
    re.IGNORECASE,
)


def run_step(
    command: Sequence[str | Path], *, what: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run an install or build step; skip when a registry is unreachable, fail with its output on any other error."""
    argv = [str(part) for part in command]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=STEP_TIMEOUT_S, env=env, cwd=cwd)
    if result.returncode != 0:
        output = f"{result.stdout}\n{result.stderr}"
        if _OFFLINE.search(output):
            pytest.skip(f"{what}: the package registry is unreachable from this machine:\n{output[-2000:]}")
        pytest.fail(f"{what} failed (exit {result.returncode}):\n{output[-4000:]}")
    return result


def host_env(data_home: Path, **extra: str) -> dict[str, str]:
    """The small environment a desktop host gives a server: PATH, the user's home and network settings.

    Nothing of this checkout or its virtual environment; ``XDG_DATA_HOME`` moves the per-user data directory
    (where the server keeps its state by default) into the test's directory.
    """
    network = {name: value for name, value in os.environ.items() if _NETWORK.search(name)}
    base = {"PATH": os.environ.get("PATH", ""), "HOME": str(Path.home()), "XDG_DATA_HOME": str(data_home)}
    return {**network, **base, **extra}


def build_wheel(out: Path) -> Path:
    """``python -m build --wheel`` of this checkout into ``out`` (an isolated build, as a user runs it)."""
    run_step([sys.executable, "-m", "build", "--wheel", "--outdir", out, ROOT], what="python -m build", cwd=out)
    (built,) = out.glob("workos_migrate-*.whl")
    return built


def dev_command(name: str) -> Path:
    """A command the dev extra installs next to this interpreter (uv, uvx)."""
    path = Path(sys.executable).parent / (f"{name}.exe" if os.name == "nt" else name)
    if not path.exists():
        pytest.fail(f"{name} is not next to {sys.executable}: install the dev extra (pip install -e '.[dev]')")
    return path


async def server_tools(tmp_path: Path) -> list[str]:
    """The names of the tools this checkout's server registers, sorted."""
    settings = ServerSettings(state_dir=tmp_path / "state", workspace=tmp_path)
    async with Client(create_server(settings), mode="legacy") as client:
        return sorted(tool.name for tool in (await client.list_tools()).tools)


USERS = 5


def users_workspace(path: Path) -> Path:
    """A workspace directory holding ``users.csv``: ``USERS`` valid users with bcrypt hashes in one organization."""
    path.mkdir(parents=True)
    rows = [[f"user{n}@example.com", "Ada", BCRYPT, "bcrypt", "acme", "Acme"] for n in range(USERS)]
    header = ["email", "first_name", "password_hash", "password_hash_type", "org_external_id", "org_name"]
    (path / "users.csv").write_text(csv_text(header, rows), encoding="utf-8", newline="")
    return path


async def plan_as_a_host(params: StdioServerParameters, workspace: Path) -> dict[str, Any]:
    """Start the server with ``params`` and go through initialize, tools/list and plan_migration; returns the plan.

    The server must list exactly this checkout's tools and plan ``users.csv`` of ``workspace`` as valid.
    """
    async with Client(params, mode="legacy") as client:
        tools = sorted(tool.name for tool in (await client.list_tools()).tools)
        assert tools == await server_tools(workspace.parent)
        plan = await call(
            client, "plan_migration", {"csv_path": str(workspace / "users.csv"), "create_org_if_missing": True}
        )
    assert plan["valid"] and plan["users"] == USERS, plan
    return plan
