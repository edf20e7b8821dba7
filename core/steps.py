"""What to do next, as data: an action and its arguments (option names, never CLI text).

Core decides next steps here; the doors render them: the CLI as commands (``server.render.command_for``),
the MCP server as tool calls (``server.models.NextCall.of``).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from core.options import MigrationOptions, option_arguments
from core.store import Job

__all__ = ["Action", "NextAction", "analyze_step", "job_arguments", "resume_step", "run_step"]


class Action(StrEnum):
    """What to do next. The CLI renders each as a command, the MCP server as a tool call."""

    PLAN = "plan"  # plan (again): arguments are options
    FIX = "fix"  # validate with auto_fix, then plan the fixed copy
    EXECUTE = "execute"  # run a plan: plan_id
    RUN = "run"  # import a file with these options (the CLI executes them; the MCP server plans them first)
    FOLLOW = "follow"  # watch a running job: job_id
    CHECK_LATER = "check_later"  # a long job: stop following, look again later: job_id
    RESUME = "resume"  # continue a job: job_id, retry_failed, checkpoint_dir (when not the default)
    ANALYZE = "analyze"  # explain a job's failures: job_id or errors, checkpoint_dir, retry_csv
    UNDO = "undo"  # take back what a job created, or follow an undo under way: job_id
    VERIFY = "verify"  # compare the environment with a job's file: job_id
    FIX_DATA = "fix_data"  # change the file; no call helps before that
    NOTHING = "nothing"  # done


class NextAction(BaseModel):
    """The next step, as data: an action and its arguments (option names), and why."""

    model_config = ConfigDict(frozen=True)

    action: Action
    arguments: dict[str, str | int | float | bool] = Field(default_factory=dict)
    why: str


def job_arguments(job_id: str, checkpoint_dir: Path) -> dict[str, str | int | float | bool]:
    """The arguments that name a job: its id, and its checkpoint dir when that is not the default one."""
    arguments: dict[str, str | int | float | bool] = {"job_id": job_id}
    if checkpoint_dir != MigrationOptions.model_fields["checkpoint_dir"].default:
        arguments["checkpoint_dir"] = str(checkpoint_dir)
    return arguments


def resume_step(job: Job, why: str = "rows remain: continue the job where it stopped") -> NextAction:
    """Continue ``job`` (in its own checkpoint directory)."""
    return NextAction(action=Action.RESUME, arguments=job_arguments(job.id, job.options.checkpoint_dir), why=why)


def analyze_step(job: Job, why: str = "rows failed: group them and see which a retry fixes") -> NextAction:
    """Analyse the failed rows of ``job`` (in its own checkpoint directory)."""
    return NextAction(action=Action.ANALYZE, arguments=job_arguments(job.id, job.options.checkpoint_dir), why=why)


def run_step(options: MigrationOptions, why: str) -> NextAction:
    """Import ``options.csv_path`` with ``options``: the CSV and every option that is not the default."""
    return NextAction(action=Action.RUN, arguments=option_arguments(options), why=why)
