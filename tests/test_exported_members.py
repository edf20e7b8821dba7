"""core's public surface: everything the front doors use is exported, and core imports no front door."""

from __future__ import annotations

import subprocess
import sys

import core


def test_all_exports_exist_and_every_public_name_is_exported() -> None:
    public = {name for name in dir(core) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(core, name)).__name__ == "module"}
    assert set(core.__all__) == public - modules
    for name in core.__all__:
        assert getattr(core, name) is not None


def test_importing_core_does_not_import_server_mcp_click_or_rich() -> None:
    code = (
        "import sys, core, core.planner, core.validation, core.orchestrator; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'server', 'mcp', 'click', 'rich'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
