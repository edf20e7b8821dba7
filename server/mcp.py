"""The MCP server: plan, confirm, start, follow, cancel and analyse migrations from an AI assistant.

``create_server(settings)`` builds an ``MCPServer`` (mcp 2.x) whose tools are thin: each confines its file
arguments to the workspace (``server.workspace``), calls the use cases of ``core.app`` and ``core``, or
``server.jobs`` to start and follow a worker, and returns a lean pydantic model (``server.models``) as
structured content with a few lines of text. Untrusted text is fenced (``server.untrusted``) and nothing
names a CLI flag. Writes are confirmed by the resolvers here, through ``server.confirm``: a form on clients
that show one, a confirmation code on the others. Jobs run in a detached worker and every tool returns at
once; ``get_migration_status`` follows a job for at most 25 s per call and sends only what changed since
the caller's cursor. State lives in the job store in ``MIGRATION_STATE_DIR``, so any server process sees
every job and plan. ``core`` errors become ``ToolError`` here, once. ``TOOLS`` is the registry
``create_server`` reads (read-only mode and ``MIGRATION_TOOLS`` choose from it); a new tool is one entry.
``main()`` serves stdio (``workos-migrate-mcp``, ``workos-migrate serve``).
"""

from __future__ import annotations

import copy
import inspect
import logging
import re
import sys
import warnings
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Literal, cast

import anyio
from mcp import MCPDeprecationWarning, MCPError
from mcp.server import MCPServer
from mcp.server.mcpserver import Context, Elicit, ElicitationResult, Resolve
from mcp.server.mcpserver.exceptions import ResourceNotFoundError, ToolError
from mcp.server.mcpserver.prompts.base import AssistantMessage, Message, UserMessage
from mcp.server.mcpserver.tools import Tool
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from mcp_types.version import is_version_at_least
from pydantic import BaseModel, Field, ValidationError

from core import app, planner
from core.analyze import analyze_errors as analyze_failures
from core.errors import JobStateError, MigrationError, OptionsError, SourceError, StoreError
from core.options import MigrationOptions
from core.planner import MigrationPlan, key_kind
from core.preflight import check_live, check_org_option
from core.store import JobStore, RowState
from core.undo import UndoPreview, UndoResult, preview_undo, undo_result
from core.validation import validate_csv
from core.verify import verify_migration as verify
from server import jobs
from server.confirm import INPUT_REQUIRED_VERSION, Answer, Confirmation, Question, ask, confirmation_key, settle
from server.models import (
    AnalysisResult,
    CancelResult,
    CheckLiveArg,
    ChunkSizeArg,
    ConcurrencyArg,
    ConversionResult,
    CreateOrgArg,
    CsvPathArg,
    ErrorSample,
    ExecutionStarted,
    JobIdArg,
    JobList,
    JobStatus,
    MaxOutageArg,
    OnExistingMembershipArg,
    OnExistingUserArg,
    OrgExternalIdArg,
    OrgIdArg,
    OrgNameArg,
    PlanArguments,
    PlanResult,
    RateLimitArg,
    RequireMembershipArg,
    ResumeResult,
    UndoAnswer,
    ValidationResult,
    VerifyAnswer,
    WorkersArg,
    counted,
    tool_terms,
)
from server.settings import ServerSettings
from server.untrusted import NOTICE, fence
from server.workspace import Workspace, roots_to_folders

__all__ = ["INSTRUCTIONS", "TOOLS", "WAIT_SECONDS_MAX", "ToolSpec", "chosen_tools", "create_server", "main"]

logger = logging.getLogger(__name__)

WAIT_SECONDS_MAX = 25
"""The longest get_migration_status waits: well inside the ~60 s hosts give a tool call."""

INSTRUCTIONS = f"""\
workos-migrate imports users (with password hashes, organizations and roles) from a CSV into WorkOS.
Workflow: plan_migration (read-only) -> show the summary, warnings and issues to the user -> execute_migration
with the plan_id once the user agrees -> get_migration_status (pass the cursor back as since) while it runs;
for long jobs stop following and check back when the user asks -> analyze_errors if rows failed ->
resume_migration with retry_failed=true for retryable failures, with the user's agreement.
A provider's own export (Auth0, Firebase, Clerk, Cognito, Supabase, Keycloak, Django) goes through
convert_export first; tell the user who must reset their password and why.
The server holds confirmations: clients with forms show the user a form; otherwise a refusal carries a
question and a confirmation code: show both to the user, wait for their answer, and send the code only if
they confirm. Never invent or reuse a code. Jobs run in their own process and survive the end of the
conversation; list_migrations finds them again. Files must be in the workspace each refusal names.
{NOTICE}"""

_READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
# validate_csv and analyze_errors write a new local file when asked, and replace one only with overwrite=true.
_WRITES_LOCAL_FILE = ToolAnnotations(
    read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=False
)

CodeArg = Annotated[
    str | None,
    Field(
        description=(
            "Without forms only: the refusal's code, once the user saw the question and code and confirmed in "
            "their own message."
        )
    ),
]
JobIdRef = Annotated[str, Field(description="From execute_migration or list_migrations.")]
OverwriteArg = Annotated[
    bool,
    Field(description="Replace an existing output file; only if the user asked."),
]


@dataclass(frozen=True, slots=True)
class _State:
    settings: ServerSettings
    opened: JobStore | StoreError
    confirmation_key: bytes

    @property
    def store(self) -> JobStore:
        """The job store; a store that could not be opened is each tool's error, never the server's end."""
        if isinstance(self.opened, StoreError):
            raise ToolError(f"{self.opened}. Fix the job store in MIGRATION_STATE_DIR, then restart the server")
        return self.opened


