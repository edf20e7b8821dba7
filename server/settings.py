"""The MCP server's settings, read once from its environment, and the rule that confines file arguments.

Everything an operator decides about the server lives here: where state is kept (``MIGRATION_STATE_DIR``),
which directory tool arguments may name (``MIGRATION_WORKSPACE``; see ``server.workspace`` for what applies
when it is not set), how writes are confirmed (``MIGRATION_CONFIRM_MODE``, ``MIGRATION_ELICIT_TIMEOUT``),
which tools exist (``MIGRATION_READ_ONLY``, ``MIGRATION_TOOLS``), the WorkOS key and base URL, and the read
and overall rates jobs use. The key is held as a ``SecretStr`` so no repr, log line or error shows it.
What the tools do is ``server.mcp``'s.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from core.errors import OptionsError
from core.options import DEFAULT_BASE_URL
from server.workspace import default_folder, too_broad

__all__ = ["ConfirmMode", "ServerSettings", "default_state_dir"]

ConfirmMode = Literal["auto", "elicit", "code"]

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})


def default_state_dir() -> Path:
    """The per-user data directory: what a server a desktop host starts from ``/`` can always find again.

    ``~/.local/share/workos-migrate`` (or under ``$XDG_DATA_HOME``) on Linux,
    ``~/Library/Application Support/workos-migrate`` on macOS, ``%LOCALAPPDATA%\\workos-migrate`` on Windows.
    """
    return Path(platformdirs.user_data_dir("workos-migrate", appauthor=False))


class ServerSettings(BaseModel):
    """How this server process behaves; built by ``from_env`` for real runs and directly in tests."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    state_dir: Path = Field(description="Job store and job files (MIGRATION_STATE_DIR).")
    workspace: Path | None = Field(
        default=None,
        description="The only directory file arguments may name (MIGRATION_WORKSPACE); None: roots, else the folder.",
    )
    default_workspace: Path = Field(
        default_factory=lambda: default_folder(os.environ),
        description="The server's own folder, used when no workspace is set and the client shares no roots.",
    )
    tools: frozenset[str] | None = Field(
        default=None, description="MIGRATION_TOOLS: register only these tools (None: every tool)."
    )
    confirm_mode: ConfirmMode = Field(default="auto", description="MIGRATION_CONFIRM_MODE.")
    read_only: bool = Field(default=False, description="MIGRATION_READ_ONLY: register no tool that writes.")
    elicit_timeout: float = Field(
        default=50.0,
        gt=0,
        le=3600,
        description="Seconds to wait for a confirmation form (MIGRATION_ELICIT_TIMEOUT); below the ~60 s hosts allow.",
    )
    api_key: SecretStr | None = Field(default=None, description="WORKOS_API_KEY (or WORKOS_SECRET_KEY).")
    base_url: str = Field(default=DEFAULT_BASE_URL, description="WORKOS_BASE_URL.")
    read_rate_limit: float | None = Field(default=None, ge=1, le=100000, description="MIGRATION_READ_RATE_LIMIT.")
    global_rate_limit: float | None = Field(default=None, ge=1, le=100000, description="MIGRATION_GLOBAL_RATE_LIMIT.")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServerSettings:
        """Read the settings from ``environ`` (default ``os.environ``); the working directory plays no part.

        Raises ``OptionsError`` naming each bad variable (a workspace of ``/`` or a whole home directory
        included).
        """
        env = os.environ if environ is None else environ
        values: dict[str, object] = {
            "state_dir": Path(env.get("MIGRATION_STATE_DIR") or default_state_dir()).expanduser(),
            "default_workspace": default_folder(env),
            "base_url": (env.get("WORKOS_BASE_URL") or DEFAULT_BASE_URL).rstrip("/"),
        }
        problems: list[str] = []
        if env.get("MIGRATION_WORKSPACE", "").strip():
            workspace = Path(env["MIGRATION_WORKSPACE"].strip()).expanduser()
            if not workspace.is_absolute():
                problems.append(f"MIGRATION_WORKSPACE must be an absolute path (got {str(workspace)!r})")
            elif too_broad(workspace, env):
                problems.append(
                    f"MIGRATION_WORKSPACE must be a folder for migration files, not {str(workspace)!r} (the root or a "
                    "whole home directory)"
                )
            values["workspace"] = workspace
        if env.get("MIGRATION_TOOLS", "").strip():
            values["tools"] = frozenset(name.strip() for name in env["MIGRATION_TOOLS"].split(",") if name.strip())
        key = env.get("WORKOS_API_KEY") or env.get("WORKOS_SECRET_KEY")
        if key:
            values["api_key"] = key
        names = {
            "confirm_mode": "MIGRATION_CONFIRM_MODE",
            "elicit_timeout": "MIGRATION_ELICIT_TIMEOUT",
            "read_rate_limit": "MIGRATION_READ_RATE_LIMIT",
            "global_rate_limit": "MIGRATION_GLOBAL_RATE_LIMIT",
        }
        for field, variable in names.items():
            if env.get(variable):
                values[field] = env[variable].strip()
        if values.get("confirm_mode") == "yes-arg":
            values["confirm_mode"] = "code"  # its earlier name: confirmations in chat, never a form
        read_only = env.get("MIGRATION_READ_ONLY", "").strip().lower()
        if read_only not in _TRUE | _FALSE:
            problems.append(f"MIGRATION_READ_ONLY must be 1 or 0 (got {read_only!r})")
        values["read_only"] = read_only in _TRUE
        try:
            settings = cls.model_validate(values)
        except ValidationError as exc:
            variables = {**names, "base_url": "WORKOS_BASE_URL"}
            for error in exc.errors(include_url=False):
                field = str(error["loc"][0]) if error["loc"] else ""
                problems.append(f"{variables.get(field, field)}: {error['msg']} (got {error.get('input')!r})")
        if problems:
            raise OptionsError(problems)
        return settings

    @property
    def key(self) -> str:
        """The WorkOS key, or an empty string when none is configured."""
        return self.api_key.get_secret_value() if self.api_key else ""
