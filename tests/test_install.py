"""The package as users install it: a wheel built from this checkout and installed outside it with pip, uvx and
pipx runs the CLI, the sandbox and the MCP server (started from ``/`` as desktop hosts start it) with no file
of the repository.

The wheel is built once per session. Installing needs the package registry (or pip's wheel cache): when the
registry cannot be reached, these tests skip and say so; any other install failure fails them.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from core.workos.sandbox import SandboxHandle, spawned_sandbox
from tests.install_support import (
    ROOT,
    SCRIPTS,
    USERS,
    dev_command,
    host_env,
    plan_as_a_host,
    run_step,
    users_workspace,
)
from tests.mcp_support import call, finished, wait_for_workers

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="session")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment outside the checkout with the wheel installed by pip."""
    target = tmp_path_factory.mktemp("venv") / "env"
    run_step([sys.executable, "-m", "venv", "--without-pip", target], what="python -m venv")
    python = target / SCRIPTS / "python"
    # This pip installs into the new environment (--python): the same install, without seeding pip into it.
    run_step([sys.executable, "-m", "pip", "--python", python, "install", "-q", wheel], what="pip install <wheel>")
    return target


@pytest.fixture
def data_home(tmp_path: Path) -> Path:
    """The user's data directory (``XDG_DATA_HOME``) for one test."""
    return tmp_path / "data"


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return users_workspace(tmp_path / "migration")


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
    env = host_env(data_home)
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
    assert json.loads(planned.stdout)["users"] == USERS


async def test_the_installed_mcp_server_plans_and_runs_a_job_from_the_root_directory(
    venv: Path, workspace: Path, data_home: Path
) -> None:
    python = venv / SCRIPTS / "python"
    state = data_home / "workos-migrate"  # the per-user default
    with spawned_sandbox(python=str(python)) as sandbox:
        sandbox.configure(write_limit=0, read_limit=0, global_limit=0)
        params = StdioServerParameters(
            command=str(venv / SCRIPTS / "workos-migrate-mcp"),
            env=host_env(
                data_home,
                WORKOS_API_KEY=sandbox.api_key,
                WORKOS_BASE_URL=sandbox.url,
                MIGRATION_WORKSPACE=str(workspace),
            ),
            cwd="/",
        )
        try:
            plan = await plan_as_a_host(params, workspace)
            async with Client(params, mode="legacy") as client:
                started = await call(client, "execute_migration", {"plan_id": plan["plan_id"], "rate_limit": 5000})
                status = await finished(client, started["job_id"])
                listed = await call(client, "list_migrations", {})
        finally:
            wait_for_workers(state)
        assert (status["state"], status["succeeded"]) == ("completed", USERS), status
        assert len(sandbox.state()["users"]) == USERS
    assert [job["job_id"] for job in listed["jobs"]] == [started["job_id"]] and (state / "jobs.sqlite3").exists()


async def test_uvx_runs_the_mcp_server_from_the_wheel(
    wheel: Path, workspace: Path, data_home: Path, sandbox: SandboxHandle
) -> None:
    # uvx resolves the dependencies from the registry the first time; the run below must not wait on that.
    warm_up = [dev_command("uvx"), "--from", wheel, "workos-migrate", "--version"]
    run_step(warm_up, what="uvx --from <wheel>", env=host_env(data_home))
    params = StdioServerParameters(
        command=str(dev_command("uvx")),
        args=["--from", str(wheel), "workos-migrate-mcp"],
        env=host_env(
            data_home, WORKOS_API_KEY=sandbox.api_key, WORKOS_BASE_URL=sandbox.url, MIGRATION_WORKSPACE=str(workspace)
        ),
        cwd="/",
    )
    await plan_as_a_host(params, workspace)
    assert (data_home / "workos-migrate" / "jobs.sqlite3").exists()


def test_pipx_installs_both_commands(wheel: Path, tmp_path: Path, data_home: Path) -> None:
    env = host_env(
        data_home,
        PIPX_HOME=str(tmp_path / "pipx"),
        PIPX_BIN_DIR=str(tmp_path / "bin"),
        PIPX_MAN_DIR=str(tmp_path / "man"),
    )
    run_step([sys.executable, "-m", "pipx", "install", wheel], what="pipx install <wheel>", env=env)
    version = subprocess.run(
        [tmp_path / "bin" / "workos-migrate", "--version"], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert version.returncode == 0 and "0.1.0" in version.stdout
    assert (tmp_path / "bin" / "workos-migrate-mcp").exists()


def test_every_json_set_up_in_the_docs_parses_and_runs_this_wheel() -> None:
    import tomllib

    version = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    doc = (ROOT / "docs" / "mcp-clients.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```json\n(.*?)```", doc, flags=re.S)
    assert len(blocks) >= 4  # Desktop on macOS and Windows, VS Code, Cursor
    for block in blocks:
        config = json.loads(block)  # what a user pastes must parse
        (server,) = (config.get("mcpServers") or config["servers"]).values()
        command = [server["command"], *server.get("args", [])]
        assert command[-1] == "workos-migrate-mcp", command
        wheels = {Path(part.replace("\\", "/")).name for part in command if part.endswith(".whl")}
        assert wheels <= {f"workos_migrate-{version}-py3-none-any.whl"}, wheels
        assert "sk_live_" not in block