@asynccontextmanager
async def _lifespan(settings: ServerSettings, _server: MCPServer[Any]) -> AsyncIterator[_State]:
    opened: JobStore | StoreError
    try:
        opened = JobStore.open(settings.state_dir)
    except StoreError as exc:
        logger.error("the job store cannot be used: %s", exc)
        opened = exc
    try:
        # No store, no write: the tools refuse before a confirmation could be asked.
        key = confirmation_key(settings.state_dir) if isinstance(opened, JobStore) else b""
        yield _State(settings, opened, key)
    finally:
        if isinstance(opened, JobStore):
            opened.close()


def _state(ctx: Context) -> _State:
    return cast(_State, ctx.request_context.lifespan_context)


@contextmanager
def _translated() -> Iterator[None]:
    """core's errors as ``ToolError``: the model reads the message and can fix the call.

    A ``SourceError`` shows its message without file content: the file may not be a CSV of users at all
    (an ``.env``, ``/etc/passwd``), and nothing of it may reach the model or the SDK's log of tool errors.
    """
    try:
        yield
    except OptionsError as exc:
        raise ToolError(tool_terms("; ".join(exc.problems))) from None
    except SourceError as exc:
        raise ToolError(tool_terms(exc.without_content)) from None
    except MigrationError as exc:
        raise ToolError(tool_terms(str(exc))) from None


_ROOTS_SECONDS = 5.0
"""How long a call waits for the client's list of roots before using the server's own folder."""


async def _workspace(ctx: Context) -> Workspace:
    """The workspace of this call: MIGRATION_WORKSPACE, else the client's roots, else the server's folder."""
    settings = _state(ctx).settings
    if settings.workspace is not None:
        return Workspace.of((settings.workspace,), "MIGRATION_WORKSPACE", settings.state_dir)
    folders = await _client_roots(ctx)
    if folders:
        return Workspace.of(folders, "client roots", settings.state_dir)
    return Workspace.of((settings.default_workspace,), "server folder", settings.state_dir)


async def _client_roots(ctx: Context) -> tuple[Path, ...]:
    """The client's roots, on handshake-era connections of clients that declared them (2026-07-28 has none)."""
    capabilities = ctx.client_capabilities
    if capabilities is None or capabilities.roots is None or _input_required_era(ctx):
        return ()
    with anyio.move_on_after(_ROOTS_SECONDS), warnings.catch_warnings():
        warnings.simplefilter("ignore", MCPDeprecationWarning)
        try:
            listed = await ctx.session.list_roots()
        except MCPError:
            return ()
        return roots_to_folders([str(root.uri) for root in listed.roots])
    return ()


def _input_required_era(ctx: Context) -> bool:
    version = ctx.protocol_version
    return version is not None and is_version_at_least(version, INPUT_REQUIRED_VERSION)


def _job_sources(store: JobStore) -> list[Path]:
    """Every job's source CSV: no tool ever writes one (a job whose file changed can never resume)."""
    return [job.csv_path for job in store.list_jobs(limit=1_000_000)]


def _overwrite_allowed(settings: ServerSettings, overwrite: bool) -> None:
    if overwrite and settings.read_only:
        raise ToolError("this server is read-only (MIGRATION_READ_ONLY): it never replaces a file; choose a new name")


def _reply(result: BaseModel, text: str) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(type="text", text=text)], structured_content=result.model_dump(mode="json")
    )


async def _plan(state: _State, workspace: Workspace, arguments: PlanArguments) -> tuple[str, MigrationPlan]:
    """Plan in a thread (one pass over the file) and keep the plan in the store; returns its id."""
    options = arguments.options(state.settings, workspace)
    made = await anyio.to_thread.run_sync(partial(planner.plan, options, api_key=state.settings.key))
    key = state.settings.key
    if key and arguments.live(key):
        made = await check_live(made, api_key=key, store=state.store)
    return app.keep_plan(state.store, made), made


# -- read-only tools ------------------------------------------------------------------------------------


async def plan_migration(
    ctx: Context,
    csv_path: CsvPathArg,
    org_id: OrgIdArg = None,
    org_external_id: OrgExternalIdArg = None,
    org_name: OrgNameArg = None,
    create_org_if_missing: CreateOrgArg = False,
    concurrency: ConcurrencyArg = 10,
    workers: WorkersArg = 1,
    chunk_size: ChunkSizeArg = 1000,
    rate_limit: RateLimitArg = 50.0,
    on_existing_user: OnExistingUserArg = "adopt",
    require_membership: RequireMembershipArg = False,
    max_outage: MaxOutageArg = 900.0,
    job_id: JobIdArg = None,
    on_existing_membership: OnExistingMembershipArg = "keep",
    check_live: CheckLiveArg = None,
) -> Annotated[CallToolResult, PlanResult]:
    """Plan importing a CSV of users into WorkOS, writing nothing: call this first. Returns counts, issues by
    rule, warnings, the estimate, what execute_migration will ask, and the plan_id."""
    arguments = PlanArguments(
        csv_path=csv_path,
        org_id=org_id,
        org_external_id=org_external_id,
        org_name=org_name,
        create_org_if_missing=create_org_if_missing,
        concurrency=concurrency,
        workers=workers,
        chunk_size=chunk_size,
        rate_limit=rate_limit,
        on_existing_user=on_existing_user,
        require_membership=require_membership,
        max_outage=max_outage,
        job_id=job_id,
        on_existing_membership=on_existing_membership,
        check_live=check_live,
    )
    workspace = await _workspace(ctx)
    with _translated():
        plan_id, made = await _plan(_state(ctx), workspace, arguments)
    result = PlanResult.of(plan_id, made, reasons=app.plan_reasons(made), step=app.plan_next(made, plan_id))
    return _reply(result, result.text(len(made.issues)))


