"""The ``workos-migrate`` command line: a thin shell over ``core``.

Each command builds options, calls one core function (``core.app``'s use case where the MCP server runs the
same one: execute's confirmation and job, status, cancel) and prints its result; ``--json`` prints the
same pydantic object the MCP tool returns. Exit codes: 0 success, 1 invalid plan or failed rows,
2 fatal (unusable options or file, no key).
"""

from __future__ import annotations

import functools
import json
import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import anyio
import click

from core import MigrationOptions, MigrationOrchestrator, analyze_errors, app, validate_csv
from core.app import ConfirmReason, plan_reasons
from core.engine import MigrationResult, RunStats, execute_job, job_result
from core.errors import MigrationError, OptionsError
from core.orchestrator import dry_run, reopen_job
from core.planner import key_kind
from core.platform import watch_stop_signals
from core.preflight import verify_org_option
from core.runloop import migration_errors_alone
from core.runner import api_key_from_env
from core.steps import resume_step
from core.store import STORE_FILENAME, Job, JobStore
from core.undo import UndoPreview, UndoProgress, UndoResult, preview_undo, run_undo
from core.verify import VerifyProgress, VerifyReport, verify_migration
from server.progress import Counts, follow
from server.render import (
    command_for,
    configuration_errors,
    render_analysis,
    render_brief,
    render_confirmation,
    render_conversion,
    render_jobs,
    render_plan,
    render_reopened,
    render_result,
    render_validation,
)
from server.reports import render_undo_preview, render_undo_result, render_verify

__all__ = ["core_errors", "json_option", "main", "migration_options"]

F = TypeVar("F", bound=Callable[..., Any])

_LATEST = "__latest__"

_MIGRATION_FLAGS: dict[str, Callable[[Any], Any]] = {
    "csv_path": click.option(
        "--csv", "csv_path", required=True, type=click.Path(path_type=Path), help="CSV file of users."
    ),
    "org_id": click.option("--org-id", help="Single-org mode: WorkOS organization id every user joins."),
    "org_external_id": click.option("--org-external-id", help="Single-org mode: external id of the organization."),
    "org_name": click.option(
        "--org-name", help="Single-org mode: organization name (the name to create it with, with --org-external-id)."
    ),
    "create_org_if_missing": click.option(
        "--create-org-if-missing", is_flag=True, default=None, help="Create organizations that do not exist yet."
    ),
    "concurrency": click.option("--concurrency", type=int, help="Rows in flight per worker (1-100, default 10)."),
    "workers": click.option("--workers", type=int, help="Worker processes (1-32, default 1); no --job-id needed."),
    "chunk_size": click.option("--chunk-size", type=int, help="Rows per checkpoint chunk (100-10000, default 1000)."),
    "rate_limit": click.option(
        "--rate-limit", type=float, help="User-management writes per second for the job (1-10000, default 50)."
    ),
    "read_rate_limit": click.option(
        "--read-rate-limit", type=float, help="User-management reads per second (default 100 = WorkOS's 1,000/10 s)."
    ),
    "global_rate_limit": click.option(
        "--global-rate-limit", type=float, help="All requests per second (default 100 = WorkOS's 6,000/60 s)."
    ),
    "max_outage": click.option(
        "--max-outage",
        type=float,
        metavar="SECONDS",
        help="Stop as interrupted (rows pending) once WorkOS is unreachable this long (default 900; 0: no breaker).",
    ),
    "on_existing_user": click.option(
        "--on-existing-user",
        type=click.Choice(["adopt", "update", "skip", "fail"]),
        help="When the email already exists in WorkOS (default adopt).",
    ),
    "on_existing_membership": click.option(
        "--on-existing-membership",
        type=click.Choice(["keep", "update", "fail"]),
        help="When the user is already a member with other roles than the row's (default keep, reported).",
    ),
    "require_membership": click.option(
        "--require-membership", is_flag=True, default=None, help="A row without its membership is a failure."
    ),
    "dry_run": click.option(
        "--dry-run",
        is_flag=True,
        default=None,
        help="Validate every row as the import would; nothing is sent or recorded.",
    ),
    "quiet": click.option("--quiet", is_flag=True, default=None, help="No progress output."),
    "errors_out": click.option(
        "--errors-out", type=click.Path(path_type=Path), help="Also write failed rows here (JSONL or .csv)."
    ),
    "job_id": click.option("--job-id", help="Name of the job (generated when not given)."),
    "resume": click.option(
        "--resume",
        is_flag=False,
        flag_value=_LATEST,
        default=None,
        metavar="[JOB_ID]",
        help="Resume a job: the latest one, or the one named.",
    ),
    "retry_failed": click.option(
        "--retry-failed", is_flag=True, default=None, help="On resume, send failed rows again."
    ),
    "retry_transient": click.option(
        "--retry-transient/--no-retry-transient",
        default=None,
        help="On resume, send again rows that failed for a transient cause (5xx, timeouts, 429s; the default).",
    ),
    "checkpoint_dir": click.option(
        "--checkpoint-dir", type=click.Path(path_type=Path), help="Job store directory (default .workos-checkpoints)."
    ),
    "yes": click.option("--yes", "-y", is_flag=True, default=None, help="Skip prompts and confirmations."),
}


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``message`` to stderr and exit with ``code``."""
    click.echo(message, err=True)
    sys.exit(code)


@contextmanager
def core_errors() -> Iterator[None]:
    """Translate core's exceptions once, exiting 2: option problems as the configuration block, the rest as one line."""
    try:
        yield
    except OptionsError as exc:
        fail(configuration_errors(exc.problems))
    except MigrationError as exc:
        fail(f"❌ {exc}")


