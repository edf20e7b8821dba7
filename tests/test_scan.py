"""scan(): warnings proved in bulk count exactly what the row-by-row check counts, whatever mix of rows."""

from __future__ import annotations

from pathlib import Path

from core.csvsource import CsvSource
from core.records import Issue
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
    """The plan's scan (bulk warnings) and a scan with a hook (every issue from the row check) agree."""
    source = CsvSource(path)
    bulk = scan(source, **kwargs)
    seen: list[Issue] = []
    by_row = scan(source, on_issue=seen.append, **kwargs)
    assert summary(bulk) == summary(by_row)
    assert len(seen) == by_row.issue_count
    return bulk


def test_a_warning_on_every_row_is_counted_in_bulk_as_the_row_check_counts_it(write_users: CsvWriter) -> None:
    rows = [
        {
            "email": f"u{index}@x.com",
            "email_verified": ("yes", "no", "1", "TRUE", "")[index % 5],
            "metadata": '{"seats": 5, "plan": "pro"}' if index % 3 else "",
            "org_id": ORG_A,
            "password_hash": BCRYPT,
            "password_hash_type": "bcrypt",
        }
        for index in range(3000)
    ]
    result = both_ways(write_users(rows))
    verified, metadata = result.issues["email_verified_format"], result.issues["metadata_value_not_string"]
    assert (verified.count, verified.rows) == (1800, [2, 3, 4, 7, 8])
    assert verified.message == "Row 2, column email_verified: 'yes' is read as True"
    assert (metadata.count, metadata.rows) == (2000, [3, 4, 6, 7, 9])
    assert metadata.message == "Row 3, column metadata: metadata values of 'seats' are not strings"
    assert result.invalid_rows == 0 and result.users == 3000


def test_bulk_warnings_mix_with_errors_duplicates_and_blank_rows(write_users: CsvWriter) -> None:
    rows = []
    for index in range(3000):
        row = {
            "email": f"u{index % 2500}@x.com",
            "email_verified": "yes" if index % 2 else "true",
            "org_id": ORG_A if index < 2500 else ORG_B,
            "external_id": f"e{index % 2500}",
            "totp_secret": "JBSWY3DPEHPK3PXP" if index % 7 == 0 else "",
        }
        if index in (10, 2900):
            row["email"] = "not-an-email"
        if index in (1200, 2950):
            row["metadata"] = '{"n": 1}'
        if index == 1700:
            row["email_verified"] = "maybe"
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
    assert result.issues["email_verified_invalid"].count == 1
    assert result.users_in_several_orgs == 498  # rows 2900 and 2950 are invalid
    assert both_ways(write_users(rows), single_org=True).issues["org_columns_ignored"].count == 1


def test_single_org_and_user_only_files_count_the_same_either_way(write_users: CsvWriter) -> None:
    rows = [{"email": f"u{i % 900}@x.com", "email_verified": "y", "metadata": '{"a": true}'} for i in range(1000)]
    path = write_users(rows)
    assert both_ways(path).issues["email_duplicate_in_org"].count == 100
    assert both_ways(path, single_org=True).memberships == 900