async def validate_csv_file(
    ctx: Context,
    csv_path: CsvPathArg,
    auto_fix: Annotated[
        bool, Field(description="Write a copy with the fixable issues fixed (never the input).")
    ] = False,
    fixed_csv_path: Annotated[
        str | None, Field(description="Where auto_fix writes (default: <name>.fixed.csv beside the input).")
    ] = None,
    single_org: Annotated[bool, Field(description="As if org_id or org_external_id will be given.")] = False,
    require_membership: Annotated[bool, Field(description="Rows without an organization are errors.")] = False,
    overwrite: OverwriteArg = False,
) -> Annotated[CallToolResult, ValidationResult]:
    """Check a CSV of users against every rule; with auto_fix, write a fixed copy to a new file."""
    state = _state(ctx)
    _overwrite_allowed(state.settings, overwrite)
    workspace = await _workspace(ctx)
    with _translated():
        path = workspace.readable(csv_path, argument="csv_path")
        fixed = None
        if auto_fix:
            fixed = workspace.writable(
                fixed_csv_path or str(path.with_suffix(".fixed.csv")),
                argument="fixed_csv_path",
                overwrite=overwrite,
                protected=[path, *_job_sources(state.store)],
            )
        elif fixed_csv_path:
            raise OptionsError("fixed_csv_path needs auto_fix=true")
        report = await anyio.to_thread.run_sync(
            partial(
                validate_csv,
                path,
                single_org=single_org,
                require_membership=require_membership,
                fixed_csv=fixed,
                overwrite=overwrite,
            )
        )
    result = ValidationResult.of(report)
    return _reply(result, result.text(len(report.issues)))


async def get_migration_status(
    ctx: Context,
    job_id: JobIdRef,
    since: Annotated[
        str | None,
        Field(description="The cursor of your last status result: only what changed since comes."),
    ] = None,
    wait_seconds: Annotated[
        int,
        Field(
            ge=0,
            le=WAIT_SECONDS_MAX,
            description="Wait this long at most for the job to end, with progress (not for long jobs).",
        ),
    ] = 0,
) -> Annotated[CallToolResult, JobStatus]:
    """A job's state, counts, ETA and the rows failed since your last call (pass since=cursor). For a long job
    it says to stop following and check back later: do that, the job runs on its own."""
    store = _state(ctx).store
    reported = -1

    async def progress(status: JobStatus) -> None:
        nonlocal reported
        done = status.total_rows - status.pending
        if done > reported:  # progress must grow with each notification
            reported = done
            await ctx.report_progress(done, status.total_rows or None, f"{status.state.value}: {done:,} rows done")

    with _translated():
        status = await jobs.follow(store, job_id, seconds=wait_seconds, since=since, on_progress=progress)
    return _reply(status, status.text())


async def list_migrations(
    ctx: Context,
    limit: Annotated[int, Field(ge=1, le=100, description="How many jobs, newest first.")] = 20,
) -> Annotated[CallToolResult, JobList]:
    """List the migration jobs (from any session), newest first, with their state and counts."""
    result = JobList(jobs=jobs.list_statuses(_state(ctx).store, limit=limit))
    return _reply(result, result.text())


async def analyze_errors(
    ctx: Context,
    job_id: JobIdRef,
    write_retry_csv: Annotated[
        bool,
        Field(
            description=(
                "Also write the rows to retry as a CSV copied from the source (hashes included), to re-run or fix."
            )
        ),
    ] = False,
    retry_csv_path: Annotated[
        str | None, Field(description="Where (default: <job_id>.retry.csv in the workspace).")
    ] = None,
    include_non_retryable: Annotated[
        bool, Field(description="Also put the rows a retry alone cannot fix in it (to fix first).")
    ] = False,
    overwrite: OverwriteArg = False,
) -> Annotated[CallToolResult, AnalysisResult]:
    """Explain a job's failed rows: groups by cause, which a retry fixes, what to change; optionally a retry CSV."""
    state = _state(ctx)
    _overwrite_allowed(state.settings, overwrite)
    with _translated():
        state.store.get_job(job_id)  # an unknown job is refused before any file is looked at
        retry_csv = None
        if write_retry_csv or retry_csv_path:
            workspace = await _workspace(ctx)
            retry_csv = workspace.writable(
                retry_csv_path or f"{job_id}.retry.csv",
                argument="retry_csv_path",
                overwrite=overwrite,
                protected=_job_sources(state.store),
            )
        analysis = await anyio.to_thread.run_sync(
            partial(
                analyze_failures,
                job_id,
                checkpoint_dir=state.settings.state_dir,
                retry_csv=retry_csv,
                include_non_retryable=include_non_retryable,
                overwrite=overwrite,
            )
        )
    result = AnalysisResult.of(analysis, job_id, app.analysis_next(analysis, job_id))
    return _reply(result, result.text())


# -- writes -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Execution:
    plan_id: str
    plan: MigrationPlan
    question: Question
    existing: str | None  # the plan's job, when it has one already: nothing to confirm, nothing to start


def _plan_arguments(plan: dict[str, Any]) -> PlanArguments:
    """The inline ``plan`` argument, checked as plan_migration checks its own. Raises ``OptionsError``."""
    try:
        return PlanArguments.model_validate(plan)
    except ValidationError as exc:
        problems = [f"plan.{'.'.join(map(str, error['loc']))}: {error['msg']}" for error in exc.errors()]
        raise OptionsError(problems) from None


def _require_key(settings: ServerSettings) -> None:
    if not settings.api_key:
        raise ToolError(
            "WORKOS_API_KEY is not set in the MCP server's environment: add it to the server's env in the client's "
            "configuration and restart the server (never pass a key as a tool argument)"
        )