_PLAN_IGNORES = frozenset({"dry_run", "quiet", "yes", "resume", "retry_failed", "retry_transient"})
"""Flags that change how a run goes, not what a plan says: ``plan`` does not offer them (``execute --plan`` does)."""
_RESUME_FLAGS = (
    "concurrency", "workers", "rate_limit", "read_rate_limit", "global_rate_limit", "max_outage", "errors_out"
)  # fmt: skip
"""The flags ``resume`` takes besides its own: the options a resume may change (core.orchestrator.RESUME_MAY_CHANGE)."""


def migration_options(func: F, *, without: frozenset[str] = frozenset()) -> F:
    """Add the orchestrator flags (but ``without``) to a command and pass it ``options: MigrationOptions``.

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

    for name, decorator in reversed(_MIGRATION_FLAGS.items()):
        if name not in without:
            wrapper = decorator(wrapper)
    return wrapper  # type: ignore[return-value]


def plan_options(func: F) -> F:
    """The orchestrator flags that change what a plan says."""
    return migration_options(func, without=_PLAN_IGNORES)


def json_option(func: F) -> F:
    """``--json``: print the result as JSON (the same object the MCP tool returns)."""
    return click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")(func)


class _DefaultToExecute(click.Group):
    """``workos-migrate --csv users.csv ...`` runs ``execute``, as the orchestrator document's command did.

    No arguments print the help (exit 0); Ctrl-C anywhere ends with exit 130, as shells expect.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args:
            click.echo(ctx.get_help())
            ctx.exit(0)
        if args[0].startswith("-") and args[0] not in ("-h", "--help", "--version"):
            args = ["execute", *args]
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            fail("\nInterrupted.", code=INTERRUPTED)


INTERRUPTED = 128 + signal.SIGINT
"""The exit status of a command stopped by Ctrl-C (SIGTERM: 128 + 15)."""


@click.group(cls=_DefaultToExecute, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="workos-migrate")
def main() -> None:
    """Plan, validate, run, resume and analyse migrations of users into WorkOS User Management."""


@main.command()
@plan_options
@click.option(
    "--check-live",
    is_flag=True,
    help="Also check the target environment, read-only (needs WORKOS_API_KEY): the key, organizations, roles, "
    "and which users and memberships exist already.",
)
@json_option
def plan(options: MigrationOptions, check_live: bool, as_json: bool) -> None:
    """Show what a migration will do, without any API call (--check-live: with read-only calls).

    Exit 0 when the plan is valid, 1 when it is invalid, 2 when the file or the options are unusable.
    """
    _show_plan(options, as_json, check_live=check_live)


