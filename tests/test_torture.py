"""The torture run at CI size: faults on every write, three SIGKILLs, resume, and every invariant checked.

``TORTURE_ROWS`` changes the size; ``bench/torture_bench.py`` runs the 20,000-row version.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import anyio
import pytest

from core.store import JobStore, MembershipAction, UndoState
from core.undo import run_undo
from core.verify import DiscrepancyKind, verify_migration
from core.workos.sandbox import SandboxHandle
from tests.torture_scenario import WRITE_ROUTES, run_torture

pytestmark = pytest.mark.torture


def test_killed_and_faulted_import_ends_exactly_as_the_csv_says(sandbox: SandboxHandle, tmp_path: Path) -> None:
    report = run_torture(sandbox, tmp_path, rows=int(os.environ.get("TORTURE_ROWS", "2000")), kills=3)
    assert report.problems == []
    assert len(report.transient_rows) <= 2, report.transient_rows  # resent by a resume; about 2 % of runs have one
    assert report.kills == 3
    assert report.faults_seen["5xx"] > 0 and report.faults_seen["dropped"] > 0 and report.faults_seen["429"] > 0
    store = JobStore.open(tmp_path / "checkpoints")
    out = tmp_path / "discrepancies.csv"
    verified = anyio.run(
        lambda: verify_migration(store, api_key=sandbox.api_key, job_id=report.job_id, discrepancies=out)
    )
    assert verified.invalid == len(report.invalid_rows) and verified.checked == report.rows - verified.invalid
    assert verified.recorded_done_missing == 0
    # All that differs is what the default policies keep: memberships that existed before the job with other
    # roles, and users that existed before it (adopted as they are, so without the file's first name).
    existed = {o.row for o in store.iter_rows(report.job_id) if o.membership_action == MembershipAction.EXISTED}
    before = {user["email"] for user in report.before["users"]}
    with out.open() as handle:
        for line in csv.DictReader(handle):
            if line["kind"] == DiscrepancyKind.ROLES_DIFFER:
                assert int(line["row"]) in existed, line
            else:
                assert line["kind"] == DiscrepancyKind.NAME_DIFFERS and line["email"] in before, line


def test_undo_of_a_killed_and_faulted_import_restores_the_environment(sandbox: SandboxHandle, tmp_path: Path) -> None:
    report = run_torture(sandbox, tmp_path, rows=int(os.environ.get("TORTURE_ROWS", "2000")) // 2, kills=2, seed=7)
    assert report.problems == [] and report.kills >= 1
    deletes = ("DELETE /user_management/users/{user_id}", "DELETE /user_management/organization_memberships/{om_id}")
    sandbox.configure(
        faults=[
            *({"route": route, "kind": "fail_after", "rate": 0.05} for route in deletes),
            *({"route": route, "kind": "fail_before", "rate": 0.02} for route in WRITE_ROUTES),
        ]
    )
    store = JobStore.open(tmp_path / "checkpoints")
    undone = anyio.run(lambda: run_undo(store, report.job_id, api_key=sandbox.api_key))
    assert undone.state is UndoState.COMPLETED and undone.failed == 0
    sandbox.configure(faults=[])
    after = sandbox.state()
    assert {key: after[key] for key in ("users", "organizations", "organization_memberships", "auth_factors")} == {
        key: report.before[key] for key in ("users", "organizations", "organization_memberships", "auth_factors")
    }
