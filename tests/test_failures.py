"""Classification of recorded failures (what a re-run does with them) and message normalisation."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.failures import KNOWN_CODES, RERUN_SUGGESTION, classify, normalise_message
from core.records import RULES


@pytest.mark.parametrize(
    ("phase", "status", "code", "subs", "flag"),
    [
        ("user", 500, "outcome_unknown", (), True),
        ("membership", None, "outcome_unknown", (), True),
        ("totp", None, "outcome_unknown", (), True),
        ("user", 429, "request_failed", (), True),
        ("organization", 503, "server_error", (), True),
        ("user", 408, "request_failed", (), True),
        ("user", None, "request_failed", (), True),
        ("organization", None, "organization_create_failed", (), False),
    ],
)
def test_429_5xx_timeouts_and_unknown_outcomes_are_retryable(
    phase: str, status: int | None, code: str, subs: tuple[str, ...], flag: bool
) -> None:
    verdict = classify(phase, status, code, subs, flag)
    assert verdict.retryable and verdict.category == "transient" and verdict.severity == "warning"


def test_a_failed_membership_of_an_existing_user_is_retryable_and_says_the_rerun_adopts_the_user() -> None:
    verdict = classify("membership", 502, "server_error", (), True)
    assert verdict.retryable
    assert "adopts it and adds only the missing membership" in verdict.reason
    assert verdict.suggestion == RERUN_SUGGESTION


def test_an_existing_email_refused_by_the_fail_policy_is_a_policy_outcome_not_an_error() -> None:
    verdict = classify("user", None, "email_not_available", (), False)
    assert not verdict.retryable and verdict.category == "policy" and verdict.severity == "info"
    assert "--on-existing-user adopt" in verdict.suggestion and "not an error" in verdict.reason


@pytest.mark.parametrize(
    ("status", "code", "subs"),
    [(400, "user_creation_error", ("email_not_available",)), (409, "user_already_exists", ())],
)
def test_a_raw_duplicate_user_answer_is_retryable_because_a_rerun_adopts_the_user(
    status: int, code: str, subs: tuple[str, ...]
) -> None:
    verdict = classify("user", status, code, subs, False)
    assert verdict.retryable and "adopts it" in verdict.reason


@pytest.mark.parametrize("code", sorted(code for code, rule in RULES.items() if rule.severity == "error"))
def test_every_validation_rule_is_not_retryable_and_names_its_column_and_a_fix(code: str) -> None:
    rule = RULES[code]
    verdict = classify("validation", None, code, (), False)
    assert not verdict.retryable and verdict.category == "data" and verdict.severity == "error"
    assert rule.summary in verdict.reason
    if rule.column:
        assert f"column {rule.column}" in verdict.suggestion
    assert rule.example_fix.rstrip(".") in verdict.suggestion
    assert "--include-non-retryable" in verdict.suggestion


def test_an_unknown_validation_rule_still_gets_a_fix() -> None:
    verdict = classify("validation", None, "some_future_rule", (), None)
    assert not verdict.retryable and "some_future_rule" in verdict.reason


@pytest.mark.parametrize(
    ("phase", "status", "code", "subs", "category"),
    [
        ("role", 422, "invalid_role", (), "configuration"),
        ("user", 400, "external_id_already_used", ("external_id_already_used",), "data"),
        ("user", 400, "password_strength_error", ("password_too_short",), "data"),
        ("user", 400, "invalid_password_hash", (), "data"),
        ("organization", None, "organization_not_found", (), "configuration"),
        ("organization", None, "organization_name_ambiguous", (), "data"),
        ("membership", None, "organization_missing", (), "data"),
        ("membership", 404, "entity_not_found", (), "configuration"),
        ("user", 422, "something_new", (), "data"),
    ],
)
def test_4xx_answers_and_resolution_failures_need_a_change_first(
    phase: str, status: int | None, code: str, subs: tuple[str, ...], category: str
) -> None:
    verdict = classify(phase, status, code, subs, False)
    assert not verdict.retryable and verdict.category == category and verdict.severity == "error"
    assert verdict.suggestion and verdict.suggestion != RERUN_SUGGESTION


def test_a_request_that_could_never_be_sent_is_not_retryable() -> None:
    assert not classify("user", None, "request_failed", (), False).retryable


def test_the_engine_flag_decides_only_what_status_and_code_leave_open() -> None:
    assert classify("user", None, "mystery", (), True).retryable
    assert not classify("user", None, "mystery", (), None).retryable
    assert not classify("user", 422, "mystery", (), True).retryable


def test_normalised_messages_mask_emails_ids_quoted_values_and_numbers() -> None:
    message = (
        "Row 42, column email: 'ada@example.com' appears in the same organization (first on row 7); "
        "POST /organizations/org_01EHWNCE74X7JSDV0X3SZ3KJNY failed req_01JD8ZQ4XW3N5V6B7C8D9E0F1G "
        "for bob.smith+x@example.co.uk, 'Acme Inc' and 6f1c2d3e4f5a6b7c8d9e"
    )
    assert normalise_message(message) == (
        "Row <number>, column email: '<email>' appears in the same organization (first on row <number>); "
        "POST /organizations/<id> failed <id> for <email>, '<value>' and <id>"
    )


def test_messages_that_differ_only_in_masked_parts_normalise_alike() -> None:
    first = normalise_message("could not create organization with external id 'acme' after 3 attempts")
    second = normalise_message("could not create organization with external id 'beta-2' after 5 attempts")
    assert first == second


def test_docs_document_every_code_and_validation_rule_the_analysis_knows() -> None:
    guide = (Path(__file__).parent.parent / "docs" / "errors.md").read_text()
    rules = {code for code, rule in RULES.items() if rule.severity == "error"}
    missing = sorted(code for code in KNOWN_CODES | rules if f"`{code}`" not in guide)
    assert missing == []
