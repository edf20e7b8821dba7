"""plan(): modes, counts, the estimate model, recommendations that are true, plan_hash, and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from core import MigrationOptions, MigrationOrchestrator, plan
from core.errors import OptionsError, SourceError
from core.planner import PLAN_HASH_EXCLUDED, ApiCalls, estimate, key_kind, plan_hash
from tests.conftest import BCRYPT, ORG_A, ORG_B, TOTP, CsvWriter


def options(path: Path, **values: object) -> MigrationOptions:
    return MigrationOptions.build(csv_path=path, checkpoint_dir=path.parent / "ckpt", **values)


@pytest.fixture
def multi_org(write_users: CsvWriter) -> Path:
    rows = [
        {"email": "a@x.com", "org_id": ORG_A, "password_hash": BCRYPT, "password_hash_type": "bcrypt"},
        {"email": "a@x.com", "org_id": ORG_B, "password_hash": BCRYPT, "password_hash_type": "bcrypt"},
        {"email": "b@x.com", "org_id": ORG_A, "password_hash": "", "password_hash_type": ""},
        {"email": "c@x.com", "org_id": ORG_B, "password_hash": BCRYPT, "password_hash_type": "bcrypt"},
    ]
    return write_users(rows)


def test_multi_org_plan_counts_users_memberships_and_organizations(multi_org: Path) -> None:
    result = plan(options(multi_org), api_key="")
    assert result.mode == "multi-org" and result.org_resolution == "per-row (cached)"
    assert (result.rows, result.valid_rows, result.invalid_rows) == (4, 4, 0)
    assert (result.users, result.memberships, result.users_in_several_orgs, result.organizations) == (3, 4, 1, 2)
    assert result.hash_types == {"bcrypt": 3}
    assert result.api_calls.model_dump() == {
        "user_creates": 3,
        "membership_creates": 4,
        "totp_enrollments": 0,
        "organization_lookups": 2,
        "organization_creates_max": 0,
        "writes": 7,
        "total": 9,
    }
    assert result.valid and result.errors == [] and result.chunks == 1


def test_org_name_column_alone_makes_a_file_multi_org(write_users: CsvWriter) -> None:
    path = write_users([{"email": "a@x.com", "org_name": "Acme"}, {"email": "b@x.com", "org_name": "Globex"}])
    result = plan(options(path, create_org_if_missing=True))
    assert result.mode == "multi-org"
    assert result.organizations == 2 and result.api_calls.organization_creates_max == 2
    assert any("named only by org_name" in warning for warning in result.warnings)


def test_an_org_option_makes_single_org_mode_and_ignores_org_columns(multi_org: Path) -> None:
    result = plan(options(multi_org, org_id=ORG_A))
    assert result.mode == "single-org" and result.org_resolution == "upfront"
    assert result.organizations == 1 and result.api_calls.organization_lookups == 1
    assert [issue.code for issue in result.issues] == ["email_duplicate_in_org", "org_columns_ignored"]
    assert not result.valid


def test_a_file_without_org_columns_or_options_is_user_only(write_users: CsvWriter) -> None:
    path = write_users([{"email": "a@x.com", "totp_secret": TOTP}, {"email": "b@x.com", "totp_secret": ""}])
    result = plan(options(path))
    assert result.mode == "user-only" and result.org_resolution == "none"
    assert (result.memberships, result.organizations, result.totp_users) == (0, 0, 1)
    assert result.api_calls.total == 3


def test_require_membership_without_any_organization_makes_the_plan_invalid(write_users: CsvWriter) -> None:
    result = plan(options(write_users([{"email": "a@x.com"}]), require_membership=True))
    assert not result.valid
    assert "--require-membership needs an organization" in result.errors[0]


def test_row_errors_make_the_plan_invalid_and_are_grouped_with_example_rows(write_users: CsvWriter) -> None:
    rows = [{"email": f"bad{i}", "first_name": "x"} for i in range(7)] + [{"email": "ok@x.com", "first_name": "y"}]
    result = plan(options(write_users(rows)))
    assert not result.valid and result.invalid_rows == 7 and result.error_count == 7
    [group] = result.issues
    assert (group.code, group.count, group.rows) == ("email_invalid", 7, [2, 3, 4, 5, 6])
    assert result.recommendations == ["Add --errors-out errors.jsonl to capture failures for retry"]


def test_header_only_file_plans_nothing_to_do(write_csv: CsvWriter) -> None:
    result = plan(options(write_csv(["email", "org_id"])))
    assert result.valid and result.rows == 0 and result.estimate.human == "nothing to do"
    assert "no data rows" in result.warnings[0]


def test_missing_file_raises_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="not found"):
        plan(options(tmp_path / "nope.csv"))


def test_unwritable_errors_out_raises_options_error(multi_org: Path) -> None:
    with pytest.raises(OptionsError, match="--errors-out is a directory"):
        plan(options(multi_org, errors_out=multi_org.parent))


def calls(writes: int, reads: int = 0) -> ApiCalls:
    return ApiCalls(
        user_creates=writes,
        membership_creates=0,
        totp_enrollments=0,
        organization_lookups=reads,
        organization_creates_max=0,
        writes=writes,
        total=writes + reads,
    )


def opts(**values: object) -> MigrationOptions:
    return MigrationOptions.build(csv_path="users.csv", **values)


def test_estimate_is_bound_by_the_write_rate_limit_not_the_document_formula() -> None:
    timing = estimate(calls(2_000_000), 1_000_000, opts(concurrency=50, workers=4))
    assert timing.bottleneck == "write rate limit"
    assert timing.seconds == 40_000.0 and timing.human == "~11 hours"
    assert timing.document_formula_seconds == 1_000_000 / (20 * 5 * 4)


def test_estimate_is_bound_by_concurrency_when_too_few_requests_are_in_flight() -> None:
    timing = estimate(calls(10_000), 10_000, opts(concurrency=2))
    assert timing.bottleneck == "concurrency" and timing.seconds == 1000.0


def test_estimate_is_bound_by_the_overall_limit_when_reads_dominate() -> None:
    timing = estimate(calls(100, reads=10_000), 100, opts(concurrency=100))
    assert timing.bottleneck == "overall request limit" and timing.general_seconds == 101.0
    assert estimate(calls(100, reads=10_000), 100, opts(concurrency=100, global_rate_limit=200)).seconds == 50.5


def test_estimate_is_bound_by_one_process_at_a_high_rate_limit() -> None:
    timing = estimate(calls(100_000), 100_000, opts(rate_limit=5000, concurrency=100))
    assert timing.bottleneck == "overall request limit"
    assert estimate(calls(100_000), 100_000, opts(rate_limit=5000, concurrency=100)).process_seconds == 250.0


def test_at_the_defaults_the_write_limit_is_named_not_concurrency_which_ties_with_it(write_users: CsvWriter) -> None:
    # 10 in flight x 0.2 s = 50 requests/s, the write limit: raising --concurrency would change nothing.
    result = plan(options(write_users([{"email": f"u{i}@x.com"} for i in range(5000)]), org_id=ORG_A))
    timing = result.estimate
    assert timing.concurrency_seconds >= timing.write_seconds  # more by the one organization lookup
    assert timing.bottleneck == "write rate limit"
    assert timing.bottleneck_detail == "10,000 writes at --rate-limit 50/s"
    assert not any("--concurrency" in item or "--workers" in item for item in result.recommendations)


def test_one_bad_row_does_not_hide_the_recommendations(write_users: CsvWriter) -> None:
    rows = [{"email": f"u{i}@x.com", "org_id": ORG_A} for i in range(3)] + [{"email": "broken", "org_id": ORG_A}]
    result = plan(options(write_users(rows)))
    assert not result.valid and result.invalid_rows == 1
    assert "Add --errors-out errors.jsonl to capture failures for retry" in result.recommendations
    assert any("looks each of the 1 organizations up once" in item for item in result.recommendations)


def many_rows(write_users: CsvWriter, count: int, **row: str) -> Path:
    return write_users([{"email": f"u{i}@x.com", **row} for i in range(count)])


def test_more_concurrency_is_recommended_only_when_concurrency_is_the_bottleneck(write_users: CsvWriter) -> None:
    path = many_rows(write_users, 2000)
    low = plan(options(path, concurrency=1))
    assert low.estimate.bottleneck == "concurrency"
    assert "Use --concurrency 13: 1 in flight drive about 5 requests/s" in low.recommendations[0]
    default = plan(options(path))
    assert not any("--concurrency" in item for item in default.recommendations)


def test_pace_advice_is_skipped_when_it_would_save_under_a_minute(write_users: CsvWriter) -> None:
    result = plan(options(many_rows(write_users, 50), concurrency=1))
    assert result.estimate.bottleneck == "concurrency"
    assert not any("--concurrency" in item for item in result.recommendations)


def test_workers_are_never_recommended_when_the_rate_limit_binds(write_users: CsvWriter) -> None:
    result = plan(options(many_rows(write_users, 50), workers=4))
    assert not any("--workers" in item for item in result.recommendations)
    assert any("--workers 4 cannot make this faster" in warning for warning in result.warnings)


def test_workers_are_recommended_when_one_process_cannot_drive_the_rate(write_users: CsvWriter, monkeypatch) -> None:
    monkeypatch.setattr("core.planner.PROCESS_REQUESTS_PER_SECOND", 100.0)
    result = plan(options(many_rows(write_users, 10_000), rate_limit=2000, global_rate_limit=5000, concurrency=100))
    assert result.estimate.bottleneck == "one process"
    assert any(item.startswith("Use --workers 20:") for item in result.recommendations)
    assert any("above WorkOS's published 50 writes/s" in warning for warning in result.warnings)
    assert any("--global-rate-limit 5000 is above" in warning for warning in result.warnings)


def test_errors_out_and_multi_org_caching_recommendations(multi_org: Path) -> None:
    result = plan(options(multi_org))
    assert "Add --errors-out errors.jsonl to capture failures for retry" in result.recommendations
    assert any("looks each of the 2 organizations up once" in item for item in result.recommendations)
    with_errors = plan(options(multi_org, errors_out=multi_org.parent / "errors.jsonl"))
    assert not any("--errors-out" in item for item in with_errors.recommendations)


def test_job_id_is_suggested_for_large_files_only(write_users: CsvWriter) -> None:
    big = plan(options(many_rows(write_users, 10_001)))
    assert any("--job-id" in item for item in big.recommendations)
    small = plan(options(many_rows(write_users, 10)))
    assert not any("--job-id" in item for item in small.recommendations)


def test_plan_hash_follows_file_content_options_and_target_but_not_presentation(multi_org: Path) -> None:
    base = plan(options(multi_org)).plan_hash
    assert plan(options(multi_org, quiet=True, yes=True, job_id="x")).plan_hash == base
    assert plan(options(multi_org, on_existing_user="skip")).plan_hash != base
    assert plan(options(multi_org, base_url="http://127.0.0.1:4100")).plan_hash != base
    copy = multi_org.parent / "copy.csv"
    copy.write_bytes(multi_org.read_bytes())
    assert plan(options(copy)).plan_hash == base
    copy.write_bytes(multi_org.read_bytes() + b"d@x.com,,,\r\n")
    assert plan(options(copy)).plan_hash != base
    assert {"quiet", "yes"} <= PLAN_HASH_EXCLUDED
    assert plan_hash("0" * 64, opts()) == plan_hash("0" * 64, opts(yes=True))


def test_key_kind_is_reported_but_the_key_never_appears(multi_org: Path, monkeypatch) -> None:
    assert key_kind(None) == "none" and key_kind("sk_test_abc") == "test" and key_kind("sk_live_abc") == "live"
    monkeypatch.setenv("WORKOS_API_KEY", "sk_live_" + "fake" * 6)
    result = plan(options(multi_org))
    assert result.target.key == "live"
    assert "sk_live_" + "fake" * 6 not in result.model_dump_json()
    assert "The API key is a live (production) key" in result.warnings
    monkeypatch.delenv("WORKOS_API_KEY")
    monkeypatch.setenv("WORKOS_SECRET_KEY", "sk_test_other")
    assert plan(options(multi_org)).target.key == "test"


def test_orchestrator_plan_is_the_library_plan(multi_org: Path) -> None:
    result = MigrationOrchestrator(options(multi_org), api_key="sk_test_x").plan()
    assert result.valid and result.target.key == "test"
    assert result.plan_hash == plan(options(multi_org)).plan_hash


def test_a_duplicate_in_a_large_file_gets_exact_rows_and_counts(write_users: CsvWriter) -> None:
    rows = [{"email": f"u{i}@x.com", "org_id": ORG_A, "external_id": f"e{i}"} for i in range(5000)]
    rows.insert(4000, {"email": "u10@x.com", "org_id": ORG_A, "external_id": "e10"})
    rows.append({"email": "other@x.com", "org_id": ORG_B, "external_id": "e20"})
    result = plan(options(write_users(rows)))
    assert {issue.code: issue.rows for issue in result.issues} == {
        "email_duplicate_in_org": [4002],
        "external_id_shared": [5003],
    }
    assert (result.rows, result.invalid_rows, result.users, result.memberships) == (5002, 2, 5000, 5000)
