"""The ``workos-migrate`` command line: a thin shell over ``core``.

Each command builds options, calls one core function and prints its result; ``--json`` prints the
same pydantic object the MCP tool returns. Exit codes: 0 success, 1 invalid plan or failed rows,
2 fatal (unusable options or file, no key).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from core import MigrationOptions, MigrationOrchestrator, validate_csv
from core.errors import MigrationError, OptionsError
from server.render import configuration_errors, render_plan, render_validation

__all__ = ["json_option", "main", "migration_options"]

F = TypeVar("F", bound=Callable[..., Any])

_LATEST = "__latest__"

_MIGRATION_FLAGS = [
    click.option("--csv", "csv_path", required=True, type=click.Path(path_type=Path), help="CSV file of users."),
    click.option("--org-id", help="Single-org mode: WorkOS organization id every user joins."),
    click.option("--org-external-id", help="Single-org mode: external id of the organization."),
    click.option(
        "--org-name", help="Single-org mode: organization name (the name to create it with, with --org-external-id)."
    ),
    click.option(
        "--create-org-if-missing", is_flag=True, default=None, help="Create organizations that do not exist yet."
    ),
    click.option("--concurrency", type=int, help="Rows in flight per worker (1-100, default 10)."),
    click.option("--workers", type=int, help="Worker processes (1-32, default 1); no --job-id needed."),
    click.option("--chunk-size", type=int, help="Rows per checkpoint chunk (100-10000, default 1000)."),
    click.option(
        "--rate-limit", type=float, help="User-management writes per second for the job (1-10000, default 50)."
    ),
    click.option(
        "--on-existing-user",
        type=click.Choice(["adopt", "update", "skip", "fail"]),
        help="When the email already exists in WorkOS (default adopt).",
    ),
    click.option("--require-membership", is_flag=True, default=None, help="A row without its membership is a failure."),
    click.option("--dry-run", is_flag=True, default=None, help="Run the pipeline without any API call."),
    click.option("--quiet", is_flag=True, default=None, help="No progress output."),
    click.option("--errors-out", type=click.Path(path_type=Path), help="Also write failed rows here (JSONL or .csv)."),
    click.option("--job-id", help="Name of the job (generated when not given)."),
    click.option(
        "--resume",
        is_flag=False,
        flag_value=_LATEST,
        default=None,
        metavar="[JOB_ID]",
        help="Resume a job: the latest one, or the one named.",
    ),
    click.option("--retry-failed", is_flag=True, default=None, help="On resume, send failed rows again."),
    click.option(
        "--checkpoint-dir", type=click.Path(path_type=Path), help="Job store directory (default .workos-checkpoints)."
    ),
    click.option("--yes", "-y", is_flag=True, default=None, help="Skip prompts and confirmations."),
]


def fail(message: str, code: int = 2) -> None:
    """Print ``message`` to stderr and exit with ``code``."""
    click.echo(message, err=True)
    sys.exit(code)


def migration_options(func: F) -> F:
    """Add every orchestrator flag to a command and pass it ``options: MigrationOptions``.

    Unset flags keep ``MigrationOptions``' defaults; broken rules print ``❌ Configuration errors:`` with one
    bullet each and exit 2.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        values = {name: kwargs.pop(name) for name in list(kwargs) if name in MigrationOptions.model_fields}
        values = {name: value for name, value in values.items() if value is not None}
        if values.get("resume") == _LATEST:
            values["resume"] = True
        try:
            options = MigrationOptions.build(**values)
        except OptionsError as exc:
            fail(configuration_errors(exc.problems))
        return func(*args, options=options, **kwargs)

    for decorator in reversed(_MIGRATION_FLAGS):
        wrapper = decorator(wrapper)
    return wrapper  # type: ignore[return-value]


def json_option(func: F) -> F:
    """``--json``: print the result as JSON (the same object the MCP tool returns)."""
    return click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")(func)  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="workos-migrate")
def main() -> None:
    """Plan, validate, run, resume and analyse migrations of users into WorkOS User Management."""


@main.command()
@migration_options
@json_option
def plan(options: MigrationOptions, as_json: bool) -> None:
    """Show what a migration will do, without any API call.

    Exit 0 when the plan is valid, 1 when it is invalid, 2 when the file or the options are unusable.
    """
    try:
        result = MigrationOrchestrator(options).plan()
    except OptionsError as exc:
        fail(configuration_errors(exc.problems))
    except MigrationError as exc:
        fail(f"❌ {exc}")
    click.echo(result.model_dump_json(indent=2) if as_json else render_plan(result))
    sys.exit(0 if result.valid else 1)


@main.command()
@click.option("--csv", "csv_path", required=True, type=click.Path(path_type=Path), help="CSV file to check.")
@click.option("--auto-fix", is_flag=True, help="Write a fixed copy (needs --fixed-csv).")
@click.option("--fixed-csv", type=click.Path(path_type=Path), help="Where --auto-fix writes the fixed copy.")
@click.option("--report", type=click.Path(path_type=Path), help="Write every issue and the summary as JSON here.")
@click.option("--single-org", is_flag=True, help="Validate as if an organization option will be given.")
@click.option("--require-membership", is_flag=True, help="Rows without an organization are errors.")
@json_option
def validate(
    csv_path: Path,
    auto_fix: bool,
    fixed_csv: Path | None,
    report: Path | None,
    single_org: bool,
    require_membership: bool,
    as_json: bool,
) -> None:
    """Check a CSV against every rule; optionally write a fixed copy and a JSON report.

    Exit 0 when no row has an error, 1 when some do, 2 when the file or the options are unusable.
    """
    problems = []
    if auto_fix and fixed_csv is None:
        problems.append("--auto-fix needs --fixed-csv (where to write the fixed copy)")
    if fixed_csv is not None and not auto_fix:
        problems.append("--fixed-csv needs --auto-fix")
    if problems:
        fail(configuration_errors(problems))
    try:
        result = validate_csv(
            csv_path,
            single_org=single_org,
            require_membership=require_membership,
            fixed_csv=fixed_csv,
            report=report,
        )
    except OptionsError as exc:
        fail(configuration_errors(exc.problems))
    except MigrationError as exc:
        fail(f"❌ {exc}")
    click.echo(result.model_dump_json(indent=2) if as_json else render_validation(result))
    sys.exit(0 if result.valid else 1)


if __name__ == "__main__":
    main()
