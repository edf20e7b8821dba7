"""The MCP server's settings, read once from its environment, and the rule that confines file arguments.

Everything an operator decides about the server lives here: where state is kept (``MIGRATION_STATE_DIR``),
which directory tool arguments may name (``MIGRATION_WORKSPACE``), how writes are confirmed
(``MIGRATION_CONFIRM_MODE``, ``MIGRATION_ELICIT_TIMEOUT``), whether write tools exist at all
(``MIGRATION_READ_ONLY``), the WorkOS key and base URL, and the read and overall rates jobs use. The key
is held as a ``SecretStr`` so no repr, log line or error shows it. What the tools do is ``server.mcp``'s.
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

__all__ = ["ConfirmMode", "ServerSettings", "default_state_dir"]

ConfirmMode = Literal["auto", "elicit", "yes-arg"]

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
    workspace: Path = Field(description="The only directory file arguments may name (MIGRATION_WORKSPACE).")
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
    def from_env(cls, environ: Mapping[str, str] | None = None, *, cwd: Path | None = None) -> ServerSettings:
        """Read the settings from ``environ`` (default ``os.environ``).

        Raises ``OptionsError`` naming each bad variable.
        """
        env = os.environ if environ is None else environ
        values: dict[str, object] = {
            "state_dir": Path(env.get("MIGRATION_STATE_DIR") or default_state_dir()).expanduser(),
            "workspace": Path(env.get("MIGRATION_WORKSPACE") or cwd or Path.cwd()).expanduser(),
            "base_url": (env.get("WORKOS_BASE_URL") or DEFAULT_BASE_URL).rstrip("/"),
        }
        problems: list[str] = []
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

    def confine(self, value: str, *, argument: str) -> Path:
        """``value`` as an absolute path inside the workspace (relative paths start there).

        Symlinks are resolved first, so a link that leads outside is refused too. Raises ``OptionsError``.
        """
        workspace = self.workspace.resolve()
        candidate = Path(value).expanduser()
        resolved = (candidate if candidate.is_absolute() else workspace / candidate).resolve()
        if not resolved.is_relative_to(workspace):
            raise OptionsError(
                f"{argument} {value!r} is outside the workspace {workspace}: give a path inside it, or start the "
                "server with MIGRATION_WORKSPACE set to the directory that holds your files"
            )
        return resolved