def _show_plan(options: MigrationOptions, as_json: bool, *, check_live: bool = False) -> None:
    with core_errors():
        orchestrator = MigrationOrchestrator(options)
        result = orchestrator.plan(check_live=True) if check_live else orchestrator.plan()
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

    Exit 0 when no row has an error (with --auto-fix: no row of the fixed copy), 1 when some do, 2 when the
    file or the options are unusable.
    """
    problems = []
    if auto_fix and fixed_csv is None:
        problems.append("--auto-fix needs --fixed-csv (where to write the fixed copy)")
    if fixed_csv is not None and not auto_fix:
        problems.append("--fixed-csv needs --auto-fix")
    if problems:
        fail(configuration_errors(problems))
    with core_errors():
        result = validate_csv(
            csv_path,
            single_org=single_org,
            require_membership=require_membership,
            fixed_csv=fixed_csv,
            report=report,
        )
    click.echo(result.model_dump_json(indent=2) if as_json else render_validation(result))
    sys.exit(result.exit_code)


@main.command()
@click.argument("job_id", required=False)
@click.option(
    "--errors", "errors_file", type=click.Path(path_type=Path), help="Analyse this errors file (JSONL or .csv)."
)
@click.option("--csv", "source_csv", type=click.Path(path_type=Path), help="The job's source CSV, if it moved.")
@click.option(
    "--retry-csv", type=click.Path(path_type=Path), help="Write the rows to re-run here, rebuilt from the CSV."
)
@click.option("--include-non-retryable", is_flag=True, help="Put the rows that need a fix in the retry file too.")
@click.option("--report", type=click.Path(path_type=Path), help="Write the whole analysis as JSON here.")
@click.option(
    "--checkpoint-dir", type=click.Path(path_type=Path), help="Job store directory (default .workos-checkpoints)."
)
@json_option
def analyze(
    job_id: str | None,
    errors_file: Path | None,
    source_csv: Path | None,
    retry_csv: Path | None,
    include_non_retryable: bool,
    report: Path | None,
    checkpoint_dir: Path | None,
    as_json: bool,
) -> None:
    """Group a run's failures, say which a re-run fixes, write a retry CSV and the command to re-run it.

    Reads the job's ledger (JOB_ID, or the latest job) or an errors file (--errors). Exit 0 when there is
    something to retry or nothing failed, 1 when no failure is retryable, 2 when the input is unusable.
    The retry file exists afterwards only when there are rows to retry.
    """
    if include_non_retryable and retry_csv is None:
        fail(configuration_errors(["--include-non-retryable needs --retry-csv (the file it adds rows to)"]))
    with core_errors():
        result = analyze_errors(
            job_id,
            errors_file=errors_file,
            checkpoint_dir=checkpoint_dir,
            source_csv=source_csv,
            retry_csv=retry_csv,
            include_non_retryable=include_non_retryable,
            report=report,
        )
    click.echo(result.model_dump_json(indent=2) if as_json else render_analysis(result))
    sys.exit(result.exit_code)


main.add_command(analyze, name="analyze-errors")


_SOURCE_NAMES = ["auth0", "firebase", "clerk", "cognito", "supabase", "keycloak", "django"]


def _input_file(flag: str, help_text: str) -> Callable[[F], F]:
    return click.option(flag, type=click.Path(path_type=Path), help=help_text)


@main.command()
@click.argument("source", type=click.Choice(_SOURCE_NAMES))
@click.option(
    "--users",
    multiple=True,
    required=True,
    type=click.Path(path_type=Path),
    help="The provider's user export (repeatable; Keycloak: the export directory or its files).",
)
@_input_file("--passwords", "auth0: the password-hash export from Auth0 support (NDJSON).")
@_input_file("--hash-config", "firebase/supabase: the project's hash_config block as pasted, or JSON.")
@_input_file("--org-members", "auth0: organization member pages, each with its organization (NDJSON/JSON).")
@_input_file("--memberships", "clerk: organization memberships from the Backend API (JSON).")
@_input_file("--groups", "cognito: list-users-in-group pages with GroupName (JSON).")
@_input_file("--identities", "supabase: auth.identities (CSV or JSON).")
@_input_file("--mfa-factors", "supabase: auth.mfa_factors (CSV or JSON).")
@click.option("--org-attribute", help="The user attribute that names the organization (e.g. tenant_id).")
@click.option("--role-attribute", help="The user attribute that holds role names (e.g. roles).")
@click.option("--role-map", multiple=True, metavar="OLD=new", help="Map a source role name to a WorkOS slug.")
@click.option(
    "--disabled",
    type=click.Choice(["skip", "import"]),
    default="skip",
    show_default=True,
    help="Disabled users: leave out, or import without password or TOTP (and list them for reset).",
)
@click.option("--out", required=True, type=click.Path(path_type=Path), help="The CSV to write (created 0600).")
@click.option("--report", type=click.Path(path_type=Path), help="Write counts by outcome and reason (JSON) here.")
@click.option("--reset-list", type=click.Path(path_type=Path), help="Write the users who must reset (CSV) here.")
@json_option
def convert(
    source: str,
    users: tuple[Path, ...],
    passwords: Path | None,
    hash_config: Path | None,
    org_members: Path | None,
    memberships: Path | None,
    groups: Path | None,
    identities: Path | None,
    mfa_factors: Path | None,
    org_attribute: str | None,
    role_attribute: str | None,
    role_map: tuple[str, ...],
    disabled: str,
    out: Path,
    report: Path | None,
    reset_list: Path | None,
    as_json: bool,
) -> None:
    """Convert a provider's own export to the CSV that validate, plan and execute read.

    Every user is converted with its password, written without one and put on the reset list (with the
    reason), or skipped by a stated policy; --report counts each. Exit 0 when the CSV is written, 2 when an
    input or option is unusable (nothing is written then).
    """
    from core.sources import ConvertOptions, Source, SourceInputs, convert_export, load_hash_config, parse_role_map

    with core_errors():
        inputs = SourceInputs(
            users=list(users),
            passwords=passwords,
            hash_config=load_hash_config(hash_config) if hash_config else None,
            org_members=org_members,
            memberships=memberships,
            groups=groups,
            identities=identities,
            mfa_factors=mfa_factors,
            org_attribute=org_attribute,
            role_attribute=role_attribute,
        )
        options = ConvertOptions(
            out=out, report=report, reset_list=reset_list, disabled=disabled, role_map=parse_role_map(list(role_map))
        )
        result = convert_export(Source(source), inputs, options)
    click.echo(result.model_dump_json(indent=2) if as_json else render_conversion(result))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on (loopback by default).")
@click.option("--port", default=4100, show_default=True, type=click.IntRange(0, 65535), help="0 picks a free port.")
@click.option("--latency-ms", default=0.0, type=click.FloatRange(min=0), help="Fixed delay added to every API call.")
@click.option("--jitter-ms", default=0.0, type=click.FloatRange(min=0), help="Extra uniform random delay, 0..N ms.")
@click.option("--write-limit", type=click.IntRange(min=0), help="User-management writes per 10 s [500]; 0 = none.")
@click.option("--read-limit", type=click.IntRange(min=0), help="User-management reads per 10 s [1000]; 0 = none.")
@click.option("--global-limit", type=click.IntRange(min=0), help="All API requests per 60 s per key [6000]; 0 = none.")
@click.option(
    "--fault",
    "faults",
    multiple=True,
    metavar="ROUTE:KIND:RATE",
    help="e.g. 'POST /user_management/users:fail_after:0.05'. Kinds: fail_before, fail_after, drop_after, "
    "slow, burst_429. Repeatable.",
)
@click.option("--fault-seed", type=int, help="Seed of the fault and jitter RNG, for reproducible runs.")
@click.option("--slow-ms", default=30_000.0, show_default=True, type=click.FloatRange(min=0), help="Delay of 'slow'.")
@click.option("--seed", "seed_file", type=click.Path(dir_okay=False), help="Seed file (JSON; YAML with PyYAML).")
@click.option(
    "--multiple-roles/--no-multiple-roles", default=False, show_default=True, help="Allow more than one role slug."
)
@click.option(
    "--duplicate-membership-status",
    type=click.Choice(["400", "409", "422"]),
    default="409",
    show_default=True,
    help="Status of organization_membership_already_exists.",
)
@click.option("--api-key", "api_keys", multiple=True, help="Accept only these keys (default: any sk_test_ key).")
def sandbox(
    host: str,
    port: int,
    latency_ms: float,
    jitter_ms: float,
    write_limit: int | None,
    read_limit: int | None,
    global_limit: int | None,
    faults: tuple[str, ...],
    fault_seed: int | None,
    slow_ms: float,
    seed_file: str | None,
    multiple_roles: bool,
    duplicate_membership_status: str,
    api_keys: tuple[str, ...],
) -> None:
    """Run a local WorkOS stand-in to rehearse a migration (limits are N per the real 10 s/10 s/60 s windows)."""
    from core.errors import OptionsError
    from core.workos.sandbox import Sandbox, SandboxConfig, load_seed, parse_fault, ready_message, serve

    limits = {"write_limit": write_limit, "read_limit": read_limit, "global_limit": global_limit}
    try:
        config = SandboxConfig(
            **{name: value for name, value in limits.items() if value is not None},
            latency_ms=latency_ms,
            jitter_ms=jitter_ms,
            faults=tuple(parse_fault(spec) for spec in faults),
            fault_seed=fault_seed,
            slow_ms=slow_ms,
            multiple_roles_enabled=multiple_roles,
            duplicate_membership_status=int(duplicate_membership_status),
        )
        box = Sandbox(config, seed=load_seed(seed_file) if seed_file else None, api_keys=api_keys)
        serve(box, host=host, port=port, on_ready=lambda url: click.echo(ready_message(url, box.api_key)))
    except OptionsError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)


def _stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


def _confirm_plan(options: MigrationOptions) -> tuple[MigrationOptions, str | None]:
    """Plan, show the short version, and ask what the orchestrator document asks on a TTY.

    Returns the options (with the organization the user typed, if any) and the plan hash. Ctrl-C at a
    prompt exits 130 with nothing sent.
    """
    orchestrator = MigrationOrchestrator(options)
    result = orchestrator.plan()
    if result.blocking_errors:
        fail("❌ The plan is invalid:\n" + "\n".join(f"  • {error}" for error in result.blocking_errors), code=1)
    interactive = _stdin_is_terminal() and not options.yes
    try:
        if result.mode == "user-only" and interactive:
            click.echo("⚠️  The file has no organization columns and no organization option was given.")
            org_id = click.prompt("? Enter organization ID (empty: import users without organization)", default="",
                                  show_default=False).strip()  # fmt: skip
            if org_id:
                options = MigrationOptions.build(**{**options.model_dump(exclude_unset=True), "org_id": org_id})
                result = MigrationOrchestrator(options).plan()
        if not options.quiet:
            click.echo(render_brief(result))
        # The organization question was asked above; the other reasons are asked here, as core.app decides them.
        reasons = set(plan_reasons(result)) - {ConfirmReason.NO_ORGANIZATION}
        if reasons and not (options.yes or options.dry_run):
            reason = render_confirmation(result)
            if not interactive:
                fail(f"{reason}\nConfirmation needed: re-run with --yes to proceed without a prompt.")
            click.echo(reason)
            if not click.confirm("? Proceed with import?", default=True):
                fail("Import cancelled; nothing was sent.", code=1)
    except click.Abort:
        fail("\nImport cancelled; nothing was sent.", code=INTERRUPTED)
    return options, result.plan_hash


async def _run_job(store: JobStore, job: Job, *, quiet: bool) -> tuple[MigrationResult, int | None]:
    """Run the job with progress; returns its result and the signal that stopped it, if one did."""
    stop = anyio.Event()
    stats = RunStats()
    stopped_by: list[int] = []

    def counts() -> Counts:
        if job.options.workers == 1:
            return stats.finished, stats.total_rows, stats.failed, stats.already_finished
        ledger = store.counts(job.id)
        return ledger.finished, ledger.total, ledger.failed, 0

    def on_stop(name: str) -> None:
        signum = signal.Signals[name].value
        if stop.is_set():
            resume = command_for(resume_step(job))
            click.echo(f"\nForced stop. Rows in flight are reconciled on resume: {resume}", err=True)
            os._exit(128 + signum)
        click.echo("\nStopping: finishing rows in flight (press Ctrl-C again to force)...", err=True)
        stopped_by.append(signum)
        stop.set()

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(watch_stop_signals, on_stop)
        tasks.start_soon(functools.partial(follow, counts, quiet=quiet))
        api_key = api_key_from_env() or ""
        result = await execute_job(store, job.id, api_key=api_key, stop=stop, stats=stats)
        tasks.cancel_scope.cancel()
    return result, stopped_by[0] if stopped_by else None


def _finish(result: MigrationResult, *, as_json: bool, signum: int | None = None) -> NoReturn:
    """Print the summary and exit: the result's code, or 128 + the signal that stopped the run."""
    click.echo(result.model_dump_json(indent=2) if as_json else render_result(result))
    sys.exit(result.exit_code if signum is None else 128 + signum)


