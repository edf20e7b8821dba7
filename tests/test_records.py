"""Validation rules: each rule's valid and invalid cases, records, fixes, and secrets kept out of messages."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from core.csvsource import CsvSource
from core.records import Issue, RowValidator, apply_fixes, make_block_check, make_row_check, to_record
from core.rules import RULES
from core.scan import scan
from tests.conftest import BCRYPT, FIREBASE, ORG_A, ORG_B, TOTP, CsvWriter

# base64 of a 32-byte digest and an 8-byte salt
SSHA256 = "{SSHA256}ZGRkZGRkZGRkZGRkZGRkZGRkZGRkZGRkZGRkZGRkZGRzYWx0MTIzNA=="


def online_issues(path: Path, *, single_org: bool = False, require_membership: bool = False) -> list[Issue]:
    source = CsvSource(path)
    validator = RowValidator(source.columns, single_org=single_org, require_membership=require_membership)
    issues: list[Issue] = []
    for row, _, fields in source.rows():
        issues += validator.check(row, fields)[1]
    return issues


def scanned_issues(path: Path, *, single_org: bool = False, require_membership: bool = False) -> list[Issue]:
    found: list[Issue] = []
    scan(CsvSource(path), single_org=single_org, require_membership=require_membership, on_issue=found.append)
    return found


def codes(path: Path, **kwargs: bool) -> set[str]:
    """The rule codes for a file, after checking that the row-by-row and the bulk paths agree exactly."""
    online = online_issues(path, **kwargs)
    assert sorted(scanned_issues(path, **kwargs)) == sorted(online)
    return {issue.code for issue in online}


VALID = {"email": "alice@example.com"}

CASES = [
    ({}, set()),
    ({"email": "", "first_name": "Bob"}, {"email_missing"}),
    ({"email": "alice@@example.com"}, {"email_invalid"}),
    ({"email": "alice@example"}, {"email_invalid"}),
    ({"email": "  Alice@Example.COM "}, set()),
    ({"external_id": "u" * 128}, set()),
    ({"external_id": "u" * 129}, {"external_id_too_long"}),
    ({"external_id": "usr-é1"}, {"external_id_not_ascii"}),
    ({"metadata": '{"plan": "pro"}'}, set()),
    ({"metadata": "{plan: pro}"}, {"metadata_not_json"}),
    ({"metadata": '["pro"]'}, {"metadata_not_object"}),
    ({"metadata": "{" + ",".join(f'"k{i}": "v"' for i in range(51)) + "}"}, {"metadata_too_many_keys"}),
    ({"metadata": '{"' + "k" * 41 + '": "v"}'}, {"metadata_key_too_long"}),
    ({"metadata": '{"k": "' + "v" * 601 + '"}'}, {"metadata_value_too_long"}),
    ({"metadata": '{"seats": 5, "admin": true}'}, {"metadata_value_not_string"}),
    ({"email_verified": "true"}, set()),
    ({"email_verified": "FALSE"}, set()),
    ({"email_verified": "yes"}, {"email_verified_format"}),
    ({"email_verified": "maybe"}, {"email_verified_invalid"}),
    ({"password": "s3cret-Passw0rd"}, set()),
    ({"password": "s3cret", "password_hash": BCRYPT, "password_hash_type": "bcrypt"}, {"password_with_hash"}),
    ({"password_hash": BCRYPT}, {"password_hash_type_missing"}),
    ({"password_hash": "abc", "password_hash_type": "md5"}, {"password_hash_type_unsupported"}),
    ({"password_hash": BCRYPT[:-1], "password_hash_type": "bcrypt"}, {"password_hash_invalid"}),
    ({"password_hash": FIREBASE, "password_hash_type": "firebase-scrypt"}, set()),
    ({"password_hash": "$firebase-scrypt$hash=x", "password_hash_type": "firebase-scrypt"}, {"password_hash_invalid"}),
    ({"password_hash": SSHA256, "password_hash_type": "ssha256", "password_salt_position": "prefix"}, set()),
    ({"password_hash_type": "bcrypt"}, {"password_hash_type_without_hash"}),
    (
        {"password_hash": SSHA256, "password_hash_type": "ssha256", "password_salt_position": "before"},
        {"password_salt_position_invalid"},
    ),
    (
        {"password_hash": BCRYPT, "password_hash_type": "bcrypt", "password_salt_position": "suffix"},
        {"password_salt_position_not_ssha256"},
    ),
    ({"org_id": ORG_A, "role_slugs": '["admin", "billing-viewer"]'}, set()),
    ({"org_id": ORG_A, "role_slugs": "admin, member"}, set()),
    ({"org_id": ORG_A, "org_external_id": "acme"}, {"org_id_and_external_id"}),
    ({"org_id": "acme"}, {"org_id_invalid"}),
    ({"org_id": ""}, {"org_missing"}),
    ({"org_name": "Acme Inc", "role_slugs": "Admin"}, {"role_slug_invalid"}),
    ({"org_name": "Acme Inc", "role_slugs": '["admin"'}, {"role_slug_invalid"}),
    ({"role_slugs": "admin"}, {"roles_without_org"}),
    ({"totp_secret": TOTP}, set()),
    ({"totp_secret": "jbsw y3dp ehpk 3pxp"}, set()),
    ({"totp_secret": "0123456789abcdef"}, {"totp_secret_invalid"}),
]


@pytest.mark.parametrize(("row", "expected"), CASES, ids=[" ".join(sorted(e)) or "valid" for _, e in CASES])
def test_each_rule_fires_on_its_case_and_only_there(write_users: CsvWriter, row: dict, expected: set[str]) -> None:
    assert codes(write_users([{**VALID, **row}])) == expected


def test_org_missing_becomes_an_error_with_require_membership(write_users: CsvWriter) -> None:
    path = write_users([{"email": "a@x.com", "org_id": ORG_A}, {"email": "b@x.com", "org_id": ""}])
    assert codes(path) == {"org_missing"}
    assert codes(path, require_membership=True) == {"org_required"}


def test_rows_wider_or_narrower_than_the_header_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "users.csv"
    path.write_text("email,first_name\na@x.com,A,extra\nb@x.com\nc@x.com,C,\n")
    assert codes(path) == {"row_too_long", "row_too_short"}


def test_same_email_in_two_organizations_is_two_memberships_not_a_duplicate(write_users: CsvWriter) -> None:
    rows = [{"email": "a@x.com", "org_id": ORG_A}, {"email": "A@x.com", "org_id": ORG_B}]
    path = write_users(rows)
    assert codes(path) == set()
    result = scan(CsvSource(path))
    assert (result.users, result.memberships, result.users_in_several_orgs) == (1, 2, 1)


def test_same_email_twice_in_one_organization_is_a_duplicate_naming_the_first_row(write_users: CsvWriter) -> None:
    path = write_users([{"email": "a@x.com", "org_id": ORG_A}, {"email": " a@X.com", "org_id": ORG_A}])
    issues = online_issues(path)
    assert [(issue.row, issue.code) for issue in issues] == [(3, "email_duplicate_in_org")]
    assert "first on row 2" in issues[0].message
    assert codes(path) == {"email_duplicate_in_org"}


def test_single_org_mode_ignores_org_columns_and_warns_once(write_users: CsvWriter) -> None:
    path = write_users([{"email": "a@x.com", "org_id": ORG_A}, {"email": "a@x.com", "org_id": ORG_B}])
    issues = online_issues(path, single_org=True)
    assert [(issue.row, issue.code) for issue in issues] == [(1, "org_columns_ignored"), (3, "email_duplicate_in_org")]
    assert sorted(scanned_issues(path, single_org=True)) == sorted(issues)


def test_an_external_id_shared_by_two_emails_is_an_error_on_the_later_row(write_users: CsvWriter) -> None:
    rows = [
        {"email": "a@x.com", "external_id": "u1", "org_id": ORG_A},
        {"email": "a@x.com", "external_id": "u1", "org_id": ORG_B},
        {"email": "b@x.com", "external_id": "u1", "org_id": ORG_A},
    ]
    issues = online_issues(write_users(rows))
    assert [(issue.row, issue.code) for issue in issues] == [(4, "external_id_shared")]
    assert codes(write_users(rows)) == {"external_id_shared"}


def test_a_row_with_errors_does_not_claim_keys_for_later_rows(write_users: CsvWriter) -> None:
    rows = [{"email": "a@x.com", "metadata": "nope"}, {"email": "a@x.com"}]
    assert [issue.code for issue in online_issues(write_users(rows))] == ["metadata_not_json"]


def test_to_record_applies_auto_fixes_and_drops_empty_cells(write_users: CsvWriter) -> None:
    path = write_users(
        [
            {
                "email": " Alice@Example.com",
                "first_name": " Alice ",
                "email_verified": "Yes",
                "metadata": '{"seats": 5, "tags": ["a"], "plan": "pro"}',
                "password_hash_type": "bcrypt",
                "org_external_id": "acme",
                "role_slugs": "admin, admin ,member",
                "totp_secret": "jbsw y3dp ehpk 3pxp",
            }
        ]
    )
    source = CsvSource(path)
    row, _, fields = next(source.rows())
    record = to_record(row, fields, source.columns)
    assert record.email == "alice@example.com"
    assert record.first_name == "Alice"
    assert record.last_name is None
    assert record.email_verified is True
    assert record.metadata == {"seats": "5", "tags": '["a"]', "plan": "pro"}
    assert record.password_hash is None and record.password_hash_type is None
    assert record.org_external_id == "acme"
    assert record.role_slugs == ("admin", "member")
    assert record.totp_secret == TOTP


def test_user_record_repr_hides_password_hash_and_totp_secret(write_users: CsvWriter) -> None:
    path = write_users(
        [{"email": "a@x.com", "password_hash": BCRYPT, "password_hash_type": "bcrypt", "totp_secret": TOTP}]
    )
    source = CsvSource(path)
    record, _ = RowValidator(source.columns).check(2, next(source.rows())[2])
    assert record is not None and record.password_hash == BCRYPT
    assert BCRYPT not in repr(record) and TOTP not in repr(record)
    plain = to_record(
        2, ["a@x.com", "hunter2-secret"], CsvSource(write_users([{"email": "a", "password": "p"}])).columns
    )
    assert "hunter2-secret" not in repr(plain)


SECRET_ROWS = [
    {"password": "Pa55-secret-word", "password_hash": BCRYPT[:-2] + "!!", "password_hash_type": "bcrypt"},
    {"password_hash": BCRYPT[:-2] + "!!", "password_hash_type": "bcrypt", "password_salt_position": "x"},
    {"password_hash": "$firebase-scrypt$hash=c2VjcmV0", "password_hash_type": "firebase-scrypt"},
    {"password_hash": "secret-md5-hash", "password_hash_type": "md5"},
    {"totp_secret": "not-base32-secret!"},
]


@pytest.mark.parametrize("row", SECRET_ROWS)
def test_issue_messages_never_contain_a_password_hash_or_totp_secret(write_users: CsvWriter, row: dict) -> None:
    issues = online_issues(write_users([{"email": "a@x.com", **row}]))
    assert issues
    secrets = [value for name, value in row.items() if name in ("password", "password_hash", "totp_secret")]
    for issue in issues:
        for secret in secrets:
            assert secret not in issue.message
            assert secret[:12] not in issue.message


def test_apply_fixes_changes_only_fixable_cells(write_users: CsvWriter) -> None:
    path = write_users(
        [{"email": "a@x.com", "email_verified": "1", "metadata": '{"n": 5}', "password_hash_type": "bcrypt"}]
    )
    source = CsvSource(path)
    row, _, fields = next(source.rows())
    _, issues = RowValidator(source.columns).check(row, fields)
    assert apply_fixes(fields, source.columns, issues) == ["a@x.com", "true", '{"n": "5"}', ""]
    assert apply_fixes(fields, source.columns, []) is None


def test_every_rule_has_a_summary_and_an_example_fix() -> None:
    for rule in RULES.values():
        assert rule.summary and rule.example_fix
        assert rule.severity in ("error", "warning")


values = {
    "email": st.sampled_from(["a@x.com", "B@x.com ", "b@x.com", "bad@", "", "c@y.org"]),
    "org_id": st.sampled_from([ORG_A, ORG_B, "", "acme"]),
    "org_external_id": st.sampled_from(["", "", "ext-1"]),
    "external_id": st.sampled_from(["", "u1", "u2", "é"]),
    "email_verified": st.sampled_from(["", "true", "yes", "maybe", "0", "TRUE"]),
    "password_hash": st.sampled_from(["", BCRYPT, "short"]),
    "password_hash_type": st.sampled_from(["", "bcrypt", "md5"]),
    "metadata": st.sampled_from(["", '{"a": "b"}', '{"a": 1}', "nope", '{"a": true, "b": "c"}']),
    "role_slugs": st.sampled_from(["", "admin", "Admin"]),
}
rows_strategy = st.lists(st.fixed_dictionaries(values), max_size=12)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=rows_strategy, single_org=st.booleans())
@example(rows=[dict.fromkeys(values, "")], single_org=True)  # only blank records: no column to ignore (found here)
def test_bulk_scan_and_row_by_row_validation_always_agree(write_users: CsvWriter, rows: list, single_org: bool) -> None:
    if not rows:
        return
    path = write_users(rows)
    assert sorted(scanned_issues(path, single_org=single_org)) == sorted(online_issues(path, single_org=single_org))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=rows_strategy, single_org=st.booleans())
def test_a_block_proven_clean_has_no_issue_row_by_row(write_users: CsvWriter, rows: list, single_org: bool) -> None:
    if not rows:
        return
    source = CsvSource(write_users(rows))
    block = [fields for _, _, fields in source.rows()]
    if make_block_check(source.columns, single_org=single_org)(block) is not None:
        check = make_row_check(source.columns, single_org=single_org)
        assert all(check(row, fields)[2] is None for row, fields in enumerate(block, 2))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=rows_strategy, single_org=st.booleans())
def test_the_warnings_a_block_proves_are_exactly_the_row_checks(
    write_users: CsvWriter, rows: list, single_org: bool
) -> None:
    if not rows:
        return
    source = CsvSource(write_users(rows))
    block = [fields for _, _, fields in source.rows()]
    proof = make_block_check(source.columns, single_org=single_org, warnings=True)(block)
    if proof is not None:
        check = make_row_check(source.columns, single_org=single_org)
        by_row = sorted(
            (index, issue.code) for index, fields in enumerate(block) for issue in check(index + 2, fields)[2] or ()
        )
        proved = sorted((index, code) for code, indices in proof[3].items() for index in indices)
        assert proved == by_row
