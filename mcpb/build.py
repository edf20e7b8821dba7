"""``make bundle``: build the Claude Desktop Extension, ``dist/workos-migrate-<version>.mcpb``.

The bundle is an MCPB of server type ``uv`` (manifest 0.4): it carries this checkout's wheel, a
``pyproject.toml`` that depends on it, a ``uv.lock`` pinning every dependency for every platform, the
manifest, its icon and a two-line entry point. The host runs it with ``uv run --frozen``, which picks (or
fetches) a Python 3.11+ and installs the locked wheels for the user's platform; compiled dependencies
(pydantic-core, orjson, httptools) cannot be bundled portably, which is why not type ``python``. The
official packer (``npx @anthropic-ai/mcpb pack``) validates the manifest and zips the staged directory.

Needs uv (the dev extra), npm and the package registries. Run: ``python mcpb/build.py [--out dist]``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

__all__ = ["PACKER", "BundleError", "build", "main"]

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = Path(__file__).resolve().parent / "manifest.json"
PACKER = "@anthropic-ai/mcpb@2.1.2"
"""The official packer, pinned: ``npx --yes`` fetches it once into npm's cache."""

_ENTRY_POINT = '''\
"""The Desktop Extension's entry point: the workos-migrate MCP server over stdio."""

from server.mcp import main

main()
'''


class BundleError(Exception):
    """A step of the build failed; the message says which and what it printed."""


def _project() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return {"name": project["name"], "version": project["version"], "requires_python": project["requires-python"]}


def _run(command: list[str], *, what: str, cwd: Path | None = None) -> None:
    result = subprocess.run(command, capture_output=True, text=True, cwd=cwd)
    if result.returncode != 0:
        raise BundleError(f"{what} failed (exit {result.returncode}):\n{result.stdout}\n{result.stderr}".rstrip())


def _npx() -> str:
    npx = shutil.which("npx")
    if npx is None:
        raise BundleError("npx not found: install Node.js and npm to pack the bundle")
    return npx


def _pyproject(project: dict[str, str], wheel: Path) -> str:
    return f"""\
# The Desktop Extension's environment: the bundled wheel and its dependencies, pinned in uv.lock.
[project]
name = "{project["name"]}-extension"
version = "{project["version"]}"
requires-python = "{project["requires_python"]}"
dependencies = ["{project["name"]}=={project["version"]}"]

[tool.uv]
package = false

[tool.uv.sources]
{project["name"]} = {{ path = "{wheel.name}" }}
"""


def stage(directory: Path, *, wheel: Path | None = None) -> Path:
    """Fill ``directory`` (emptied first) with what the bundle holds; returns it.

    ``wheel`` is a wheel of this checkout already built; without it one is built. Raises ``BundleError``.
    """
    project = _project()
    manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    if manifest["version"] != project["version"]:
        raise BundleError(
            f"mcpb/manifest.json has version {manifest['version']} but pyproject.toml {project['version']}: "
            "give both the same version"
        )
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    if wheel is None:
        _run([sys.executable, "-m", "build", "--wheel", "--outdir", str(directory), str(ROOT)], what="python -m build")
        (wheel,) = directory.glob("*.whl")
    else:
        shutil.copy2(wheel, directory / wheel.name)
    shutil.copy2(MANIFEST, directory / "manifest.json")
    shutil.copy2(MANIFEST.parent / manifest["icon"], directory / manifest["icon"])
    (directory / "main.py").write_text(_ENTRY_POINT, encoding="utf-8")
    (directory / "pyproject.toml").write_text(_pyproject(project, wheel), encoding="utf-8")
    _run([sys.executable, "-m", "uv", "lock", "--quiet"], what="uv lock", cwd=directory)
    return directory


def build(out: Path, *, wheel: Path | None = None, staging: Path | None = None) -> Path:
    """Build ``out/workos-migrate-<version>.mcpb`` and return its path. Raises ``BundleError``."""
    project = _project()
    directory = stage(staging or ROOT / "build" / "mcpb", wheel=wheel)
    out.mkdir(parents=True, exist_ok=True)
    bundle = out.resolve() / f"{project['name']}-{project['version']}.mcpb"
    _run([_npx(), "--yes", PACKER, "pack", str(directory), str(bundle)], what="mcpb pack")
    return bundle


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python mcpb/build.py", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="directory for the .mcpb (default: dist)")
    parser.add_argument("--wheel", type=Path, help="a wheel of this checkout already built")
    parser.add_argument("--staging", type=Path, help="directory to stage the bundle in (default: build/mcpb)")
    args = parser.parse_args(argv)
    try:
        bundle = build(args.out, wheel=args.wheel, staging=args.staging)
    except BundleError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    sys.stdout.write(f"{bundle}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
