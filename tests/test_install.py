"""The package as users install it: a wheel built from this checkout and installed outside it with pip, uvx and
pipx runs the CLI, the sandbox and the MCP server (started from ``/`` as desktop hosts start it) with no file
of the repository.

The wheel is built once per session. Installing needs the package registry (or pip's wheel cache): when the
registry cannot be reached, these tests skip and say so; any other install failure fails them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters

from core.workos.sandbox import SandboxHandle, spawned_sandbox
from server.mcp import create_server
from server.settings import ServerSettings
from tests.conftest import BCRYPT, csv_text
from tests.mcp_support import call, finished, wait_for_workers

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = "Scripts" if os.name == "nt" else "bin"
INSTALL_TIMEOUT_S = 600
# The machine's network settings (proxies, certificate bundles, index URLs) a user's session would have too.
_NETWORK = re.compile(r"PROXY|^SSL_|CERT|_CA_|^UV_|^PIP_", re.IGNORECASE)

# What pip and uv print when they cannot reach an index (DNS, refused or reset connections, timeouts, proxies).
_OFFLINE = re.compile(
    r"NewConnectionError|Max retries exceeded|Temporary failure in name resolution|Name or service not known|"
    r"Network is unreachable|ConnectTimeout|ReadTimeout|ProxyError|dns error|error sending request|"
    r"Failed to fetch|Could not connect|connection refused|tcp connect error",
    re.IGNORECASE,
)


def _run(
    command: Sequence[str | Path], *, what: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run an install step; skip when the registry is unreachable, fail with its output on any other error."""
    argv = [str(part) for part in command]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, env=env, cwd=cwd)
    if result.returncode != 0:
        output = f"{result.stdout}\n{result.stderr}"
        if _OFFLINE.search(output):
            pytest.skip(f"{what}: the package registry is unreachable from this machine:\n{output[-2000:]}")
        pytest.fail(f"{what} failed (exit {result.returncode}):\n{output[-4000:]}")
    return result


def _host_env(data_home: Path, **extra: str) -> dict[str, str]:
    """The small environment a desktop host gives a server: PATH, the user's home and network settings.

    Nothing of this checkout or its virtual environment; ``XDG_DATA_HOME`` moves the per-user data directory
    (where the server keeps its state by default) into the test's directory.
    """
    network = {name: value for name, value in os.environ.items() if _NETWORK.search(name)}
    base = {"PATH": os.environ.get("PATH", ""), "HOME": str(Path.home()), "XDG_DATA_HOME": str(data_home)}
    return {**network, **base, **extra}


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``python -m build --wheel`` of this checkout (in an isolated build environment, as a user runs it)."""
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "build", "--wheel", "--outdir", out, ROOT], what="python -m build", cwd=out)
    (built,) = out.glob("workos_migrate-*.whl")
    return built


@pytest.fixture(scope="session")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment outside the checkout with the wheel installed by pip."""
    target = tmp_path_factory.mktemp("venv") / "env"
    _run([sys.executable, "-m", "venv", "--without-pip", target], what="python -m venv")
    python = target / SCRIPTS / "python"
    # This pip installs into the new environment (--python): the same install, without seeding pip into it.
    _run([sys.executable, "-m", "pip", "--python", python, "install", "-q", wheel], what="pip install <wheel>")
    return target


@pytest.fixture
def data_home(tmp_path: Path) -> Path:
    """The user's data directory (``XDG_DATA_HOME``) for one test."""
    return tmp_path / "data"


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "migration"
    path.mkdir()
    rows = [[f"user{n}@example.com", "Ada", BCRYPT, "bcrypt", "acme", "Acme"] for n in range(5)]
    header = ["email", "first_name", "password_hash", "password_hash_type", "org_external_id", "org_name"]
    (path / "users.csv").write_text(csv_text(header, rows), encoding="utf-8", newline="")
    return path


async def _server_tools(tmp_path: Path) -> list[str]:
    """The tools this checkout's server registers (the installed one must list the same)."""
    settings = ServerSettings(state_dir=tmp_path / "state", workspace=tmp_path)
    async with Client(create_server(settings), mode="legacy") as client:
        return sorted(tool.name for tool in (await client.list_tools()).tools)


def test_the_wheel_holds_every_module_and_nothing_else(wheel: Path) -> None:
    import zipfile

    archive = zipfile.ZipFile(wheel)
    names = set(archive.namelist())
    sources = {
        path.relative_to(ROOT).as_posix() for package in ("core", "server") for path in (ROOT / package).rglob("*.py")
    }
    assert sources <= names, f"missing from the wheel: {sorted(sources - names)}"
    dist_info = "-".join(wheel.name.split("-")[:2]) + ".dist-info"
    assert {name.split("/")[0] for name in names} == {"core", "server", dist_info}
    entry_points = archive.read(f"{dist_info}/entry_points.txt").decode()
    assert "workos-migrate = server.cli:main" in entry_points
    assert "workos-migrate-mcp = server.mcp:main" in entry_points


