"""The torture run at CI size: faults on every write, three SIGKILLs, resume, and every invariant checked.

``TORTURE_ROWS`` changes the size; ``bench/torture_bench.py`` runs the 20,000-row version.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.workos.sandbox import SandboxHandle
from tests.torture_scenario import run_torture

pytestmark = pytest.mark.torture


def test_killed_and_faulted_import_ends_exactly_as_the_csv_says(sandbox: SandboxHandle, tmp_path: Path) -> None:
    report = run_torture(sandbox, tmp_path, rows=int(os.environ.get("TORTURE_ROWS", "2000")), kills=3)
    assert report.problems == []
    assert report.kills == 3
    assert report.faults_seen["5xx"] > 0 and report.faults_seen["dropped"] > 0 and report.faults_seen["429"] > 0