def _run(store: JobStore, job: Job, options: MigrationOptions, *, as_json: bool) -> NoReturn:
    """Run a prepared or reopened job and finish with its summary."""
    if not options.quiet:
        click.echo(f"Job {job.id}: {job.total_rows:,} rows. Interrupted? {command_for(resume_step(job))}")
    result, signum = anyio.run(lambda: _run_job(store, job, quiet=options.quiet))
    _finish(result, as_json=as_json, signum=signum)


def _need_key() -> None:
    if not api_key_from_env():
        fail("❌ No WorkOS API key: set WORKOS_API_KEY (or WORKOS_SECRET_KEY) in the environment.")


def _execute(options: MigrationOptions, *, as_json: bool) -> None:
    """``execute``: plan and confirm, then record the job and run it (a dry run records nothing)."""
    if as_json:
        options = options.model_copy(update={"quiet": True})
    if options.resume is not None:
        _resume(
            options.checkpoint_dir,
            options.resume if isinstance(options.resume, str) else options.job_id,
            retry_failed=options.retry_failed,
            retry_transient=options.retry_transient,
            changes={name: getattr(options, name) for name in options.model_fields_set},
            quiet=options.quiet,
            as_json=as_json,
        )
    with core_errors():
        options, plan_hash = _confirm_plan(options)
        if options.dry_run:
            _finish(dry_run(options), as_json=as_json)
        _need_key()
        # A wrong organization option is refused here, before a job exists that could only fail.
        verify_org_option(options, api_key=api_key_from_env() or "")
        store = JobStore.open(options.checkpoint_dir)
        job = app.prepare_run(store, options, plan_hash=plan_hash, confirmation="yes" if options.yes else "prompt")
        _run(store, job, options, as_json=as_json)


