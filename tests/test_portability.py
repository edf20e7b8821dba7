"""Nothing a user runs calls POSIX-only code outside ``core/platform.py``, the one module that branches on the
platform (and is tested on both branches in tests/test_platform.py); the docs give Windows commands too."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Calls and modules that do not exist on Windows, or do something else there (os.kill(pid, 0) terminates).
POSIX_ONLY = {
    "a POSIX-only module": re.compile(r"^\s*(from|import) (resource|fcntl|pwd|grp|termios|tty|pty)\b", re.M),
    "os.kill/killpg/setsid/fork": re.compile(r"\bos\.(kill|killpg|getpgid|setsid|setpgrp|fork)\("),
    "/proc": re.compile(r"/proc/"),
    "start_new_session (detaching)": re.compile(r"start_new_session"),
    "preexec_fn": re.compile(r"preexec_fn"),
    "anyio's signal receiver (none on Windows)": re.compile(r"open_signal_receiver"),
    "SIGKILL": re.compile(r"SIGKILL"),
}
ALLOWED = {ROOT / "core" / "platform.py"}


def test_no_module_but_core_platform_makes_a_posix_only_call() -> None:
    found = []
    for path in sorted([*(ROOT / "core").rglob("*.py"), *(ROOT / "server").rglob("*.py")]):
        if path in ALLOWED:
            continue
        text = path.read_text(encoding="utf-8")
        for what, pattern in POSIX_ONLY.items():
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{path.relative_to(ROOT)}:{line}: {what}")
    assert not found, "POSIX-only calls outside core/platform.py:\n" + "\n".join(found)


def test_the_install_docs_give_windows_commands_and_paths() -> None:
    doc = (ROOT / "docs" / "mcp-clients.md").read_text(encoding="utf-8")
    for needed in (r"%APPDATA%\Claude\claude_desktop_config.json", r".venv\Scripts\workos-migrate-mcp.exe", "uvx"):
        assert needed in doc, f"docs/mcp-clients.md lacks {needed}"
    assert "not been run on a real Windows machine" in " ".join(doc.split())