async def _execution(
    ctx: Context, plan_id: str | None, plan_hash: str | None, plan: dict[str, Any] | None
) -> _Execution:
    """Resolver: the plan to execute (kept, or made on the spot), checked against the file as it is now."""
    state = _state(ctx)
    _require_key(state.settings)
    with _translated():
        if (plan_id is None) == (plan is None):
            raise OptionsError("give plan_id (from plan_migration) or plan (the plan_migration arguments), not both")
        if plan is not None:
            plan_id, made = await _plan(state, await _workspace(ctx), _plan_arguments(plan))
        else:
            assert plan_id is not None
            made = app.kept_plan(state.store, plan_id, plan_hash=plan_hash)
        await anyio.to_thread.run_sync(app.runnable, made, plan_id)
        job = app.job_for_plan(state.store, app.job_id_for(made.plan_hash, made.options), made.plan_hash)
    # A plan made in this very call was never shown: it needs the same confirmation as any unseen write.
    reasons = () if job is not None else app.plan_reasons(made, unshown=plan is not None)
    question = Question(
        verb="Import",
        rows=made.rows,
        csv_name=Path(made.csv_path).name,
        base_url=made.options.base_url,
        reasons=reasons,
        estimate=made.estimate.human,
        bound_to=made.plan_hash,
        retry_call=f'execute_migration(plan_id="{plan_id}")',
    )
    return _Execution(plan_id, made, question, job.id if job is not None else None)


async def _confirm_execution(
    ctx: Context, execution: Annotated[_Execution, Resolve(_execution)], confirmation_code: str | None
) -> Confirmation | Elicit[Any]:
    """Resolver: how this execution is confirmed (see ``server.confirm.ask``)."""
    return await _ask(ctx, execution.question, confirmation_code)


async def _ask(ctx: Context, question: Question, code: str | None) -> Confirmation | Elicit[Any]:
    state = _state(ctx)
    settings = state.settings
    return await ask(
        ctx,
        question,
        code=code,
        mode=settings.confirm_mode,
        timeout=settings.elicit_timeout,
        key=state.confirmation_key,
    )


async def execute_migration(
    ctx: Context,
    execution: Annotated[_Execution, Resolve(_execution)],
    answer: Annotated[ElicitationResult[Answer], Resolve(_confirm_execution)],
    plan_id: Annotated[str | None, Field(description="The plan_id from plan_migration (preferred).")] = None,
    plan_hash: Annotated[
        str | None, Field(description="The plan_hash shown to the user; refused if it differs.")
    ] = None,
    plan: Annotated[
        dict[str, Any] | None,
        Field(description="Instead of plan_id: plan_migration's arguments as an object (always confirmed)."),
    ] = None,
    confirmation_code: CodeArg = None,
) -> Annotated[CallToolResult, ExecutionStarted]:
    """Start importing a plan into WorkOS in a background worker, once the user agreed to it; returns its job at
    once (a plan has one job). Risky imports need the user's own word: a form, or the question and code a
    refusal shows."""
    state = _state(ctx)
    settings = state.settings
    made = execution.plan
    with _translated():
        if execution.existing is not None:
            status = jobs.job_status(state.store, execution.existing)
            found = ExecutionStarted.of(
                status, plan_id=execution.plan_id, plan_hash=made.plan_hash, started=False, confirmation=None
            )
            return _reply(found, found.text(status))
        confirmation = settle(answer, execution.question, mode=settings.confirm_mode)
        options = confirmation.apply(made.options)
        await check_org_option(options, api_key=settings.key)
        digest = planner.plan_hash(made.csv_sha256, options)
        status, started = jobs.start_job(
            state.store,
            options,
            csv_sha256=made.csv_sha256,
            plan_hash=digest,
            confirmation=confirmation.record,
            api_key=settings.key,
        )
    result = ExecutionStarted.of(
        status,
        plan_id=execution.plan_id,
        plan_hash=digest,
        started=started,
        confirmation=confirmation.record if started else None,
    )
    return _reply(result, result.text(status))


@dataclass(frozen=True, slots=True)
class _Resumption:
    job_id: str
    question: Question | None  # None: a worker already runs the job, nothing will be written


async def _resumption(ctx: Context, job_id: str, retry_failed: bool) -> _Resumption:
    """Resolver: the job to resume and what resuming it would need confirmed."""
    state = _state(ctx)
    _require_key(state.settings)
    with _translated():
        if jobs.worker_running(state.store, job_id):
            return _Resumption(job_id, None)
        job = state.store.get_job(job_id)
        counts = state.store.counts(job_id)
    rows = app.resume_rows(counts, retry_failed=retry_failed)
    retry = ", retry_failed=true" if retry_failed else ""
    question = Question(
        verb=f"Resume job {job_id}: send",
        rows=rows,
        csv_name=job.csv_path.name,
        base_url=job.options.base_url,
        reasons=app.confirmation_reasons(rows=rows, key=key_kind(state.settings.key)),
        estimate=None,
        bound_to=f"{job.plan_hash}:{job_id}:{rows}:{retry_failed}",
        retry_call=f'resume_migration(job_id="{job_id}"{retry})',
    )
    return _Resumption(job_id, question)


async def _confirm_resumption(
    ctx: Context, resumption: Annotated[_Resumption, Resolve(_resumption)], confirmation_code: str | None
) -> Confirmation | Elicit[Any]:
    """Resolver: how this resume is confirmed; nothing to confirm when a worker already runs the job."""
    if resumption.question is None:
        return Confirmation(how="not needed", mode=_state(ctx).settings.confirm_mode)
    return await _ask(ctx, resumption.question, confirmation_code)