def _resume(
    checkpoint_dir: Path,
    job_id: str | None,
    *,
    retry_failed: bool,
    retry_transient: bool = True,
    changes: dict[str, Any],
    quiet: bool,
    as_json: bool,
) -> NoReturn:
    """Resume ``job_id`` (None: the newest resumable job) with the option ``changes`` a resume allows."""
    store = _existing_store(checkpoint_dir)
    if store is None:
        fail(f"❌ No jobs in {checkpoint_dir}: nothing to resume.")
    with core_errors():
        _need_key()
        reopened = reopen_job(
            store, job_id, retry_failed=retry_failed, retry_transient=retry_transient, changes=changes
        )
        click.echo(render_reopened(reopened), err=True)
        options = reopened.job.options.model_copy(update={"quiet": quiet or as_json})
        _run(store, reopened.job, options, as_json=as_json)


@main.command()
@migration_options
@click.option("--plan", "plan_only", is_flag=True, help="Only show the plan (same as `workos-migrate plan`).")
@json_option
def execute(options: MigrationOptions, plan_only: bool, as_json: bool) -> None:
    """Run a migration: plan, confirm, import with checkpoints, summarise (the default command).

    Prompts on a TTY for a missing organization and before more than 10,000 rows or a live key; --yes skips
    them. With --resume, continues a job instead, applying the pace options and --errors-out given with it
    and refusing the others. Exit 0 when every row succeeded, 1 when any failed, 2 on a fatal error, 130
    when stopped by Ctrl-C.
    """
    if plan_only:
        _show_plan(options, as_json)
    _execute(options, as_json=as_json)