def test_the_cli_runs_from_a_fresh_environment_outside_the_checkout(
    venv: Path, workspace: Path, data_home: Path
) -> None:
    env = _host_env(data_home)
    command = venv / SCRIPTS / "workos-migrate"
    imported = subprocess.run(
        [venv / SCRIPTS / "python", "-c", "import core, server; print(core.__file__, server.__file__)"],
        capture_output=True,
        text=True,
        env=env,
        cwd=workspace,
        check=True,
    ).stdout
    assert str(ROOT) not in imported and str(venv) in imported
    version = subprocess.run([command, "--version"], capture_output=True, text=True, env=env, cwd=workspace)
    assert version.returncode == 0 and "0.1.0" in version.stdout
    validated = subprocess.run(
        [command, "validate", "--csv", "users.csv"], capture_output=True, text=True, env=env, cwd=workspace
    )
    assert validated.returncode == 0, validated.stdout + validated.stderr
    planned = subprocess.run(
        [command, "plan", "--csv", "users.csv", "--create-org-if-missing", "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=workspace,
    )
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert json.loads(planned.stdout)["users"] == 5


async def _drive(params: StdioServerParameters, workspace: Path) -> dict[str, Any]:
    """initialize, tools/list and plan_migration, as a host does; returns the plan."""
    async with Client(params, mode="legacy") as client:
        tools = sorted(tool.name for tool in (await client.list_tools()).tools)
        assert tools == await _server_tools(workspace.parent)
        plan = await call(
            client, "plan_migration", {"csv_path": str(workspace / "users.csv"), "create_org_if_missing": True}
        )
    assert plan["valid"] and plan["plan"]["users"] == 5, plan
    return plan


async def test_the_installed_mcp_server_plans_and_runs_a_job_from_the_root_directory(
    venv: Path, workspace: Path, data_home: Path
) -> None:
    python = venv / SCRIPTS / "python"
    state = data_home / "workos-migrate"  # the per-user default
    with spawned_sandbox(python=str(python)) as sandbox:
        sandbox.configure(write_limit=0, read_limit=0, global_limit=0)
        params = StdioServerParameters(
            command=str(venv / SCRIPTS / "workos-migrate-mcp"),
            env=_host_env(
                data_home,
                WORKOS_API_KEY=sandbox.api_key,
                WORKOS_BASE_URL=sandbox.url,
                MIGRATION_WORKSPACE=str(workspace),
            ),
            cwd="/",
        )
        try:
            plan = await _drive(params, workspace)
            async with Client(params, mode="legacy") as client:
                started = await call(client, "execute_migration", {"plan_id": plan["plan_id"], "rate_limit": 5000})
                status = await finished(client, started["job_id"])
                listed = await call(client, "list_migrations", {})
        finally:
            wait_for_workers(state)
        assert (status["state"], status["succeeded"]) == ("completed", 5), status
        assert len(sandbox.state()["users"]) == 5
    assert listed["state_dir"] == str(state) and (state / "jobs.sqlite3").exists()


def _uvx() -> Path:
    path = Path(sys.executable).parent / ("uvx.exe" if os.name == "nt" else "uvx")
    if not path.exists():
        pytest.fail(f"uvx is not installed next to {sys.executable}: install the dev extra (pip install -e '.[dev]')")
    return path


async def test_uvx_runs_the_mcp_server_from_the_wheel(
    wheel: Path, workspace: Path, data_home: Path, sandbox: SandboxHandle
) -> None:
    # uvx resolves the dependencies from the registry the first time; the run below must not wait on that.
    _run([_uvx(), "--from", wheel, "workos-migrate", "--version"], what="uvx --from <wheel>", env=_host_env(data_home))
    params = StdioServerParameters(
        command=str(_uvx()),
        args=["--from", str(wheel), "workos-migrate-mcp"],
        env=_host_env(
            data_home, WORKOS_API_KEY=sandbox.api_key, WORKOS_BASE_URL=sandbox.url, MIGRATION_WORKSPACE=str(workspace)
        ),
        cwd="/",
    )
    await _drive(params, workspace)
    assert (data_home / "workos-migrate" / "jobs.sqlite3").exists()


def test_pipx_installs_both_commands(wheel: Path, tmp_path: Path, data_home: Path) -> None:
    env = _host_env(
        data_home,
        PIPX_HOME=str(tmp_path / "pipx"),
        PIPX_BIN_DIR=str(tmp_path / "bin"),
        PIPX_MAN_DIR=str(tmp_path / "man"),
    )
    _run([sys.executable, "-m", "pipx", "install", wheel], what="pipx install <wheel>", env=env)
    version = subprocess.run(
        [tmp_path / "bin" / "workos-migrate", "--version"], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert version.returncode == 0 and "0.1.0" in version.stdout
    assert (tmp_path / "bin" / "workos-migrate-mcp").exists()