async def resume_migration(
    ctx: Context,
    resumption: Annotated[_Resumption, Resolve(_resumption)],
    answer: Annotated[ElicitationResult[Answer], Resolve(_confirm_resumption)],
    job_id: JobIdRef,
    retry_failed: Annotated[
        bool, Field(description="Also send failed rows again (when analyze_errors finds them retryable).")
    ] = False,
    retry_transient: Annotated[
        bool,
        Field(description="Send again rows failed for a transient cause (5xx, timeouts, 429s)."),
    ] = True,
    confirmation_code: CodeArg = None,
) -> Annotated[CallToolResult, ResumeResult]:
    """Resume an interrupted, cancelled or failed job in a background worker; safe to call again. Imported rows
    are never sent again. Confirmed like execute_migration."""
    state = _state(ctx)
    settings = state.settings
    with _translated():
        if resumption.question is None:
            status = jobs.job_status(state.store, job_id)
            running = ResumeResult.of(status, started=False, confirmation=None)
            return _reply(running, running.text(status))
        confirmation = settle(answer, resumption.question, mode=settings.confirm_mode)
        status, started = jobs.resume_job(
            state.store,
            job_id,
            retry_failed=retry_failed,
            retry_transient=retry_transient,
            confirmation=confirmation.record,
            api_key=settings.key,
        )
    result = ResumeResult.of(status, started=started, confirmation=confirmation.record if started else None)
    return _reply(result, result.text(status))


# -- undo -----------------------------------------------------------------------------------------------

_UNDO_CHECKS = 100
"""Users the job created that undo_migration's preview reads (a call must answer within seconds); the rest are
judged one by one as the undo runs."""


_UNDO_RUNS = "the undo runs in its own process: look again in a few seconds"


@dataclass(frozen=True, slots=True)
class _Undoing:
    job_id: str
    preview: UndoPreview
    result: UndoResult | None
    question: Question | None  # None: nothing to confirm (the undo runs, or nothing is left to delete)


async def _undoing(ctx: Context, job_id: str, include_changed: bool) -> _Undoing:
    """Resolver: what undoing the job deletes and keeps (the preview), and what would need confirming."""
    state = _state(ctx)
    _require_key(state.settings)
    with _translated():
        job = state.store.get_job(job_id)
        running = jobs.undo_running(state.store, job_id)
        preview = await preview_undo(
            state.store, job_id, api_key=state.settings.key, check_limit=_UNDO_CHECKS, include_changed=include_changed
        )
        # Read after the preview: an undo that ended meanwhile has its outcomes recorded by now.
        result = undo_result(state.store, job_id)
    gone = sum(result.deleted.values()) + sum(result.absent.values()) if result is not None else 0
    remaining = sum(preview.delete.values()) - gone
    if running or remaining <= 0:
        return _Undoing(job_id, preview, result, None)
    deletes = ", ".join(counted(kind, count) for kind, count in preview.delete.items() if count)
    changed = ", include_changed=true" if include_changed else ""
    question = Question(
        verb="Undo",
        rows=remaining,
        csv_name=job.csv_path.name,
        base_url=job.options.base_url,
        reasons=app.undo_reasons(key=key_kind(state.settings.key)),
        estimate=None,
        bound_to=f"undo:{job_id}:{remaining}:{include_changed}",
        retry_call=f'undo_migration(job_id="{job_id}"{changed})',
        subject=(
            f"Undo job {job_id}: delete what it created ({deletes}; users changed since the import "
            + ("deleted too" if include_changed else "kept")
            + ")"
        ),
    )
    return _Undoing(job_id, preview, result, question)


async def _confirm_undo(
    ctx: Context, undoing: Annotated[_Undoing, Resolve(_undoing)], confirmation_code: str | None
) -> Confirmation | Elicit[Any]:
    """Resolver: how this undo is confirmed; nothing to confirm when it runs already or nothing is left."""
    if undoing.question is None:
        return Confirmation(how="not needed", mode=_state(ctx).settings.confirm_mode)
    return await _ask(ctx, undoing.question, confirmation_code)


async def undo_migration(
    ctx: Context,
    undoing: Annotated[_Undoing, Resolve(_undoing)],
    answer: Annotated[ElicitationResult[Answer], Resolve(_confirm_undo)],
    job_id: JobIdRef,
    include_changed: Annotated[
        bool, Field(description="Also delete created users changed since (only if the user asks).")
    ] = False,
    confirmation_code: CodeArg = None,
) -> Annotated[CallToolResult, UndoAnswer]:
    """Delete what a job created (its memberships, TOTP factors, users, then empty organizations), never what
    existed before. The first call is a preview to show the user; it deletes only once they confirm, in a
    background worker; call again to follow it."""
    state = _state(ctx)
    settings = state.settings
    with _translated():
        if undoing.question is None:
            if jobs.undo_running(state.store, job_id):
                step = app.NextAction(action=app.Action.UNDO, arguments={"job_id": job_id}, why=_UNDO_RUNS)
            elif undoing.result is not None:
                step = app.undo_next(undoing.result)
            else:
                step = app.NextAction(action=app.Action.NOTHING, why="the job created nothing to delete")
            found = UndoAnswer.of(undoing.preview, undoing.result, started=False, confirmation=None, next_step=step)
            return _reply(found, found.text())
        confirmation = settle(answer, undoing.question, mode=settings.confirm_mode)
        jobs.start_undo(
            state.store, job_id, include_changed=include_changed, confirmation=confirmation.record, api_key=settings.key
        )
    step = app.NextAction(
        action=app.Action.UNDO,
        arguments={"job_id": job_id},
        why="the undo runs in its own process: call again to follow it",
    )
    started = UndoAnswer.of(
        undoing.preview, undoing.result, started=True, confirmation=confirmation.record, next_step=step
    )
    return _reply(started, started.text())


