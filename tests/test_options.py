"""MigrationOptions: every option rule, with messages that name the flag."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core import MigrationOptions, OptionsError, SourceError, check_paths


def problems(**values: object) -> list[str]:
    with pytest.raises(OptionsError) as caught:
        MigrationOptions.build(csv_path="users.csv", **values)
    return caught.value.problems


def test_defaults_match_the_orchestrator_document() -> None:
    options = MigrationOptions.build(csv_path="users.csv")
    assert (options.concurrency, options.workers, options.chunk_size, options.rate_limit) == (10, 1, 1000, 50.0)
    assert options.checkpoint_dir == Path(".workos-checkpoints") and not options.single_org


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"org_id": "org_1", "org_external_id": "e"}, "Cannot specify both --org-id and --org-external-id"),
        ({"org_id": "org_1", "org_name": "Acme"}, "Cannot specify both --org-id and --org-name"),
        ({"org_id": "org_1", "create_org_if_missing": True}, "--create-org-if-missing cannot be used with --org-id"),
        ({"org_external_id": "e", "create_org_if_missing": True}, "needs --org-name"),
        ({"concurrency": 0}, "--concurrency must be between 1 and 100 (got 0)"),
        ({"concurrency": 101}, "--concurrency must be between 1 and 100 (got 101)"),
        ({"workers": 33}, "--workers must be between 1 and 32"),
        ({"chunk_size": 99}, "--chunk-size must be between 100 and 10000 (got 99)"),
        ({"chunk_size": 10001}, "--chunk-size must be between 100 and 10000"),
        ({"rate_limit": 0.5}, "--rate-limit must be between 1 and 10000"),
        ({"rate_limit": 10001}, "--rate-limit must be between 1 and 10000"),
        ({"on_existing_user": "merge"}, "--on-existing-user must be one of"),
        ({"job_id": "my job!"}, "--job-id may hold only letters"),
        ({"resume": 3}, "--resume: must be a boolean or a job id string"),
        ({"retry_failed": True}, "--retry-failed only applies with --resume"),
        ({"job_id": "a", "resume": "b"}, "--job-id a and --resume b name different jobs"),
        ({"base_url": "api.workos.com"}, "--base-url: must start with http:// or https://"),
        ({"colour": "blue"}, "unknown option --colour"),
    ],
)
def test_each_option_rule_names_the_flag(values: dict, message: str) -> None:
    assert any(message in problem for problem in problems(**values))


def test_every_broken_rule_is_reported_at_once() -> None:
    assert len(problems(concurrency=0, workers=0, chunk_size=5)) == 3


def test_workers_need_no_job_id_and_org_external_id_may_name_the_org_to_create() -> None:
    options = MigrationOptions.build(
        csv_path="u.csv", workers=4, org_external_id="acme", org_name="Acme", create_org_if_missing=True
    )
    assert options.workers == 4 and options.single_org and options.job_id is None


def test_resume_accepts_true_or_a_job_id_and_blank_org_options_are_unset() -> None:
    assert MigrationOptions.build(csv_path="u.csv", resume="  job-1 ").resume == "job-1"
    assert MigrationOptions.build(csv_path="u.csv", resume="").resume is True
    assert MigrationOptions.build(csv_path="u.csv", org_id="  ").org_id is None


def test_check_paths_rejects_missing_csv_and_unwritable_outputs(tmp_path: Path) -> None:
    csv_path = tmp_path / "u.csv"
    with pytest.raises(SourceError, match="not found"):
        check_paths(MigrationOptions.build(csv_path=csv_path))
    with pytest.raises(SourceError, match="directory"):
        check_paths(MigrationOptions.build(csv_path=tmp_path))
    csv_path.write_text("email\n")
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OptionsError, match="--checkpoint-dir is not a writable directory"):
        check_paths(MigrationOptions.build(csv_path=csv_path, checkpoint_dir=blocker / "sub"))
    with pytest.raises(OptionsError, match="--errors-out cannot be created"):
        check_paths(MigrationOptions.build(csv_path=csv_path, errors_out=blocker / "errors.jsonl"))
    check_paths(MigrationOptions.build(csv_path=csv_path, checkpoint_dir=tmp_path / "new" / "dir"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read anything")
def test_check_paths_rejects_an_unreadable_csv(tmp_path: Path) -> None:
    csv_path = tmp_path / "u.csv"
    csv_path.write_text("email\n")
    csv_path.chmod(0)
    with pytest.raises(SourceError, match="not readable"):
        check_paths(MigrationOptions.build(csv_path=csv_path))