def _checkpoint_option(func: F) -> F:
    return click.option(
        "--checkpoint-dir",
        type=click.Path(path_type=Path),
        default=Path(".workos-checkpoints"),
        show_default=True,
        help="Job store directory.",
    )(func)


def _existing_store(checkpoint_dir: Path) -> JobStore | None:
    """The job store in ``checkpoint_dir``, or None when there is none: never creates one."""
    if not (checkpoint_dir / STORE_FILENAME).is_file():
        return None
    with core_errors():
        return JobStore.open(checkpoint_dir)


def _open_job(checkpoint_dir: Path, job_id: str | None) -> tuple[JobStore, Job]:
    store = _existing_store(checkpoint_dir)
    if store is None:
        fail(f"❌ No jobs in {checkpoint_dir}.")
    with core_errors():
        job = store.get_job(job_id) if job_id else store.latest_job()
    if job is None:
        fail(f"❌ No jobs in {checkpoint_dir}.")
    return store, job


def _resume_flags(func: F) -> F:
    for name in reversed(_RESUME_FLAGS):
        func = _MIGRATION_FLAGS[name](func)
    return func


@main.command()
@click.argument("job_id", required=False)
@_checkpoint_option
@click.option(
    "--retry-failed",
    is_flag=True,
    help="Also send again rows that failed for an option or the environment (never those needing a file fix).",
)
@click.option(
    "--no-retry-transient",
    is_flag=True,
    help="Leave rows that failed for a transient cause (5xx, timeouts, 429s) failed instead of sending them again.",
)
@_resume_flags
@click.option("--quiet", is_flag=True, help="No progress output.")
@json_option
def resume(
    job_id: str | None,
    checkpoint_dir: Path,
    retry_failed: bool,
    no_retry_transient: bool,
    quiet: bool,
    as_json: bool,
    **changes: Any,
) -> None:
    """Continue an interrupted, cancelled or failed job: the one named, else the newest one that can be resumed.

    Says which job it picked. --concurrency, --workers, the rate limits and --errors-out change the job from
    now on; its CSV, organization and modes never change. Refuses a CSV that changed since the job began;
    never sends a finished row again. Rows that failed for a transient cause (5xx, timeouts, unknown outcomes,
    connection errors, 429s) are sent again unless --no-retry-transient. Exit codes as execute's.
    """
    given = {name: value for name, value in changes.items() if value is not None}
    _resume(checkpoint_dir, job_id, retry_failed=retry_failed, retry_transient=not no_retry_transient, changes=given,
            quiet=quiet, as_json=as_json)  # fmt: skip


@main.command()
@click.argument("job_id", required=False)
@_checkpoint_option
@json_option
def status(job_id: str | None, checkpoint_dir: Path, as_json: bool) -> None:
    """Show a job's state and counts (the latest job when no id is given)."""
    store, job = _open_job(checkpoint_dir, job_id)
    result = app.job_report(store, job.id, running=job.live_runners > 0).result
    click.echo(result.model_dump_json(indent=2) if as_json else render_result(result))


@main.command()
@click.argument("job_id")
@_checkpoint_option
def cancel(job_id: str, checkpoint_dir: Path) -> None:
    """Ask a running job (or its undo) to stop: rows in flight finish and are recorded, then it can be resumed."""
    store, job = _open_job(checkpoint_dir, job_id)
    with core_errors():
        cancelled = app.cancel(store, job.id)
    job = cancelled.job
    if cancelled.undo:
        click.echo(f"Cancel requested for the undo of {job.id}: it stops after the deletes in flight.")
    elif job.live_runners:
        click.echo(f"Cancel requested for {job.id}: its runners stop after the rows in flight.")
    else:
        click.echo(f"{job.id} is not running ({job.state.value}); it will not start again until resumed.")