# -- verify -------------------------------------------------------------------------------------------


async def verify_migration(
    ctx: Context,
    job_id: Annotated[str | None, Field(description="The job to verify (its file and options).")] = None,
    csv_path: Annotated[str | None, Field(description="Instead of job_id: a CSV in the workspace.")] = None,
    org_id: Annotated[str | None, Field(description="With csv_path: the organization every row joins.")] = None,
    org_external_id: Annotated[str | None, Field(description="With csv_path: the same, by external id.")] = None,
    discrepancies_path: Annotated[
        str | None, Field(description="Write every discrepancy as CSV here (row, email, organization, kind, ...).")
    ] = None,
    missing_csv_path: Annotated[
        str | None, Field(description="Write the rows with something missing here, to import again.")
    ] = None,
    overwrite: OverwriteArg = False,
) -> Annotated[CallToolResult, VerifyAnswer]:
    """Check, read-only, that WorkOS holds what a job's file (or a CSV) implies: users, memberships and roles, row
    by row. Returns counts by kind, the first discrepancies, and what to call next."""
    state = _state(ctx)
    settings = state.settings
    _require_key(settings)
    _overwrite_allowed(settings, overwrite)
    with _translated():
        if (job_id is None) == (csv_path is None):
            raise OptionsError("give job_id or csv_path, not both")
        workspace = await _workspace(ctx)
        options = None
        if csv_path is not None:
            options = MigrationOptions.build(
                csv_path=workspace.readable(csv_path, argument="csv_path"),
                checkpoint_dir=settings.state_dir,
                base_url=settings.base_url,
                org_id=org_id,
                org_external_id=org_external_id,
                read_rate_limit=settings.read_rate_limit,
                global_rate_limit=settings.global_rate_limit,
            )
        else:
            state.store.get_job(job_id or "")
        outputs = {
            name: workspace.writable(value, argument=name, overwrite=overwrite, protected=_job_sources(state.store))
            for name, value in (("discrepancies_path", discrepancies_path), ("missing_csv_path", missing_csv_path))
            if value
        }
        report = await verify(
            state.store,
            api_key=settings.key,
            job_id=job_id,
            options=options,
            discrepancies=outputs.get("discrepancies_path"),
            missing_csv=outputs.get("missing_csv_path"),
        )
    result = VerifyAnswer.of(report, app.verify_next(report))
    return _reply(result, result.text())


async def cancel_migration(ctx: Context, job_id: JobIdRef) -> Annotated[CallToolResult, CancelResult]:
    """Stop a running job (or its undo) after the rows in flight; it stays resumable."""
    store = _state(ctx).store
    with _translated():
        app.cancel(store, job_id)
        status = jobs.job_status(store, job_id)
    return _reply(CancelResult.of(status), status.text())


# -- resources and prompt -----------------------------------------------------------------------------


class ErrorsPage(BaseModel):
    """The first failed rows of a job, in row order; emails, codes and messages are fenced untrusted data."""

    job_id: str
    failed: int
    errors: list[ErrorSample]


_ERRORS_PAGE = 100


def _known_job(state: _State, job_id: str) -> None:
    try:
        state.store.get_job(job_id)
    except JobStateError:
        raise ResourceNotFoundError(f"no job {fence(job_id)}") from None


def job_resource(job_id: str, ctx: Context) -> str:
    """One job's status (JSON), as get_migration_status returns it."""
    state = _state(ctx)
    _known_job(state, job_id)
    return jobs.job_status(state.store, job_id).model_dump_json()


def job_errors_resource(job_id: str, ctx: Context) -> str:
    """A job's first 100 failed rows, in row order (JSON). No password, hash or TOTP secret is ever stored."""
    state = _state(ctx)
    _known_job(state, job_id)
    failed = state.store.counts(job_id).failed
    failures = state.store.iter_rows(job_id, state=RowState.FAILED)
    samples = [ErrorSample.of(outcome) for _, outcome in zip(range(_ERRORS_PAGE), failures, strict=False)]
    return ErrorsPage(job_id=job_id, failed=failed, errors=samples).model_dump_json()


def guided_migration(
    csv_path: Annotated[str, Field(description="The CSV of users to import.")],
    organization: Annotated[str, Field(description="Organization id or external id every user joins, if any.")] = "",
) -> list[Message]:
    """Walk through a migration: plan, show, confirm, execute, follow, analyse."""
    org = f" Every user joins the organization {fence(organization)}." if organization else ""
    return [
        UserMessage(f"Migrate the users in {fence(csv_path)} into WorkOS.{org}"),
        AssistantMessage(
            "I will do this in steps, and start nothing without your agreement:\n"
            "1. plan_migration on the file (no write anywhere) and show you the plan: rows, users, organizations, "
            "issues, warnings, target environment and the time it should take.\n"
            "2. If the file has errors, validate_csv with auto_fix for the fixable ones, and plan again.\n"
            "3. Ask you to confirm; then execute_migration with the plan_id. Large imports, live keys and files "
            "without organizations need your own confirmation: a form, or a question with a code I show you.\n"
            "4. Follow the job with get_migration_status while it runs; a long job I leave running and check on "
            "when you ask.\n"
            "5. If rows failed, analyze_errors to explain them, and with your agreement resume_migration with "
            "retry_failed=true for the ones a retry can fix."
        ),
    ]


# -- the server ---------------------------------------------------------------------------------------


# -- conversion -----------------------------------------------------------------------------------------

