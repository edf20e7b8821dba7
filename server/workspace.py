"""The folders an MCP tool may read and write, and the checks every file argument passes.

The workspace fails closed. It is ``MIGRATION_WORKSPACE`` when the operator set it; otherwise the client's
MCP roots, when the client offers them; otherwise a folder of the server's own in the user's home
(``~/workos-migrate``, created 0700). It is never ``/`` nor a whole home directory, whatever the working
directory the host started the server in (Claude Desktop starts servers in ``/``). Every refusal names the
workspace, so the assistant can tell the user where to put the file.

Reading: the path, symlinks resolved, must be inside a workspace folder and outside the state directory.
Writing: the same, the target must not be a symlink, must not be in the state directory nor be a file
the caller protects (a job's source CSV, the input of the call), and must not exist unless the call asked
for ``overwrite``. The write itself is ``core.outfile.private_output``'s (exclusive, 0600). Which folder
applies to a call (roots are asked per call) is ``server.mcp``'s business.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

from core.errors import OptionsError
from core.platform import file_uri_path
from server.untrusted import fence, unfence

__all__ = ["DEFAULT_FOLDER_NAME", "Workspace", "default_folder", "too_broad"]

DEFAULT_FOLDER_NAME = "workos-migrate"
"""The server's own folder in the user's home, used when neither the operator nor the client names one."""

Origin = Literal["MIGRATION_WORKSPACE", "client roots", "server folder"]


def default_folder(environ: Mapping[str, str]) -> Path:
    """``~/workos-migrate`` (``HOME`` from ``environ``, else the user's home)."""
    return Path(environ.get("HOME") or Path.home()) / DEFAULT_FOLDER_NAME


def too_broad(folder: Path, environ: Mapping[str, str] | None = None) -> bool:
    """True for a folder no tool may be given as a whole: the file-system root or a home directory."""
    env = os.environ if environ is None else environ
    resolved = folder.expanduser().resolve()
    if resolved.parent == resolved:
        return True
    homes = {Path.home().resolve()} | ({Path(env["HOME"]).resolve()} if env.get("HOME") else set())
    # Anyone's home: /home/NAME, /Users/NAME, or on Windows C:\Users\NAME (the Users folder of the drive).
    users = {home.parent for home in homes if home.parent.name.lower() == "users"}
    return resolved in homes or resolved.parent in {Path("/home"), Path("/Users"), *users}


def roots_to_folders(uris: Collection[str]) -> tuple[Path, ...]:
    """The usable folders among a client's roots: existing local directories that are not too broad."""
    folders = []
    for uri in uris:
        parsed = urlparse(uri)
        if parsed.scheme != "file":
            continue
        folder = Path(file_uri_path(parsed.path))
        if folder.is_dir() and not too_broad(folder):
            folders.append(folder.resolve())
    return tuple(folders)


@dataclass(frozen=True, slots=True)
class Workspace:
    """The folders of one call's file arguments, where they come from, and the state directory they exclude."""

    folders: tuple[Path, ...]
    origin: Origin
    state_dir: Path

    @classmethod
    def of(cls, folders: Collection[Path], origin: Origin, state_dir: Path) -> Workspace:
        resolved = tuple(folder.expanduser().resolve() for folder in folders)
        if origin == "server folder":
            for folder in resolved:
                folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        return cls(resolved, origin, state_dir.expanduser().resolve())

    def describe(self) -> str:
        """The workspace, for a refusal: which folders, and why those."""
        names = " and ".join(str(folder) for folder in self.folders)
        why = {
            "MIGRATION_WORKSPACE": "set by MIGRATION_WORKSPACE",
            "client roots": "the folders this client shares with the server",
            "server folder": (
                "the server's own folder, as MIGRATION_WORKSPACE is not set and the client shares no folder: ask the "
                "user to put the file there, or to set MIGRATION_WORKSPACE in the server's configuration"
            ),
        }[self.origin]
        return f"the workspace {names} ({why})"

    def readable(self, value: str, *, argument: str) -> Path:
        """``value`` as an absolute path to read, symlinks resolved. Raises ``OptionsError``."""
        resolved = self._absolute(value).resolve()
        self._inside(resolved, value, argument)
        return resolved

    def writable(self, value: str, *, argument: str, overwrite: bool, protected: Collection[Path] = ()) -> Path:
        """``value`` as an absolute path to write a new file at (or replace one, with ``overwrite``).

        ``protected`` are files no tool may write (a job's source CSV, the call's input). Raises
        ``OptionsError``.
        """
        candidate = self._absolute(value)
        target = candidate.parent.resolve() / candidate.name
        self._inside(target, value, argument)
        shown = fence(value)
        if candidate.is_symlink():
            raise OptionsError(f"{argument} {shown} is a symbolic link: give the path of a new file instead")
        if target.is_dir():
            raise OptionsError(f"{argument} {shown} is a directory: give the path of a file")
        if target in {path.resolve() for path in protected}:
            raise OptionsError(
                f"{argument} {shown} is the source CSV of a migration job or the input of this call: it is never "
                "written; choose another name"
            )
        if target.exists() and not overwrite:
            raise OptionsError(
                f"{argument} {shown} already exists and was not changed: choose another name, or pass "
                "overwrite=true if the user wants it replaced"
            )
        return target

    def _absolute(self, value: str) -> Path:
        candidate = Path(unfence(value)).expanduser()
        return candidate if candidate.is_absolute() else self.folders[0] / candidate

    def _inside(self, path: Path, value: str, argument: str) -> None:
        if not any(path.is_relative_to(folder) for folder in self.folders):
            raise OptionsError(f"{argument} {fence(value)} is outside {self.describe()}: give a path inside it")
        if path.is_relative_to(self.state_dir):
            raise OptionsError(
                f"{argument} {fence(value)} is in the server's state directory {self.state_dir}, which no tool reads "
                f"or writes: give a file elsewhere in {self.describe()}"
            )