@main.command()
@_checkpoint_option
@json_option
def jobs(checkpoint_dir: Path, as_json: bool) -> None:
    """List jobs in the checkpoint directory, newest first (a missing directory has none; it is not created)."""
    store = _existing_store(checkpoint_dir)
    results = [job_result(store, job.id) for job in store.list_jobs()] if store is not None else []
    if as_json:
        click.echo(json.dumps([result.model_dump(mode="json") for result in results], indent=2))
    else:
        click.echo(render_jobs(results))


@main.command()
@click.argument("job_id")
@_checkpoint_option
@click.option("--dry-run", is_flag=True, help="Only show what undo would delete and keep (reads only, no write).")
@click.option("--include-changed", is_flag=True, help="Also delete users changed since the import (kept otherwise).")
@click.option("--yes", "-y", is_flag=True, help="Delete without the prompt (needed when stdin is not a terminal).")
@click.option("--quiet", is_flag=True, help="No progress output.")
@json_option
def undo(
    job_id: str, checkpoint_dir: Path, dry_run: bool, include_changed: bool, yes: bool, quiet: bool, as_json: bool
) -> None:
    """Take back exactly what a job created: its memberships (also on adopted users), TOTP factors, the users it
    created, then the organizations it created once empty. Never an adopted user, a membership that existed before,
    or an organization it did not create.

    Shows a preview first (--dry-run stops there), then asks on a TTY (--yes otherwise). An undo is checkpointed:
    run it again after a kill or Ctrl-C to go on; a second undo deletes nothing. Exit 0 when done, 1 when anything
    failed or remains, 2 on a fatal error, 130 when stopped by Ctrl-C.
    """
    store, job = _open_job(checkpoint_dir, job_id)
    _need_key()
    api_key = api_key_from_env() or ""
    live = key_kind(api_key) == "live"
    quiet = quiet or as_json
    with core_errors():
        preview = anyio.run(lambda: _undo_preview(store, job.id, api_key, quiet=quiet, include_changed=include_changed))
    if as_json and dry_run:
        click.echo(preview.model_dump_json(indent=2))
        sys.exit(0)
    if not as_json:
        click.echo(render_undo_preview(preview, live=live))
    if dry_run:
        sys.exit(0)
    if not yes:
        if not _stdin_is_terminal():
            fail(
                "Confirmation needed: undo deletes what the job created; re-run with --yes to proceed without a prompt."
            )
        environment = "LIVE (production)" if live else "test"
        try:
            if not click.confirm(
                f"? Delete what job {job.id} created in the {environment} environment?", default=False
            ):
                fail("Undo cancelled; nothing was deleted.", code=1)
        except click.Abort:
            fail("\nUndo cancelled; nothing was deleted.", code=INTERRUPTED)
    with core_errors():
        result, signum = anyio.run(lambda: _undo_run(store, job.id, api_key, include_changed, quiet=quiet,
                                                     confirmation="yes" if yes else "prompt"))  # fmt: skip
    click.echo(result.model_dump_json(indent=2) if as_json else render_undo_result(result))
    sys.exit(result.exit_code if signum is None else 128 + signum)


class _UndoSeen:
    """The latest undo progress, read by ``follow`` as counts."""

    def __init__(self) -> None:
        self.progress = UndoProgress(done=0, total=0)

    def counts(self) -> Counts:
        return self.progress.done, self.progress.total, 0, 0

    def update(self, progress: UndoProgress) -> None:
        self.progress = progress


async def _undo_preview(
    store: JobStore, job_id: str, api_key: str, *, quiet: bool, include_changed: bool
) -> UndoPreview:
    seen = _UndoSeen()
    with migration_errors_alone():
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(functools.partial(follow, seen.counts, quiet=quiet, label="Checking users", unit="users"))
            preview = await preview_undo(
                store, job_id, api_key=api_key, include_changed=include_changed, on_progress=seen.update
            )
            tasks.cancel_scope.cancel()
    return preview