_EXPORT_FILES = ("passwords", "hash_config", "org_members", "memberships", "groups", "identities", "mfa_factors")
_EXPORT_SETTINGS = ("org_attribute", "role_attribute")
_EXPORT_OUTPUTS = ("report_path", "reset_list_path")


async def convert_export(
    ctx: Context,
    source: Literal["auth0", "firebase", "clerk", "cognito", "supabase", "keycloak", "django"],
    users: Annotated[list[str], Field(min_length=1, description="Export file(s); keycloak: a dir.")],
    out_csv: Annotated[str, Field(description="The CSV to write.")],
    files: Annotated[
        dict[str, str] | None,
        Field(description="More inputs by name: " + ", ".join((*_EXPORT_FILES, *_EXPORT_SETTINGS, *_EXPORT_OUTPUTS))),
    ] = None,
    role_map: Annotated[list[str] | None, Field(description="OLD=new role names.")] = None,
    disabled: Annotated[Literal["skip", "import"], Field(description="import: without password.")] = "skip",
    overwrite: OverwriteArg = False,
) -> Annotated[CallToolResult, ConversionResult]:
    """Convert a provider's user export to the CSV plan_migration reads. Returns counts by outcome and reason;
    never a hash, secret or email."""
    from core.sources import ConvertOptions, Source, SourceInputs, load_hash_config, parse_role_map
    from core.sources import convert_export as convert

    state = _state(ctx)
    _overwrite_allowed(state.settings, overwrite)
    workspace = await _workspace(ctx)
    given = dict(files or {})
    with _translated():
        if unknown := sorted(set(given) - {*_EXPORT_FILES, *_EXPORT_SETTINGS, *_EXPORT_OUTPUTS}):
            raise OptionsError(f"files: unknown names {', '.join(map(fence, unknown))} (see the tool's description)")
        read = {name: workspace.readable(given[name], argument=name) for name in _EXPORT_FILES if name in given}
        config = read.pop("hash_config", None)
        inputs = SourceInputs(
            users=[workspace.readable(value, argument="users") for value in users],
            hash_config=load_hash_config(config) if config else None,
            **{name: given.get(name) for name in _EXPORT_SETTINGS},
            **read,
        )
        protected = [*inputs.users, *read.values(), *_job_sources(state.store)]

        def output(value: str | None, argument: str) -> Path | None:
            if value is None:
                return None
            return workspace.writable(value, argument=argument, overwrite=overwrite, protected=protected)

        options = ConvertOptions(
            out=output(out_csv, "out_csv"),
            report=output(given.get("report_path"), "report_path"),
            reset_list=output(given.get("reset_list_path"), "reset_list_path"),
            disabled=disabled,
            role_map=parse_role_map(role_map or []),
        )
        report = await anyio.to_thread.run_sync(partial(convert, Source(source), inputs, options))
    result = ConversionResult.of(report)
    return _reply(result, result.text())


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """One tool of the server: its function, name, title, annotations, and whether read-only mode keeps it."""

    function: Callable[..., Any]
    name: str
    title: str
    annotations: ToolAnnotations
    read_only_mode: bool  # kept by MIGRATION_READ_ONLY: never writes to WorkOS nor starts or stops a job


TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(plan_migration, "plan_migration", "Plan a migration", _READ_ONLY, True),
    ToolSpec(validate_csv_file, "validate_csv", "Validate a CSV", _WRITES_LOCAL_FILE, True),
    ToolSpec(get_migration_status, "get_migration_status", "Migration status", _READ_ONLY, True),
    ToolSpec(list_migrations, "list_migrations", "List migrations", _READ_ONLY, True),
    ToolSpec(analyze_errors, "analyze_errors", "Analyze failed rows", _WRITES_LOCAL_FILE, True),
    ToolSpec(convert_export, "convert_export", "Convert a provider's export", _WRITES_LOCAL_FILE, True),
    ToolSpec(
        execute_migration,
        "execute_migration",
        "Execute a migration",
        ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=True),
        False,
    ),
    ToolSpec(
        resume_migration,
        "resume_migration",
        "Resume a migration",
        ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=True),
        False,
    ),
    ToolSpec(
        verify_migration,
        "verify_migration",
        "Verify a migration",
        ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=True),
        True,
    ),
    ToolSpec(
        undo_migration,
        "undo_migration",
        "Undo a migration",
        ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=True),
        False,
    ),
    ToolSpec(
        cancel_migration,
        "cancel_migration",
        "Cancel a migration",
        ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False),
        False,
    ),
)
"""Every tool, in the order tools/list shows them; ``create_server`` registers those the settings allow."""


def chosen_tools(settings: ServerSettings) -> list[ToolSpec]:
    """The tools this server registers: ``MIGRATION_TOOLS`` (when set) within what read-only mode keeps.

    Raises ``OptionsError`` naming any tool ``MIGRATION_TOOLS`` lists that does not exist.
    """
    names = {spec.name for spec in TOOLS}
    if settings.tools is not None and (unknown := sorted(settings.tools - names)):
        raise OptionsError(
            f"MIGRATION_TOOLS names unknown tools: {', '.join(unknown)} (the tools are {', '.join(sorted(names))})"
        )
    return [
        spec
        for spec in TOOLS
        if (spec.read_only_mode or not settings.read_only) and (settings.tools is None or spec.name in settings.tools)
    ]


def _tool(spec: ToolSpec) -> Tool:
    """The registered tool of ``spec``: its description dedented, its schemas only what a model reads."""
    tool = Tool.from_function(
        spec.function,
        name=spec.name,
        title=spec.title,
        description=re.sub(r"(?<=\S)\n(?=\S)", " ", inspect.cleandoc(spec.function.__doc__ or "")),
        annotations=spec.annotations,
    )
    _lean(tool.parameters, output=False)
    if tool.output_schema is not None:
        _lean(tool.output_schema, output=True)
    return tool


