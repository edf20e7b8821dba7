"""The docs keep up with the code: every rule code, CLI command and flag is documented, and the command
blocks of the pages that can run against the sandbox run as written."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import click
import httpx2
import pytest
from click.testing import CliRunner

from core.rules import RULES
from core.workos.sandbox import SandboxHandle
from server.cli import main

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_every_rule_code_is_in_the_csv_format_page() -> None:
    page = (DOCS / "csv-format.md").read_text()
    missing = [code for code in RULES if f"`{code}`" not in page]
    assert missing == []


def test_every_cli_command_has_help_text_and_a_section() -> None:
    page = (DOCS / "cli.md").read_text()
    for name, command in main.commands.items():
        assert command.help and command.help.strip()
        if name != "analyze-errors":
            assert f"\n## {name}\n" in page, name


def test_every_plan_flag_is_in_the_cli_page_with_help_text() -> None:
    page = (DOCS / "cli.md").read_text()
    for param in main.commands["plan"].params:
        if isinstance(param, click.Option) and param.name != "help":
            assert param.help
            assert f"`{param.opts[0]}" in page, param.opts[0]


# -- the docs' command blocks run as written --------------------------------------------------------------

ROOT = DOCS.parent
RUN_PAGES = ("README.md", "docs/quickstart.md", "docs/cli.md", "docs/sandbox.md", "docs/errors.md")
"""The pages whose ```bash / ```console blocks are run against the sandbox."""
_FENCE = re.compile(r"(?:<!-- docs-test: (?P<marker>[^>]*?) -->\n+)?```(?P<lang>[a-z]*)\n(?P<body>.*?)```", re.S)
_USERS_CSV = (
    "email,first_name,org_external_id,org_name\nada@acme.example,Ada,acme,Acme\nbob@acme.example,Bob,acme,Acme\n"
)


@dataclass(frozen=True)
class Block:
    page: str
    line: int
    commands: list[str]
    skip: str | None
    exits: list[int] | None


def command_blocks(page: str) -> list[Block]:
    """The shell blocks of ``page``: their commands (console: the ``$`` lines), skip reason and exit codes.

    A block may be preceded by ``<!-- docs-test: skip REASON -->`` (it cannot run here) or
    ``<!-- docs-test: exits 0 1 ... -->`` (one code per command; without it every command must exit 0).
    """
    text = (ROOT / page).read_text()
    blocks = []
    for match in _FENCE.finditer(text):
        if match["lang"] not in ("bash", "console", "sh"):
            continue
        lines = match["body"].splitlines()
        if match["lang"] == "console":
            lines = _console_commands(lines)
        commands: list[str] = []
        for line in lines:
            if commands and commands[-1].endswith("\\"):
                commands[-1] += "\n" + line
            elif line.strip() and not line.lstrip().startswith("#"):
                commands.append(line)
        marker = match["marker"] or ""
        skip = marker.removeprefix("skip").strip() if marker.startswith("skip") else None
        exits = [int(code) for code in marker.removeprefix("exits").split()] if marker.startswith("exits") else None
        blocks.append(Block(page, text.count("\n", 0, match.start("body")), commands, skip, exits))
    return blocks


def _console_commands(lines: list[str]) -> list[str]:
    """The ``$`` lines, each with its continuation lines (after a backslash, or inside an open quote)."""
    kept: list[str] = []
    for line in lines:
        if line.startswith("$ "):
            kept.append(line[2:])
        elif kept and (kept[-1].endswith("\\") or not _complete(kept[-1])):
            kept[-1] += "\n" + line
    return kept


def _complete(command: str) -> bool:
    try:
        shlex.split(command)
    except ValueError:  # a quote still open
        return False
    return True


def test_every_doc_block_that_cannot_run_says_why() -> None:
    skipped = [
        (block.page, block.line, block.skip) for page in RUN_PAGES for block in command_blocks(page) if block.skip
    ]
    print("\n".join(f"not run: {page}:{line}: {why}" for page, line, why in skipped))
    assert all(why for _, _, why in skipped)
    assert {page for page, _, _ in skipped} <= set(RUN_PAGES)
    for page in RUN_PAGES:
        for block in command_blocks(page):
            assert block.commands, f"{page}:{block.line} has no command"
            assert block.exits is None or len(block.exits) == len(block.commands), f"{page}:{block.line}"


@pytest.mark.parametrize("page", RUN_PAGES)
def test_the_command_blocks_of_a_page_run_as_written(
    page: str, tmp_path: Path, sandbox: SandboxHandle, sandbox_api: httpx2.Client
) -> None:
    """One shell per page, so exports and files carry from block to block, in a directory holding the
    repository's examples/ and a users.csv. Adapted where the environment differs, and only there: the
    sandbox's address replaces 127.0.0.1:4100 / localhost:4100, `workos-migrate sandbox` (a server that
    blocks, on a fixed port) is stood in for by the test's sandbox, and `org_01H...` is an organization
    created in it."""
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    (tmp_path / "users.csv").write_text(_USERS_CSV)
    org = sandbox_api.post("/organizations", json={"name": "Acme", "external_id": "acme"}).json()["id"]
    address = sandbox.url.removeprefix("http://")
    runnable = [block for block in command_blocks(page) if block.skip is None]
    script = ["cd " + shlex.quote(str(tmp_path))]
    expected: list[tuple[str, int]] = []
    for block in runnable:
        for number, command in enumerate(block.commands):
            shown = command
            command = command.replace("http://127.0.0.1:4100", sandbox.url).replace("localhost:4100", address)
            command = command.replace("org_01H...", org)
            if command.startswith("workos-migrate sandbox"):
                command = "true  # the test's sandbox stands in"
            index = len(expected)
            script.append(f"{{ {command}\n}} >out.{index} 2>&1 </dev/null; echo $? >rc.{index}")
            expected.append((f"{page}:{block.line}: {shown}", block.exits[number] if block.exits else 0))
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "WORKOS_BASE_URL": sandbox.url,
        "WORKOS_API_KEY": sandbox.api_key,
        "COLUMNS": "120",
    }
    sandbox.configure(write_limit=0, read_limit=0, global_limit=0)
    subprocess.run(["bash", "-c", "\n".join(script)], env=env, timeout=300, check=True)
    failures = []
    for index, (where, code) in enumerate(expected):
        output = (tmp_path / f"out.{index}").read_text()
        got = int((tmp_path / f"rc.{index}").read_text())
        if got != code or "Traceback" in output or "Usage:" in output:
            failures.append(f"{where}\nexit {got}, documented {code}:\n{output}")
    assert not failures, "\n\n".join(failures)


def test_the_plan_sample_in_the_cli_page_is_the_real_output(monkeypatch: pytest.MonkeyPatch) -> None:
    page = (DOCS / "cli.md").read_text()
    command = re.search(r"What you type:\n\n```bash\n(workos-migrate plan [^\n]*)\n```", page)
    sample = re.search(r"What you see \(no API call[^\n]*\n\n```\n(.*?)```", page, re.S)
    assert command and sample
    for name in ("WORKOS_API_KEY", "WORKOS_SECRET_KEY", "WORKOS_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(main, shlex.split(command[1])[1:], catch_exceptions=False)
    assert result.exit_code == 0
    assert result.stdout == sample[1], "update the sample in docs/cli.md to this output:\n" + result.stdout


def test_the_demo_does_what_the_quickstart_says(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "server.demo"],
        cwd=ROOT,
        env={**os.environ, "TMPDIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    quickstart = (DOCS / "quickstart.md").read_text()
    assert "301 users (one invalid)" in quickstart and "300 users, 300 memberships, 3 organizations" in quickstart
    assert "Example CSV: " in done.stdout and "(301 rows, one invalid)" in done.stdout
    for call in ("plan_migration", "execute_migration", "analyze_errors", "resume_migration"):
        assert f"→ {call}(" in done.stdout
    assert "Sandbox now holds 300 users, 300 memberships and 3 organizations" in done.stdout
