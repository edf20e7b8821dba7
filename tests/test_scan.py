"""scan(): the two-process read gives exactly the single-process result, whatever sits at the split."""

from __future__ import annotations

from pathlib import Path

from core.csvsource import CsvSource
from core.scan import ScanResult, scan
from tests.conftest import BCRYPT, ORG_A, ORG_B, CsvWriter


def summary(result: ScanResult) -> tuple:
    issues = {code: (tally.count, tally.rows, tally.message) for code, tally in result.issues.items()}
    return (
        result.rows,
        result.last_row,
        result.invalid_rows,
        result.users,
        result.memberships,
        result.users_in_several_orgs,
        sorted(result.organizations),
        dict(result.hash_types),
        result.totp_users,
        result.issue_count,
        issues,
    )


def both_ways(path: Path, **kwargs: bool) -> ScanResult:
    source = CsvSource(path)
    alone = scan(source, processes=1, **kwargs)
    split = scan(source, processes=2, **kwargs)
    assert summary(split) == summary(alone)
    return split


def test_two_processes_agree_with_one_on_a_file_with_issues_in_both_halves(write_users: CsvWriter) -> None:
    rows = []
    for index in range(3000):
        row = {
            "email": f"u{index % 2500}@x.com",
            "org_id": ORG_A if index < 2500 else ORG_B,
            "password_hash": BCRYPT,
            "password_hash_type": "bcrypt",
            "external_id": f"e{index % 2500}",
            "totp_secret": "JBSWY3DPEHPK3PXP" if index % 7 == 0 else "",
        }
        if index in (10, 2900):
            row["email"] = "not-an-email"
        if index in (1200, 2950):
            row["metadata"] = '{"n": 1}'
        rows.append(row)
        if index in (100, 2700):
            rows.append({**row, "external_id": row["external_id"]})
        if index == 2800:
            rows.append({**row, "email": "someone@else.com"})
        if index == 1500:
            rows.append({"email": ""})
    result = both_ways(write_users(rows))
    assert result.issues["email_invalid"].rows == [12, 2906]
    assert result.issues["email_duplicate_in_org"].count == 2
    assert result.issues["external_id_shared"].count == 1
    assert result.users_in_several_orgs == 498  # rows 2900 and 2950 are invalid


def test_a_quoted_field_spanning_the_middle_falls_back_to_one_process(write_users: CsvWriter) -> None:
    rows = [{"email": f"u{i}@x.com", "first_name": "line\n" * 40 if i == 50 else "N"} for i in range(100)]
    path = write_users(rows)
    middle = CsvSource(path).midpoint()
    assert middle is not None and b"line\n" in path.read_bytes()[middle - 10 : middle + 10]
    assert both_ways(path).rows == 100


def test_single_org_and_user_only_files_split_the_same_way(write_users: CsvWriter) -> None:
    rows = [{"email": f"u{i % 900}@x.com", "first_name": "N"} for i in range(1000)]
    path = write_users(rows)
    assert both_ways(path).issues["email_duplicate_in_org"].count == 100
    assert both_ways(path, single_org=True).memberships == 900


def test_two_processes_are_used_only_for_big_files_with_an_idle_core(monkeypatch) -> None:
    from core import scan as module

    monkeypatch.setattr(module.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(module.os, "getloadavg", lambda: (0.9, 0.0, 0.0))
    assert module.two_processes_help(module.PARALLEL_MIN_BYTES)
    assert not module.two_processes_help(module.PARALLEL_MIN_BYTES - 1)
    monkeypatch.setattr(module.os, "getloadavg", lambda: (1.8, 0.0, 0.0))
    assert not module.two_processes_help(module.PARALLEL_MIN_BYTES)
    monkeypatch.setattr(module.os, "cpu_count", lambda: 1)
    monkeypatch.setattr(module.os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert not module.two_processes_help(module.PARALLEL_MIN_BYTES)
