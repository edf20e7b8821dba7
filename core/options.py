"""MigrationOptions: every option of a migration, its range, and the rules between options.

The CLI flags, the MCP tool arguments and the options stored with a job are all this one model.
``MigrationOptions.build`` turns pydantic's errors into one ``OptionsError`` whose messages name the flag;
``check_paths`` checks what needs the file system (the CSV, the checkpoint dir, the errors file).
Reading the CSV itself is left to ``csvsource``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.errors import OptionsError, SourceError

__all__ = [
    "DEFAULT_BASE_URL",
    "MigrationOptions",
    "OnExistingMembership",
    "OnExistingUser",
    "check_paths",
    "flag_name",
    "option_arguments",
    "output_problem",
]

DEFAULT_BASE_URL = "https://api.workos.com"

OnExistingUser = Literal["adopt", "update", "skip", "fail"]
OnExistingMembership = Literal["keep", "update", "fail"]


def _default_base_url() -> str:
    return os.environ.get("WORKOS_BASE_URL") or DEFAULT_BASE_URL


class MigrationOptions(BaseModel):
    """Everything that decides what a migration does. Field names are the CLI flags without dashes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    csv_path: Path = Field(description="Path of the CSV file of users to import.")
    org_id: str | None = Field(default=None, description="WorkOS organization id (org_...) every user joins.")
    org_external_id: str | None = Field(default=None, description="External id of the organization every user joins.")
    org_name: str | None = Field(
        default=None,
        description=(
            "Name of the organization every user joins; with org_external_id, the name create_org_if_missing gives it."
        ),
    )
    create_org_if_missing: bool = Field(
        default=False, description="Create organizations that do not exist yet (needs a name)."
    )
    concurrency: int = Field(default=10, ge=1, le=100, description="Rows in flight at once per worker.")
    workers: int = Field(default=1, ge=1, le=32, description="Worker processes sharing the job.")
    chunk_size: int = Field(default=1000, ge=100, le=10000, description="Rows per checkpoint chunk.")
    rate_limit: float = Field(
        default=50.0, ge=1, le=10000, description="User-management writes per second for the whole job."
    )
    read_rate_limit: float = Field(
        default=100.0,
        ge=1,
        le=100000,
        description="User-management reads per second (WorkOS: 1,000 per 10 s). Raise only if WorkOS raised yours.",
    )
    global_rate_limit: float = Field(
        default=100.0,
        ge=1,
        le=100000,
        description="All requests per second (WorkOS: 6,000 per 60 s per key). Raise only if WorkOS raised yours.",
    )
    max_outage: float = Field(
        default=900.0,
        ge=0,
        le=604800,
        description=(
            "Seconds WorkOS may be down (5xx, timeouts, refused connections) before the job stops interrupted, "
            "rows pending; 0: no circuit breaker (rows then fail)."
        ),
    )
    on_existing_user: OnExistingUser = Field(
        default="adopt",
        description=(
            "The email exists in WorkOS: adopt (use it, add the membership), update (its fields too), skip or fail "
            "the row."
        ),
    )
    on_existing_membership: OnExistingMembership = Field(
        default="keep",
        description="A membership there with other roles: keep (a warning), update (set the row's) or fail.",
    )
    require_membership: bool = Field(
        default=False,
        description="A row whose membership fails is a failure; a user this row created is then removed.",
    )
    dry_run: bool = Field(default=False, description="Run the whole pipeline without any API call.")
    quiet: bool = Field(default=False, description="No progress output.")
    yes: bool = Field(default=False, description="Skip interactive prompts and confirmations.")
    errors_out: Path | None = Field(
        default=None, description="Also write failed rows here (JSONL, or CSV when the name ends in .csv)."
    )
    job_id: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
        description="Name of the job; generated when not given.",
    )
    resume: bool | str | None = Field(default=None, description="Resume a job: true for the latest job, or a job id.")
    retry_failed: bool = Field(default=False, description="On resume, send failed rows again.")
    retry_transient: bool = Field(
        default=True,
        description=(
            "On resume, send again the rows that failed for a transient cause (5xx, timeouts, unknown outcomes, "
            "connection errors, 429s). Rows that need a fix in the file are never sent again."
        ),
    )
    checkpoint_dir: Path = Field(default=Path(".workos-checkpoints"), description="Directory of the job store.")
    base_url: str = Field(default_factory=_default_base_url, description="WorkOS API base URL (env WORKOS_BASE_URL).")

    @field_validator("org_id", "org_external_id", "org_name", "job_id", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
            return value or None
        return value

    @field_validator("resume", mode="before")
    @classmethod
    def _resume_is_bool_or_id(cls, value: Any) -> Any:
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, str):
            return value.strip() or True
        raise ValueError("must be a boolean or a job id string")

    @field_validator("base_url")
    @classmethod
    def _base_url_is_http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _cross_field_rules(self) -> MigrationOptions:
        problems = _cross_field_problems(self)
        if problems:
            raise ValueError(" | ".join(problems))
        return self

    @classmethod
    def build(cls, **values: Any) -> MigrationOptions:
        """Build options, raising ``OptionsError`` with one message per broken rule, named by flag."""
        try:
            return cls(**values)
        except ValidationError as exc:
            messages = _messages(exc)
            if all(error.get("loc") for error in exc.errors()):
                # Field errors stop pydantic before the cross-field rules: report those too, in one go.
                messages += _cross_field_problems(cls.model_construct(**values))
            raise OptionsError(messages) from None

    @property
    def single_org(self) -> bool:
        """True when an organization option puts every row in one organization."""
        return bool(self.org_id or self.org_external_id or self.org_name)