def _lean(schema: dict[str, Any], *, output: bool) -> None:
    """Drop what pydantic generates and a model does not need, so tools/list stays small (at most 20,000
    characters; it was 50,721).

    Gone everywhere: titles (the field name again), ``additionalProperties: true`` (the default) and null
    defaults of arguments (an argument left out is null); a definition used once stands where it is used,
    and a union with null is one schema whose type may be null. Gone from output schemas: the required
    lists and defaults (every field is always sent), the models' docstrings (the tool's description says
    what comes back) and the JSON types below the top (see ``_untyped``).
    """
    definitions = schema.pop("$defs", {})
    if output:
        schema.pop("description", None)
        for definition in definitions.values():
            definition.pop("description", None)
    uses = Counter(_references(schema) + [ref for d in definitions.values() for ref in _references(d)])
    shared = {name: d for name, d in definitions.items() if uses[_DEFS + name] > 1}
    inline = {_DEFS + name: d for name, d in definitions.items() if name not in shared}
    for node in (schema, *shared.values()):
        _trim(node, output=output, inline=inline)
        if output:
            _untyped(node, top=node is schema)
    if shared:
        schema["$defs"] = shared


_DEFS = "#/$defs/"
_NESTED = ("items", "additionalProperties", "propertyNames")


def _references(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [ref for value in node.values() for ref in _references(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _references(value)]
    return []


def _trim(node: dict[str, Any], *, output: bool, inline: dict[str, dict[str, Any]]) -> None:
    """``_lean`` for one schema node and everything in it; ``inline`` maps a reference to the definition it becomes."""
    if (ref := node.get("$ref")) in inline:
        del node["$ref"]
        for key, value in copy.deepcopy(inline[ref]).items():
            node.setdefault(key, value)  # the field's own description goes before its type's
    node.pop("title", None)
    if node.get("additionalProperties") is True:
        del node["additionalProperties"]
    if output:
        node.pop("required", None)
        node.pop("default", None)
    elif "default" in node and node["default"] is None:
        del node["default"]
    for nested in (*node.get("properties", {}).values(), *node.get("anyOf", ()), *(node.get(key) for key in _NESTED)):
        if isinstance(nested, dict):
            _trim(nested, output=output, inline=inline)
    _nullable(node)


def _nullable(node: dict[str, Any]) -> None:
    """``anyOf: [X, {"type": "null"}]`` as X whose type may be null, when X has a plain type of its own."""
    variants = node.get("anyOf")
    if not variants:
        return
    for variant in variants:
        if "description" in variant:
            node.setdefault("description", variant.pop("description"))
    others = [variant for variant in variants if variant != {"type": "null"}]
    typed = all(isinstance(variant.get("type"), str) for variant in others)
    if len(others) == len(variants) - 1 == 1 and typed:
        (merged,) = others
        if "enum" in merged:
            merged["enum"] = [*merged["enum"], None]
        merged["type"] = [merged["type"], "null"]
    elif typed and all(variant.keys() == {"type"} for variant in others):
        merged = {"type": [variant["type"] for variant in variants]}
    else:
        return
    del node["anyOf"]
    for key, value in merged.items():
        node.setdefault(key, value)


def _untyped(node: dict[str, Any], *, top: bool = False) -> None:
    """An output schema without JSON types below its top: every value shows its own type in the result, and
    the schema says what each field is (its name, description and enum) and the shape of what it holds (the
    fields of an object, the items of a list), so every field and every fenced string stays described.
    """
    if not top:
        node.pop("type", None)
    for nested in (*node.get("properties", {}).values(), *node.get("anyOf", ())):
        _untyped(nested)
    for key in _NESTED:
        if isinstance(node.get(key), dict):
            _untyped(node[key])
            if not node[key]:
                del node[key]


def create_server(settings: ServerSettings | None = None) -> MCPServer[Any]:
    """The workos-migrate MCP server; ``settings`` default to ``ServerSettings.from_env()``.

    Registers ``chosen_tools(settings)``: with ``settings.read_only`` only the tools that never write to
    WorkOS nor start or stop a job, and with ``settings.tools`` only those named. Raises ``OptionsError``.
    """
    settings = settings or ServerSettings.from_env()
    server: MCPServer[Any] = MCPServer(
        "workos-migrate",
        title="WorkOS migration",
        instructions=INSTRUCTIONS,
        version=_version(),
        lifespan=partial(_lifespan, settings),
        tools=[_tool(spec) for spec in chosen_tools(settings)],
    )
    json_type = "application/json"

    @server.resource("migration://jobs", name="jobs", mime_type=json_type)
    def jobs_resource() -> str:
        """Every job, newest first, with state and counts (JSON)."""
        store = JobStore.open(settings.state_dir)
        try:
            return JobList(jobs=jobs.list_statuses(store, limit=100)).model_dump_json()
        finally:
            store.close()

    server.resource("migration://jobs/{job_id}", name="job", mime_type=json_type)(job_resource)
    server.resource("migration://jobs/{job_id}/errors", name="job_errors", mime_type=json_type)(job_errors_resource)
    server.prompt(name="guided_migration", title="Guided migration")(guided_migration)
    return server


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("workos-migrate")
    except PackageNotFoundError:
        return "0"


def main() -> None:
    """Serve over stdio: ``workos-migrate-mcp``. Logs go to stderr (stdout is the protocol)."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        server = create_server()
    except OptionsError as exc:
        logger.error("workos-migrate MCP server not started: %s", "; ".join(exc.problems))
        sys.exit(2)
    server.run()


if __name__ == "__main__":
    main()