async def _undo_run(
    store: JobStore, job_id: str, api_key: str, include_changed: bool, *, quiet: bool, confirmation: str
) -> tuple[UndoResult, int | None]:
    """Run the undo with progress; Ctrl-C (or SIGTERM) stops it after the deletes in flight."""
    stop = anyio.Event()
    stopped_by: list[int] = []
    seen = _UndoSeen()

    def on_stop(name: str) -> None:
        click.echo(f"\nStopping undo after the deletes in flight; go on with: workos-migrate undo {job_id}", err=True)
        stopped_by.append(signal.Signals[name].value)
        stop.set()

    with migration_errors_alone():
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(watch_stop_signals, on_stop)
            tasks.start_soon(functools.partial(follow, seen.counts, quiet=quiet, label="Undoing", unit="objects"))
            result = await run_undo(
                store,
                job_id,
                api_key=api_key,
                include_changed=include_changed,
                confirmation=confirmation,
                stop=stop,
                on_progress=seen.update,
            )
            tasks.cancel_scope.cancel()
    return result, stopped_by[0] if stopped_by else None


_VERIFY_FLAGS = ("org_id", "org_external_id", "org_name", "require_membership", "read_rate_limit", "global_rate_limit")


def _verify_flags(func: F) -> F:
    for name in reversed(_VERIFY_FLAGS):
        func = _MIGRATION_FLAGS[name](func)
    return func


@main.command()
@click.argument("job_id", required=False)
@click.option("--csv", "csv_path", type=click.Path(path_type=Path), help="Verify this CSV instead of a job's.")
@_verify_flags
@_checkpoint_option
@click.option("--report", type=click.Path(path_type=Path), help="Write the whole comparison as JSON here (0600).")
@click.option(
    "--discrepancies",
    type=click.Path(path_type=Path),
    help="Write every discrepancy as CSV here: row, email, organization, kind, expected, found (0600).",
)
@click.option(
    "--missing-csv", type=click.Path(path_type=Path), help="Write the rows with something missing, to import again."
)
@click.option(
    "--login-canary",
    type=click.Path(path_type=Path),
    help="CSV of email,password for a few test accounts: sign each in (needs WORKOS_CLIENT_ID).",
)
@click.option("--quiet", is_flag=True, help="No progress output.")
@json_option
def verify(
    job_id: str | None,
    csv_path: Path | None,
    checkpoint_dir: Path,
    report: Path | None,
    discrepancies: Path | None,
    missing_csv: Path | None,
    login_canary: Path | None,
    quiet: bool,
    as_json: bool,
    **values: Any,
) -> None:
    """Prove that WorkOS holds what a job's file (JOB_ID) or a CSV (--csv, with execute's organization options)
    implies: users, memberships and roles, row by row. Reads only.

    Lists users missing, memberships missing or with other roles, users whose external id differs, rows the job
    recorded done that WorkOS lacks and rows recorded failed that are present; invalid rows apart. Exit 0 when
    the environment matches the file, 1 when it does not, 2 on unusable input.
    """
    if (job_id is None) == (csv_path is None):
        fail("❌ Give a job id or --csv (not both).")
    _need_key()
    given = {name: value for name, value in values.items() if value is not None}
    with core_errors():
        if job_id is not None:
            store, job = _open_job(checkpoint_dir, job_id)
            options = None
            job_id = job.id
        else:
            assert csv_path is not None
            options = MigrationOptions.build(csv_path=csv_path, checkpoint_dir=checkpoint_dir, **given)
            store = JobStore.open(checkpoint_dir)
        result = anyio.run(
            lambda: _verify(
                store,
                job_id=job_id,
                options=options,
                report=report,
                discrepancies=discrepancies,
                missing_csv=missing_csv,
                login_canary=login_canary,
                quiet=quiet or as_json,
            )
        )
    click.echo(result.model_dump_json(indent=2) if as_json else render_verify(result))
    sys.exit(result.exit_code)


async def _verify(store: JobStore, *, quiet: bool, **arguments: Any) -> VerifyReport:
    seen = VerifyProgress("reading", 0, 0)

    def counts() -> Counts:
        return seen.done, max(seen.total, seen.done), 0, 0

    def on_progress(progress: VerifyProgress) -> None:
        nonlocal seen
        seen = progress

    with migration_errors_alone():
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(functools.partial(follow, counts, quiet=quiet, label="Verifying", unit="objects"))
            result = await verify_migration(
                store,
                api_key=api_key_from_env() or "",
                client_id=os.environ.get("WORKOS_CLIENT_ID") or None,
                on_progress=on_progress,
                **arguments,
            )
            tasks.cancel_scope.cancel()
    return result


@main.command()
def serve() -> None:
    """Run the MCP server over stdio, for AI assistants (see docs/mcp-clients.md).

    Settings come from the environment: WORKOS_API_KEY, WORKOS_BASE_URL, MIGRATION_WORKSPACE,
    MIGRATION_STATE_DIR, MIGRATION_CONFIRM_MODE, MIGRATION_READ_ONLY (docs/tools.md).
    """
    from server.mcp import main as serve_mcp

    serve_mcp()


if __name__ == "__main__":
    main()