def _cross_field_problems(options: MigrationOptions) -> list[str]:
    problems: list[str] = []
    if options.org_id and (options.org_external_id or options.org_name):
        other = "--org-external-id" if options.org_external_id else "--org-name"
        problems.append(f"Cannot specify both --org-id and {other}: --org-id names the organization already")
    if options.create_org_if_missing and options.org_id:
        problems.append("--create-org-if-missing cannot be used with --org-id (an id cannot be created)")
    if options.create_org_if_missing and options.org_external_id and not options.org_name:
        problems.append("--create-org-if-missing with --org-external-id needs --org-name (the name to create it with)")
    if options.retry_failed and not options.resume:
        problems.append("--retry-failed only applies with --resume")
    if isinstance(options.resume, str) and options.job_id and options.job_id != options.resume:
        problems.append(f"--job-id {options.job_id} and --resume {options.resume} name different jobs")
    return problems


def flag_name(field: str) -> str:
    """The CLI spelling of an option: ``chunk_size`` -> ``--chunk-size``."""
    return "--" + ("csv" if field == "csv_path" else field.replace("_", "-"))


# Fields that say how a command runs, not what it does: left out of ``option_arguments``.
_RUN_CONTROL = frozenset({"csv_path", "quiet", "yes", "base_url"})


def option_arguments(options: MigrationOptions) -> dict[str, str | int | float | bool]:
    """The options that say what ``options`` does: the CSV plus every non-default option, in field order.

    Option names as keys (data, not CLI text): ``server.render.command_for`` spells them as flags.
    """
    arguments: dict[str, str | int | float | bool] = {"csv_path": str(options.csv_path)}
    defaults = MigrationOptions.model_construct(csv_path=options.csv_path)
    for name in MigrationOptions.model_fields:
        if name in _RUN_CONTROL:
            continue
        value = getattr(options, name)
        if value == getattr(defaults, name, None) or value is None or value is False:
            continue
        arguments[name] = value if isinstance(value, str | int | float | bool) else str(value)
    return arguments


def _messages(exc: ValidationError) -> list[str]:
    messages: list[str] = []
    for error in exc.errors(include_url=False):
        loc = error.get("loc") or ()
        ctx = error.get("ctx") or {}
        if not loc:
            messages.extend(str(error["msg"]).removeprefix("Value error, ").split(" | "))
            continue
        flag = flag_name(str(loc[0]))
        given = error.get("input")
        kind = error["type"]
        if kind in ("greater_than_equal", "less_than_equal"):
            low, high = _RANGES.get(str(loc[0]), (ctx.get("ge"), ctx.get("le")))
            messages.append(f"{flag} must be between {low:g} and {high:g} (got {given})")
        elif kind == "literal_error":
            messages.append(f"{flag} must be one of {ctx.get('expected')} (got {given!r})")
        elif kind == "string_pattern_mismatch":
            messages.append(f"{flag} may hold only letters, digits, '.', '_' and '-', up to 64 (got {given!r})")
        elif kind == "extra_forbidden":
            messages.append(f"unknown option {flag}")
        elif kind == "missing":
            messages.append(f"{flag} is required")
        else:
            messages.append(f"{flag}: {str(error['msg']).removeprefix('Value error, ')} (got {given!r})")
    return messages


_RANGES: dict[str, tuple[float, float]] = {
    name: (float(low), float(high))
    for name, low, high in (
        ("concurrency", 1, 100),
        ("workers", 1, 32),
        ("chunk_size", 100, 10000),
        ("rate_limit", 1, 10000),
        ("read_rate_limit", 1, 100000),
        ("global_rate_limit", 1, 100000),
        ("max_outage", 0, 604800),
    )
}


def check_paths(options: MigrationOptions) -> None:
    """Check the CSV is a readable file and the checkpoint dir and errors file can be written.

    Raises ``SourceError`` for the CSV and ``OptionsError`` for the output locations.
    """
    path = options.csv_path
    if not path.exists():
        raise SourceError(f"CSV file not found: {path}")
    if path.is_dir():
        raise SourceError(f"CSV path is a directory, not a file: {path}")
    if not os.access(path, os.R_OK):
        raise SourceError(f"CSV file is not readable: {path}")
    problems = []
    if not options.dry_run and not _writable_dir(options.checkpoint_dir):
        problems.append(f"--checkpoint-dir is not a writable directory: {options.checkpoint_dir}")
    if options.errors_out is not None and (problem := output_problem(options.errors_out, "--errors-out")):
        problems.append(problem)
    if problems:
        raise OptionsError(problems)


def output_problem(target: Path, flag: str) -> str | None:
    """Why the file ``target`` (given as ``flag``) cannot be written, or None when it can."""
    if target.is_dir():
        return f"{flag} is a directory, not a file: {target}"
    if target.exists() and not os.access(target, os.W_OK):
        return f"{flag} is not writable: {target}"
    if not target.exists() and not _writable_dir(target.parent):
        return f"{flag} cannot be created in {target.parent or Path('.')}"
    return None


def _writable_dir(directory: Path) -> bool:
    """True when ``directory`` exists and is writable, or could be created under a writable ancestor."""
    current = directory if str(directory) else Path(".")
    while not current.exists():
        if current.parent == current:
            return False
        current = current.parent
    return current.is_dir() and os.access(current, os.W_OK | os.X_OK)
