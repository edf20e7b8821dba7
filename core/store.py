"""The job store: every job, chunk, runner and row outcome, and the plans kept for later, in one SQLite file.
All SQL lives here and in ``core.snapshot_tables`` (the environment snapshot's tables, on this connection).

The store is the ledger that makes a migration resumable: a job records its options, the CSV's path and
sha256 and the plan hash; the file is split into chunks with the byte offset where each starts; each
row ends with exactly one recorded outcome. Several processes share one store (``--workers``, several
MCP servers): SQLite in WAL mode with a busy timeout, short ``BEGIN IMMEDIATE`` transactions, and
runners that prove they are alive with a heartbeat. What to do with the rows is the engine's business.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import stat
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, NamedTuple

from core.errors import JobStateError, StoreError
from core.options import MigrationOptions
from core.platform import pid_alive
from core.snapshot_tables import EnvironmentTables

__all__ = [
    "HEARTBEAT_STALE_SECONDS",
    "RESUMABLE_STATES",
    "SCHEMA_VERSION",
    "STORE_FILENAME",
    "UNDO_PHASES",
    "ChunkClaim",
    "ChunkSpec",
    "FailureRow",
    "Job",
    "JobCounts",
    "JobState",
    "JobStore",
    "MembershipAction",
    "OrganizationAction",
    "OrganizationEntry",
    "Outage",
    "RowOutcome",
    "RowState",
    "SeenKeys",
    "StoredPlan",
    "TotpAction",
    "UndoItem",
    "UndoKind",
    "UndoOutcome",
    "UndoRecord",
    "UndoState",
    "UserAction",
    "new_job_id",
]

SCHEMA_VERSION = 5
STORE_FILENAME = "jobs.sqlite3"
# A runner that has not beaten for this long is presumed dead; its chunks go back to the pool.
HEARTBEAT_STALE_SECONDS = 15.0


class JobState(StrEnum):
    """Where a job stands. ``interrupted`` is derived: running, but no live runner."""

    PREPARING = "preparing"  # the validating and chunking pass is under way (redone if it was cut short)
    CREATED = "created"  # recorded, validated, chunked; no row sent yet
    RUNNING = "running"  # a runner holds the job and sends rows
    INTERRUPTED = "interrupted"  # was running, its runner died (crash, kill): resume it
    CANCELLED = "cancelled"  # stopped on request; in-flight rows were recorded: resume it
    COMPLETED = "completed"  # every row has an outcome and none failed
    COMPLETED_WITH_ERRORS = "completed_with_errors"  # every row has an outcome, some failed
    FAILED = "failed"  # stopped by a fatal error (bad key, organization missing): fix, then resume
    DRY_RUN = "dry_run"  # a dry run's record: nothing was sent


RESUMABLE_STATES = frozenset(
    {
        JobState.PREPARING,
        JobState.CREATED,
        JobState.INTERRUPTED,
        JobState.CANCELLED,
        JobState.FAILED,
        JobState.COMPLETED_WITH_ERRORS,
    }
)


class RowState(StrEnum):
    """The outcome of one row. Every state but ``failed`` counts as success."""

    DONE = "done"  # user present, membership present when the row has an organization
    SKIPPED = "skipped"  # the user existed and --on-existing-user skip left the row alone
    FAILED = "failed"  # see the error columns


class UserAction(StrEnum):
    """What a row did about its user. Undo deletes only ``created`` users."""

    CREATED = "created"  # this job created the user (also when a lost answer was reconciled by email)
    ADOPTED = "adopted"  # the user existed before the job and was taken as it is (--on-existing-user adopt)
    UPDATED = "updated"  # the user existed and its fields were updated (--on-existing-user update)
    REUSED = "reused"  # an earlier row of this job settled this email; see that row
    SKIPPED = "skipped"  # the user existed and the row was left alone (--on-existing-user skip)
    ROLLED_BACK = "rolled_back"  # created, then deleted again because its membership failed (--require-membership)


class MembershipAction(StrEnum):
    """What a row did about its membership. Undo deletes only ``created`` memberships."""

    CREATED = "created"  # this job created the membership (also when a lost answer was reconciled)
    EXISTED = "existed"  # the membership was there before the job: never touched by undo
    UPDATED = "updated"  # the membership was there and its roles were changed
    NONE = "none"  # the row has no organization


class TotpAction(StrEnum):
    """What a row did about its TOTP factor. Undo deletes only ``enrolled`` factors."""

    ENROLLED = "enrolled"  # this job enrolled the factor (its id in ``factor_id`` when WorkOS answered)
    EXISTED = "existed"  # the user already had a TOTP factor


class OrganizationAction(StrEnum):
    """What a job did about an organization it resolved. Undo deletes only ``created`` ones (and ``sending``
    ones it can prove were created by the job)."""

    SENDING = "sending"  # a create was about to be sent: its answer may have been lost (a kill, a timeout)
    CREATED = "created"  # the job created it
    FOUND = "found"  # it existed: the job only joined it


class ChunkSpec(NamedTuple):
    """A slice of the CSV: ``row_count`` data rows starting at ``first_row``, at ``byte_offset``."""

    number: int
    first_row: int
    byte_offset: int
    row_count: int


class ChunkClaim(NamedTuple):
    """A chunk a runner claimed, with the rows already finished in it (never sent again).

    ``claimed_before`` says an earlier runner held the chunk: its unfinished rows may have been sent.
    """

    spec: ChunkSpec
    finished_rows: frozenset[int]
    claimed_before: bool


@dataclass(frozen=True, slots=True)
class RowOutcome:
    """One row's outcome as the engine records it. Never holds a password, hash or TOTP secret."""

    row: int
    chunk: int
    state: RowState
    email: str | None = None
    user_id: str | None = None
    organization_id: str | None = None
    membership_id: str | None = None
    user_action: UserAction | None = None
    membership_action: MembershipAction | None = None
    totp_action: TotpAction | None = None
    attempts: int = 1
    error_phase: str | None = None
    error_status: int | None = None
    error_code: str | None = None
    error_sub_codes: str | None = None
    error_message: str | None = None
    request_id: str | None = None
    retryable: bool | None = None
    warning: str | None = None
    factor_id: str | None = None  # the TOTP factor this row enrolled, when WorkOS answered with it
    recorded_at: float | None = None  # set when read back from the store


FailureRow = tuple[int, str | None, str | None, int | None, str | None, str | None, str | None, int | None]
"""A failed row as ``iter_failures`` reads it: ``(row, email, phase, status, code, sub_codes, message,
retryable)``, sub-codes comma-joined and retryable as stored (1, 0 or None)."""


class Outage(NamedTuple):
    """A job's WorkOS outage as its runners' circuit breakers saw it.

    ``open_since``: wall-clock time a runner's circuit opened, while one is open (None otherwise);
    ``seconds``: the job's outage time so far, the current one included; ``reason``: why a runner stopped the
    job (WorkOS unreachable for longer than ``--max-outage``, or the environment changed), until it runs again;
    ``prober``: the runner that probes WorkOS for the job while the outage is open (the others hold).
    """

    open_since: float | None
    seconds: float
    reason: str | None
    prober: str | None = None


class JobCounts(NamedTuple):
    """Row counts of a job, straight from the ledger."""

    total: int
    done: int
    skipped: int
    failed: int
    invalid: int
    users_created: int
    users_adopted: int
    users_updated: int
    memberships_created: int
    memberships_existed: int
    memberships_updated: int
    totp_enrolled: int

    @property
    def finished(self) -> int:
        return self.done + self.skipped + self.failed

    @property
    def pending(self) -> int:
        return max(self.total - self.finished, 0)


@dataclass(frozen=True, slots=True)
class Job:
    """A job as stored. ``state`` already accounts for dead runners (``interrupted``)."""

    id: str
    state: JobState
    options: MigrationOptions
    csv_path: Path
    csv_sha256: str
    plan_hash: str | None
    total_rows: int
    invalid_rows: int
    chunk_count: int
    created_at: float
    started_at: float | None
    finished_at: float | None
    updated_at: float
    cancel_requested: bool
    pause_until: float
    confirmation: str | None
    last_error: str | None
    counters: dict[str, float]
    live_runners: int


class OrganizationEntry(NamedTuple):
    """An organization a job resolved: its lookup key (``ext:...``, ``name:...``, ``id:...``), what it did, and
    when it sent a create (``sent_at``, for ``sending`` and ``created``)."""

    lookup: str
    organization_id: str | None
    external_id: str | None
    name: str | None
    action: OrganizationAction
    sent_at: float | None


class UndoState(StrEnum):
    """Where an undo stands. ``interrupted`` is derived: running, but its runner is gone."""

    RUNNING = "running"  # a runner deletes items
    INTERRUPTED = "interrupted"  # its runner died: run undo again to go on
    CANCELLED = "cancelled"  # stopped on request: run undo again to go on
    COMPLETED = "completed"  # every item has its outcome and none failed
    COMPLETED_WITH_ERRORS = "completed_with_errors"  # some deletes failed: run undo again to retry them
    FAILED = "failed"  # stopped by a fatal error (a rejected key)


class UndoKind(StrEnum):
    """What an undo item deletes, in the order undo goes: memberships, factors, users, organizations."""

    MEMBERSHIP = "membership"
    FACTOR = "factor"
    USER = "user"
    ORGANIZATION = "organization"


UNDO_PHASES = (UndoKind.MEMBERSHIP, UndoKind.FACTOR, UndoKind.USER, UndoKind.ORGANIZATION)


class UndoOutcome(StrEnum):
    """What undo did with one item."""

    PENDING = "pending"  # not done yet (or to be judged again by the next undo)
    DELETED = "deleted"  # undo deleted it
    ABSENT = "absent"  # it was already gone (deleted by someone, or by an undo whose answer was lost)
    KEPT = "kept"  # left in place, see ``reason``
    FAILED = "failed"  # the delete failed, see the error; the next undo tries again


@dataclass(frozen=True, slots=True)
class UndoRecord:
    """The undo of one job, as stored. ``state`` already accounts for a dead runner (``interrupted``)."""

    job_id: str
    state: UndoState
    include_changed: bool
    created_at: float
    started_at: float | None
    finished_at: float | None
    updated_at: float
    cancel_requested: bool
    last_error: str | None
    confirmation: str | None


class UndoItem(NamedTuple):
    """One object an undo deletes (or keeps), with its outcome."""

    id: int
    kind: UndoKind
    object_id: str | None
    lookup: str | None  # organizations whose create answer was lost: the key that finds them
    parent_id: str | None  # the user of a membership or factor
    row: int | None
    email: str | None
    imported_at: float | None  # when the job recorded the user (users) or sent the create (organizations)
    outcome: UndoOutcome
    reason: str | None
    error_code: str | None
    error_message: str | None


# The objects a job created, as undo's worklist: one SELECT per phase, in UNDO_PHASES order, each giving
# (kind, object_id, lookup, parent_id, row, email, imported_at). The preview counts the same SELECTs.
_UNDO_SOURCES = (
    "SELECT 'membership', membership_id, NULL, MIN(user_id), MIN(row), MIN(email), MAX(updated_at) FROM rows"
    " WHERE job_id=?1 AND membership_action='created' AND membership_id IS NOT NULL GROUP BY membership_id",
    "SELECT 'factor', factor_id, NULL, MIN(user_id), MIN(row), MIN(email), MAX(updated_at) FROM rows"
    " WHERE job_id=?1 AND totp_action='enrolled' AND factor_id IS NOT NULL GROUP BY factor_id",
    "SELECT 'user', user_id, NULL, NULL, MIN(row), MIN(email), MAX(updated_at) FROM rows"
    " WHERE job_id=?1 AND user_action='created' AND user_id IS NOT NULL GROUP BY user_id",
    "SELECT 'organization', organization_id, lookup, NULL, NULL, name, sent_at FROM job_organizations"
    " WHERE job_id=?1 AND action IN ('created', 'sending')",
)
_UNDO_ITEM_COLUMNS = (
    "id, kind, object_id, lookup, parent_id, row, email, imported_at, outcome, reason, error_code, error_message"
)


@dataclass(frozen=True, slots=True)
class StoredPlan:
    """A plan kept for a later ``execute``: its options, the file's sha256 then, and the plan itself as JSON."""

    id: str
    plan_hash: str
    csv_sha256: str
    options: MigrationOptions
    plan_json: str
    created_at: float


def new_job_id() -> str:
    """A sortable, readable job id: ``job-20261130-194512-3f9a0c1d`` (32 random bits: no clash in a burst)."""
    return time.strftime("job-%Y%m%d-%H%M%S-", time.gmtime()) + uuid.uuid4().hex[:8]


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    options_json TEXT NOT NULL,
    csv_path TEXT NOT NULL,
    csv_sha256 TEXT NOT NULL,
    plan_hash TEXT,
    total_rows INTEGER NOT NULL DEFAULT 0,
    invalid_rows INTEGER NOT NULL DEFAULT 0,
    chunk_count INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    updated_at REAL NOT NULL,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    pause_until REAL NOT NULL DEFAULT 0,
    confirmation TEXT,
    last_error TEXT,
    counters_json TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS runners (
    job_id TEXT NOT NULL,
    runner_id TEXT NOT NULL,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    started_at REAL NOT NULL,
    heartbeat_at REAL NOT NULL,
    PRIMARY KEY (job_id, runner_id)
);
CREATE TABLE IF NOT EXISTS chunks (
    job_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    first_row INTEGER NOT NULL,
    byte_offset INTEGER NOT NULL,
    row_count INTEGER NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    runner_id TEXT,
    claims INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (job_id, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rows (
    job_id TEXT NOT NULL,
    row INTEGER NOT NULL,
    chunk INTEGER NOT NULL,
    state TEXT NOT NULL,
    email TEXT,
    user_id TEXT,
    organization_id TEXT,
    membership_id TEXT,
    user_action TEXT,
    membership_action TEXT,
    totp_action TEXT,
    attempts INTEGER NOT NULL DEFAULT 1,
    error_phase TEXT,
    error_status INTEGER,
    error_code TEXT,
    error_sub_codes TEXT,
    error_message TEXT,
    request_id TEXT,
    retryable INTEGER,
    warning TEXT,
    updated_at REAL NOT NULL,
    factor_id TEXT,
    PRIMARY KEY (job_id, row)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS plans (
    id TEXT PRIMARY KEY,
    plan_hash TEXT NOT NULL,
    csv_sha256 TEXT NOT NULL,
    options_json TEXT NOT NULL,
    plan_json TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS outages (
    job_id TEXT PRIMARY KEY,
    open_since REAL,
    beat_at REAL,
    seconds REAL NOT NULL DEFAULT 0,
    reason TEXT,
    prober TEXT
);
CREATE INDEX IF NOT EXISTS rows_by_email ON rows (job_id, email);
CREATE INDEX IF NOT EXISTS rows_by_chunk ON rows (job_id, chunk);
"""

# Schema 3: what undo needs. ``rows.factor_id`` (added by the step, see ``_migrate``); the organizations a job
# resolved and how (``job_organizations``, one row per lookup key); and undo's own job and worklist: one
# ``undos`` row per undone job, and ``undo_items``, the objects to delete in order (memberships, factors, users,
# organizations), each with its outcome, so an undo is resumable and never deletes twice.
_UNDO_SCHEMA = """
CREATE TABLE IF NOT EXISTS job_organizations (
    job_id TEXT NOT NULL,
    lookup TEXT NOT NULL,
    organization_id TEXT,
    external_id TEXT,
    name TEXT,
    action TEXT NOT NULL,
    sent_at REAL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (job_id, lookup)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS undos (
    job_id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    include_changed INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    updated_at REAL NOT NULL,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    owner_pid INTEGER,
    owner_host TEXT,
    heartbeat_at REAL,
    last_error TEXT,
    confirmation TEXT
);
CREATE TABLE IF NOT EXISTS undo_items (
    id INTEGER PRIMARY KEY,
    job_id TEXT NOT NULL,
    phase INTEGER NOT NULL,
    kind TEXT NOT NULL,
    object_id TEXT,
    lookup TEXT,
    parent_id TEXT,
    row INTEGER,
    email TEXT,
    imported_at REAL,
    outcome TEXT NOT NULL DEFAULT 'pending',
    reason TEXT,
    error_code TEXT,
    error_message TEXT,
    updated_at REAL
);
CREATE INDEX IF NOT EXISTS undo_items_by_outcome ON undo_items (job_id, outcome, phase, id);
"""
_SCHEMA += _UNDO_SCHEMA

# Schema 4: what a WorkOS environment held when it was read (core/environment.py), keyed by ``env`` (a
# digest of the base URL and the key, never the key). ``env_parts`` records each list read: its page
# cursor (so a killed read resumes), its generation (objects not seen by a complete read are dropped) and
# when the last complete read ended.
_ENVIRONMENT_SCHEMA = """
CREATE TABLE IF NOT EXISTS env_parts (
    env TEXT NOT NULL,
    part TEXT NOT NULL,
    generation INTEGER NOT NULL DEFAULT 0,
    cursor TEXT,
    reading INTEGER NOT NULL DEFAULT 0,
    pages INTEGER NOT NULL DEFAULT 0,
    objects INTEGER NOT NULL DEFAULT 0,
    started_at REAL,
    read_at REAL,
    PRIMARY KEY (env, part)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS env_organizations (
    env TEXT NOT NULL,
    id TEXT NOT NULL,
    external_id TEXT,
    name TEXT NOT NULL,
    generation INTEGER NOT NULL,
    PRIMARY KEY (env, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS env_organizations_by_external_id ON env_organizations (env, external_id);
CREATE INDEX IF NOT EXISTS env_organizations_by_name ON env_organizations (env, name);
CREATE TABLE IF NOT EXISTS env_roles (
    env TEXT NOT NULL,
    organization_id TEXT NOT NULL,
    slug TEXT NOT NULL,
    name TEXT NOT NULL,
    generation INTEGER NOT NULL,
    PRIMARY KEY (env, organization_id, slug)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS env_users (
    env TEXT NOT NULL,
    id TEXT NOT NULL,
    email TEXT NOT NULL,
    external_id TEXT,
    created_at REAL NOT NULL,
    first_name TEXT,
    last_name TEXT,
    generation INTEGER NOT NULL,
    PRIMARY KEY (env, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS env_users_by_email ON env_users (env, email);
CREATE TABLE IF NOT EXISTS env_memberships (
    env TEXT NOT NULL,
    id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    organization_id TEXT NOT NULL,
    role_slugs TEXT NOT NULL,
    status TEXT NOT NULL,
    generation INTEGER NOT NULL,
    PRIMARY KEY (env, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS env_memberships_by_pair ON env_memberships (env, user_id, organization_id);
CREATE INDEX IF NOT EXISTS env_memberships_by_organization ON env_memberships (env, organization_id);
"""
_SCHEMA += _ENVIRONMENT_SCHEMA

# Per-job row counts, kept by triggers so status costs one read, not a scan of a million rows.
_COUNTERS = (
    ("done", "{r}.state = 'done'"),
    ("skipped", "{r}.state = 'skipped'"),
    ("failed", "{r}.state = 'failed'"),
    ("invalid", "{r}.state = 'failed' AND {r}.error_phase = 'validation'"),
    ("users_created", "{r}.user_action = 'created'"),
    ("users_adopted", "{r}.user_action = 'adopted'"),
    ("users_updated", "{r}.user_action = 'updated'"),
    ("memberships_created", "{r}.membership_action = 'created'"),
    ("memberships_existed", "{r}.membership_action = 'existed'"),
    ("memberships_updated", "{r}.membership_action = 'updated'"),
    ("totp_enrolled", "{r}.totp_action = 'enrolled'"),
)


def _count_change(row: str, sign: str) -> str:
    changes = ", ".join(f"{name} = {name} {sign} IFNULL({expr.format(r=row)}, 0)" for name, expr in _COUNTERS)
    return f"UPDATE job_counts SET {changes} WHERE job_id = {row}.job_id;"


_ENSURE_COUNTS = "INSERT INTO job_counts (job_id) VALUES (NEW.job_id) ON CONFLICT (job_id) DO NOTHING;"
_COUNTS_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS job_counts (job_id TEXT PRIMARY KEY, "
    + ", ".join(f"{name} INTEGER NOT NULL DEFAULT 0" for name, _ in _COUNTERS)
    + ");\n"
    f"CREATE TRIGGER IF NOT EXISTS rows_counted_insert AFTER INSERT ON rows BEGIN {_ENSURE_COUNTS}"
    f" {_count_change('NEW', '+')} END;\n"
    f"CREATE TRIGGER IF NOT EXISTS rows_counted_delete AFTER DELETE ON rows BEGIN {_count_change('OLD', '-')} END;\n"
    f"CREATE TRIGGER IF NOT EXISTS rows_counted_update AFTER UPDATE ON rows BEGIN {_count_change('OLD', '-')}"
    f" {_ENSURE_COUNTS} {_count_change('NEW', '+')} END;\n"
)
_BACKFILL_COUNTS = (
    # Columns named: a store upgraded from version 2 has memberships_updated last.
    "INSERT OR REPLACE INTO job_counts (job_id, "
    + ", ".join(name for name, _ in _COUNTERS)
    + ") SELECT job_id, "
    + ", ".join(f"SUM(IFNULL({expr.format(r='rows')}, 0))" for _, expr in _COUNTERS)
    + " FROM rows GROUP BY job_id"
)

_ROW_COLUMNS = (
    "row, chunk, state, email, user_id, organization_id, membership_id, user_action, membership_action, "
    "totp_action, attempts, error_phase, error_status, error_code, error_sub_codes, error_message, request_id, "
    "retryable, warning, factor_id"
)
_READ_COLUMNS = _ROW_COLUMNS + ", updated_at"
# An upsert, not INSERT OR REPLACE: a replace deletes without firing the delete trigger that keeps counts.
_UPSERT = ", ".join(
    f"{name} = excluded.{name}" for name in [*_ROW_COLUMNS.replace(" ", "").split(","), "updated_at"][1:]
)
# RowOutcome's field names in _READ_COLUMNS order.
_READ_FIELDS = tuple(
    "recorded_at" if name == "updated_at" else name for name in _READ_COLUMNS.replace(" ", "").split(",")
)


class JobStore:
    """The SQLite job store in ``directory``. One instance per process (connections are not shared).

    >>> store = JobStore.open(Path(".workos-checkpoints"))
    """

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self.directory = path.parent
        self._db = connection

    @classmethod
    def open(cls, directory: Path) -> JobStore:
        """Open (creating when needed) the store in ``directory``. Raises ``StoreError``.

        The directory is created 0700 (a symlink there is refused, never followed) and a new store file 0600,
        built aside and linked into place, so a store file of zero bytes can only be a damaged one: it is
        reported, never silently replaced by an empty store.
        """
        path = directory / STORE_FILENAME
        try:
            private_directory(directory)
            if not path.exists():
                _create_store_file(path)
            elif path.stat().st_size == 0:
                raise StoreError(
                    f"the job store {path} is empty (0 bytes): it was truncated or damaged. Restore it from a "
                    "backup, or move it away to start a new store (the jobs it held are then forgotten)"
                )
            db = _connect(path)
            store = cls(path, db)
            store._migrate()
        except sqlite3.Error as exc:
            raise _store_error(exc, path) from exc
        except OSError as exc:
            raise StoreError(f"cannot open the job store in {directory}: {exc.strerror or exc}") from exc
        return store

    def close(self) -> None:
        self._db.close()

    def environment(self, env: str) -> EnvironmentTables:
        """The snapshot tables of the WorkOS environment ``env`` (see ``core.environment``)."""
        return EnvironmentTables(self, env)

    def job_dir(self, job_id: str) -> Path:
        """Directory for a job's files (errors.jsonl, worker logs)."""
        return self.directory / job_id

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction; ``BEGIN IMMEDIATE`` so concurrent writers queue instead of deadlocking."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"job store is busy or unwritable: {exc}") from exc
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        else:
            self._db.execute("COMMIT")

    def _migrate(self) -> None:
        # executescript commits on its own; every statement in the schema is idempotent.
        self._db.executescript(_SCHEMA + _COUNTS_SCHEMA)
        with self._write() as db:
            found = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if found is None:
                db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            elif int(found[0]) < SCHEMA_VERSION:
                version = int(found[0])
                counted = {row[1] for row in db.execute("PRAGMA table_info(job_counts)").fetchall()}
                if "memberships_updated" not in counted:
                    # Version 4 counts updated memberships too: a new column, and triggers that fill it.
                    for trigger in ("insert", "delete", "update"):
                        db.execute(f"DROP TRIGGER rows_counted_{trigger}")
                    db.execute("ALTER TABLE job_counts ADD COLUMN memberships_updated INTEGER NOT NULL DEFAULT 0")
                    for statement in _COUNTS_SCHEMA.split(";\n")[1:]:
                        if statement.strip():
                            db.execute(statement)
                columns = {row[1] for row in db.execute("PRAGMA table_info(rows)").fetchall()}
                if "factor_id" not in columns:
                    # Version 3 records each row's TOTP factor id for undo (the undo tables come with the schema).
                    db.execute("ALTER TABLE rows ADD COLUMN factor_id TEXT")
                if "prober" not in {row[1] for row in db.execute("PRAGMA table_info(outages)").fetchall()}:
                    # Version 5 names the runner that probes WorkOS for the job during an outage.
                    db.execute("ALTER TABLE outages ADD COLUMN prober TEXT")
                # Version 2 keeps per-job counts in job_counts (version 4 one more): count what the ledger holds.
                # Version 4 adds the environment snapshot's tables, empty (created by the schema script).
                if version < SCHEMA_VERSION:
                    db.execute(_BACKFILL_COUNTS)
                db.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION),))
            elif int(found[0]) > SCHEMA_VERSION:
                raise StoreError(
                    f"the job store {self.path} has schema version {found[0]}, newer than this tool's "
                    f"{SCHEMA_VERSION}: upgrade workos-migrate"
                )

    # -- jobs ---------------------------------------------------------------------------------------

    def create_job(
        self,
        job_id: str,
        options: MigrationOptions,
        *,
        csv_sha256: str,
        plan_hash: str | None,
        state: JobState = JobState.CREATED,
    ) -> None:
        """Record a new job. Raises ``JobStateError`` when the id is taken."""
        now = time.time()
        try:
            with self._write() as db:
                db.execute(
                    "INSERT INTO jobs (id, state, options_json, csv_path, csv_sha256, plan_hash, created_at,"
                    " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        job_id,
                        state.value,
                        options.model_dump_json(),
                        str(options.csv_path.resolve()),
                        csv_sha256,
                        plan_hash,
                        now,
                        now,
                    ),
                )
        except sqlite3.IntegrityError:
            raise JobStateError(
                f"job {job_id!r} already exists: resume it with --resume {job_id}, or pick another --job-id"
            ) from None

    def add_chunks(self, job_id: str, chunks: Sequence[ChunkSpec]) -> None:
        """Record chunk boundaries (done once, by the pass that validates the file)."""
        with self._write() as db:
            db.executemany(
                "INSERT INTO chunks (job_id, idx, first_row, byte_offset, row_count) VALUES (?, ?, ?, ?, ?)",
                [(job_id, *chunk) for chunk in chunks],
            )

    def discard_setup(self, job_id: str) -> None:
        """Forget the chunks and validation outcomes of a setup pass that was cut short, to redo it."""
        with self._write() as db:
            db.execute("DELETE FROM chunks WHERE job_id=?", (job_id,))
            db.execute("DELETE FROM rows WHERE job_id=?", (job_id,))

    def finish_setup(self, job_id: str, *, total_rows: int, invalid_rows: int, chunk_count: int) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE jobs SET total_rows=?, invalid_rows=?, chunk_count=?, updated_at=? WHERE id=?",
                (total_rows, invalid_rows, chunk_count, time.time(), job_id),
            )

    def get_job(self, job_id: str) -> Job:
        """The job with its effective state. Raises ``JobStateError`` for an unknown id."""
        row = self._db.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone()
        if row is None:
            raise JobStateError(f"no job {job_id!r} in {self.directory}")
        return self._job_from_row(row)

    def latest_job(self) -> Job | None:
        """The most recently created job, if any."""
        row = self._db.execute("SELECT * FROM jobs ORDER BY created_at DESC, id DESC LIMIT 1").fetchone()
        return None if row is None else self._job_from_row(row)

    def list_jobs(self, *, limit: int = 50) -> list[Job]:
        """Jobs, newest first."""
        rows = self._db.execute("SELECT * FROM jobs ORDER BY created_at DESC, id DESC LIMIT ?", (limit,)).fetchall()
        return [self._job_from_row(row) for row in rows]

    def _job_from_row(self, row: sqlite3.Row | tuple[Any, ...]) -> Job:
        columns = [d[0] for d in self._db.execute("SELECT * FROM jobs LIMIT 0").description]
        data = dict(zip(columns, row, strict=True))
        live = self.live_runner_count(data["id"])
        state = JobState(data["state"])
        if state is JobState.RUNNING and live == 0:
            state = JobState.INTERRUPTED
        return Job(
            id=data["id"],
            state=state,
            options=MigrationOptions.model_validate_json(data["options_json"]),
            csv_path=Path(data["csv_path"]),
            csv_sha256=data["csv_sha256"],
            plan_hash=data["plan_hash"],
            total_rows=data["total_rows"],
            invalid_rows=data["invalid_rows"],
            chunk_count=data["chunk_count"],
            created_at=data["created_at"],
            started_at=data["started_at"],
            finished_at=data["finished_at"],
            updated_at=data["updated_at"],
            cancel_requested=bool(data["cancel_requested"]),
            pause_until=data["pause_until"],
            confirmation=data["confirmation"],
            last_error=data["last_error"],
            counters=json.loads(data["counters_json"]),
            live_runners=live,
        )

    def set_state(self, job_id: str, state: JobState, *, last_error: str | None = None) -> None:
        now = time.time()
        finished = now if state in (JobState.COMPLETED, JobState.COMPLETED_WITH_ERRORS) else None
        with self._write() as db:
            db.execute(
                "UPDATE jobs SET state=?, updated_at=?, finished_at=COALESCE(?, finished_at),"
                " last_error=COALESCE(?, last_error) WHERE id=?",
                (state.value, now, finished, last_error, job_id),
            )

    def update_options(self, job_id: str, options: MigrationOptions) -> None:
        """Replace a job's recorded options (a resume that changes its pace or ``--errors-out``)."""
        with self._write() as db:
            db.execute(
                "UPDATE jobs SET options_json=?, updated_at=? WHERE id=?",
                (options.model_dump_json(), time.time(), job_id),
            )

    def set_confirmation(self, job_id: str, confirmation: str) -> None:
        """Record how a write was confirmed (``yes``, ``prompt``, ``elicitation``, ``forced``)."""
        with self._write() as db:
            db.execute("UPDATE jobs SET confirmation=? WHERE id=?", (confirmation, job_id))

    def request_cancel(self, job_id: str) -> Job:
        """Ask every runner of the job to stop taking rows. Raises ``JobStateError`` for an unknown id."""
        self.get_job(job_id)
        with self._write() as db:
            db.execute("UPDATE jobs SET cancel_requested=1, updated_at=? WHERE id=?", (time.time(), job_id))
        return self.get_job(job_id)

    def clear_cancel(self, job_id: str) -> None:
        """Withdraw a cancel request (before starting a new runner of a cancelled job)."""
        with self._write() as db:
            db.execute("UPDATE jobs SET cancel_requested=0, updated_at=? WHERE id=?", (time.time(), job_id))

    def add_counters(self, job_id: str, deltas: dict[str, float]) -> None:
        """Add to the job's counters (retries, 429s, seconds waited), merged across runners."""
        if not deltas:
            return
        with self._write() as db:
            (raw,) = db.execute("SELECT counters_json FROM jobs WHERE id=?", (job_id,)).fetchone()
            counters = json.loads(raw)
            for key, value in deltas.items():
                counters[key] = counters.get(key, 0) + value
            db.execute("UPDATE jobs SET counters_json=? WHERE id=?", (json.dumps(counters), job_id))

    def outage_open(self, job_id: str, runner_id: str, *, since: float) -> bool:
        """This runner's circuit breaker is open (it opened at ``since``, or still is at a heartbeat): keep the job's
        outage open, with this runner as its prober unless a live one probes already. Returns whether this runner
        probes; the others hold every request while the prober beats.

        An outage already open keeps its start; one another runner closed meanwhile starts again at ``since``.
        """
        now = time.time()
        # A prober that has not beaten for a heartbeat's staleness is dead: this runner takes over.
        free = "open_since IS NULL OR prober IS NULL OR prober=excluded.prober OR beat_at < ?"
        with self._write() as db:
            db.execute(
                "INSERT INTO outages (job_id, open_since, beat_at, prober) VALUES (?, ?, ?, ?) ON CONFLICT (job_id)"
                f" DO UPDATE SET prober=CASE WHEN {free} THEN excluded.prober ELSE prober END,"
                f" beat_at=CASE WHEN {free} THEN excluded.beat_at ELSE beat_at END,"
                " open_since=COALESCE(open_since, excluded.open_since)",
                (job_id, since, now, runner_id, *(now - HEARTBEAT_STALE_SECONDS,) * 2),
            )
            (prober,) = db.execute("SELECT prober FROM outages WHERE job_id=?", (job_id,)).fetchone()
        return bool(prober == runner_id)

    def outage_ended(self, job_id: str) -> None:
        """WorkOS answers again: add the outage's length to the job's outage time; the other runners go on."""
        with self._write() as db:
            self._end_outage(db, job_id, "")

    @staticmethod
    def _end_outage(db: sqlite3.Connection, job_id: str, condition: str, *parameters: object) -> None:
        db.execute(
            "UPDATE outages SET seconds=seconds + MAX(?, open_since) - open_since, open_since=NULL, prober=NULL"
            f" WHERE job_id=? AND open_since IS NOT NULL{condition}",
            (time.time(), job_id, *parameters),
        )

    def stop_with_reason(self, job_id: str, reason: str) -> None:
        """A runner stops the job for a cause outside its rows (WorkOS unreachable longer than ``--max-outage``,
        the environment changed): keep why, end the outage, and ask every runner to stop."""
        now = time.time()
        with self._write() as db:
            db.execute(
                "INSERT INTO outages (job_id, reason) VALUES (?, ?) ON CONFLICT (job_id) DO UPDATE"
                " SET reason=excluded.reason, seconds=seconds + MAX(?, COALESCE(open_since, ?)) - COALESCE(open_since,"
                " ?), open_since=NULL, prober=NULL",
                (job_id, reason, now, now, now),
            )
            db.execute("UPDATE jobs SET cancel_requested=1, updated_at=? WHERE id=?", (now, job_id))

    def outage(self, job_id: str) -> Outage:
        """The job's outage; an open one whose runner stopped beating reads as closed."""
        found = self._db.execute(
            "SELECT open_since, beat_at, seconds, reason, prober FROM outages WHERE job_id=?", (job_id,)
        ).fetchone()
        if found is None:
            return Outage(None, 0.0, None)
        open_since, beat_at, seconds, reason, prober = found
        now = time.time()
        if open_since is not None and (beat_at or 0) < now - HEARTBEAT_STALE_SECONDS:
            open_since = prober = None
        current = max(0.0, now - open_since) if open_since is not None else 0.0
        return Outage(open_since, round(seconds + current, 3), reason, prober)

    def clear_outage_reason(self, job_id: str) -> None:
        """Forget why the last run gave up (a new run starts); the outage time so far stays."""
        with self._write() as db:
            db.execute(
                "UPDATE jobs SET last_error=NULL WHERE id=? AND last_error=(SELECT reason FROM outages WHERE job_id=?)",
                (job_id, job_id),
            )
            db.execute("UPDATE outages SET reason=NULL, open_since=NULL, prober=NULL WHERE job_id=?", (job_id,))

    def publish_pause(self, job_id: str, until: float) -> None:
        """Share a 429 pause (wall-clock deadline) with every runner of the job."""
        with self._write() as db:
            db.execute("UPDATE jobs SET pause_until=MAX(pause_until, ?) WHERE id=?", (until, job_id))

    # -- plans --------------------------------------------------------------------------------------

    def save_plan(
        self, plan_id: str, options: MigrationOptions, *, plan_hash: str, csv_sha256: str, plan_json: str
    ) -> None:
        """Keep a plan under ``plan_id`` (planning the same thing again replaces it)."""
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO plans VALUES (?, ?, ?, ?, ?, ?)",
                (plan_id, plan_hash, csv_sha256, options.model_dump_json(), plan_json, time.time()),
            )

    def get_plan(self, plan_id: str) -> StoredPlan:
        """The plan kept under ``plan_id``. Raises ``JobStateError`` for an unknown id."""
        row = self._db.execute(
            "SELECT id, plan_hash, csv_sha256, options_json, plan_json, created_at FROM plans WHERE id=?", (plan_id,)
        ).fetchone()
        if row is None:
            raise JobStateError(f"no plan {plan_id!r} in {self.directory}")
        plan_id, digest, sha, options_json, plan_json, created = row
        return StoredPlan(plan_id, digest, sha, MigrationOptions.model_validate_json(options_json), plan_json, created)

    # -- runners ------------------------------------------------------------------------------------

    def start_runner(self, job_id: str, *, lead: bool, clear_cancel: bool = True) -> str:
        """Register this process as a runner of the job and return its runner id.

        The lead runner takes the job: it refuses (``JobStateError``) when a live runner already holds it,
        releases chunks of dead runners, clears the cancel flag (unless ``clear_cancel`` is False, as while
        only preparing the job) and marks the job running. Other runners (``--workers``) join a job whose
        lead is alive.
        """
        runner_id = uuid.uuid4().hex[:12]
        now = time.time()
        with self._write() as db:
            state_row = db.execute("SELECT state FROM jobs WHERE id=?", (job_id,)).fetchone()
            if state_row is None:
                raise JobStateError(f"no job {job_id!r} in {self.directory}")
            self._reap_dead_runners(db, job_id, now)
            live = db.execute("SELECT pid, host FROM runners WHERE job_id=?", (job_id,)).fetchall()
            if lead and live:
                pid, host = live[0]
                raise JobStateError(f"job {job_id!r} is already running (pid {pid} on {host})")
            if lead:
                db.execute(
                    # A job being prepared stays 'preparing' until its setup pass ends.
                    "UPDATE jobs SET state=CASE state WHEN 'preparing' THEN state ELSE 'running' END,"
                    " cancel_requested=cancel_requested * ?, pause_until=0,"
                    " started_at=COALESCE(started_at, ?), updated_at=? WHERE id=?",
                    (int(not clear_cancel), now, now, job_id),
                )
            db.execute(
                "INSERT INTO runners VALUES (?, ?, ?, ?, ?, ?)",
                (job_id, runner_id, os.getpid(), socket.gethostname(), now, now),
            )
        return runner_id

    def heartbeat(self, job_id: str, runner_id: str) -> tuple[bool, float]:
        """Beat for this runner; return (cancel requested, shared pause deadline)."""
        with self._write() as db:
            db.execute(
                "UPDATE runners SET heartbeat_at=? WHERE job_id=? AND runner_id=?", (time.time(), job_id, runner_id)
            )
            cancel, pause = db.execute(
                "SELECT cancel_requested, pause_until FROM jobs WHERE id=?", (job_id,)
            ).fetchone()
        return bool(cancel), float(pause)

    def stop_runner(self, job_id: str, runner_id: str) -> None:
        """Unregister this runner and give back any chunk it still holds; an outage it probed for ends (a runner
        whose circuit is still open takes it up at its next heartbeat)."""
        with self._write() as db:
            self._end_outage(db, job_id, " AND prober=?", runner_id)
            db.execute(
                "UPDATE chunks SET state='pending', runner_id=NULL WHERE job_id=? AND runner_id=? AND state='claimed'",
                (job_id, runner_id),
            )
            db.execute("DELETE FROM runners WHERE job_id=? AND runner_id=?", (job_id, runner_id))

    def live_runner_count(self, job_id: str) -> int:
        threshold = time.time() - HEARTBEAT_STALE_SECONDS
        rows = self._db.execute("SELECT pid, host, heartbeat_at FROM runners WHERE job_id=?", (job_id,)).fetchall()
        return sum(1 for pid, host, beat in rows if _alive(pid, host, beat, threshold))

    def _reap_dead_runners(self, db: sqlite3.Connection, job_id: str, now: float) -> None:
        threshold = now - HEARTBEAT_STALE_SECONDS
        rows = db.execute("SELECT runner_id, pid, host, heartbeat_at FROM runners WHERE job_id=?", (job_id,))
        dead = [runner for runner, pid, host, beat in rows.fetchall() if not _alive(pid, host, beat, threshold)]
        for runner in dead:
            db.execute(
                "UPDATE chunks SET state='pending', runner_id=NULL WHERE job_id=? AND runner_id=? AND state='claimed'",
                (job_id, runner),
            )
            db.execute("DELETE FROM runners WHERE job_id=? AND runner_id=?", (job_id, runner))

    # -- chunks and rows ----------------------------------------------------------------------------

    def claim_chunk(self, job_id: str, runner_id: str) -> ChunkClaim | None:
        """Claim the first pending chunk for this runner, with the rows already finished in it."""
        with self._write() as db:
            self._reap_dead_runners(db, job_id, time.time())
            found = db.execute(
                "SELECT idx, first_row, byte_offset, row_count, claims FROM chunks"
                " WHERE job_id=? AND state='pending' ORDER BY idx LIMIT 1",
                (job_id,),
            ).fetchone()
            if found is None:
                return None
            spec = ChunkSpec(*found[:4])
            db.execute(
                "UPDATE chunks SET state='claimed', runner_id=?, claims=claims+1 WHERE job_id=? AND idx=?",
                (runner_id, job_id, spec.number),
            )
            finished = db.execute(
                "SELECT row FROM rows INDEXED BY rows_by_chunk WHERE job_id=? AND chunk=?", (job_id, spec.number)
            ).fetchall()
        return ChunkClaim(spec, frozenset(r for (r,) in finished), claimed_before=found[4] > 0)

    def reopen_failed(self, job_id: str) -> int:
        """For ``--retry-failed``: forget failed outcomes that a retry may fix and reopen their chunks.

        Validation failures stay: the file cannot have changed. Returns how many rows were reopened.
        """
        with self._write() as db:
            chunks = [
                c
                for (c,) in db.execute(
                    "SELECT DISTINCT chunk FROM rows WHERE job_id=? AND state='failed'"
                    " AND COALESCE(error_phase, '') != 'validation'",
                    (job_id,),
                ).fetchall()
            ]
            reopened = db.execute(
                "DELETE FROM rows WHERE job_id=? AND state='failed' AND COALESCE(error_phase, '') != 'validation'",
                (job_id,),
            ).rowcount
            db.executemany(
                "UPDATE chunks SET state='pending', runner_id=NULL WHERE job_id=? AND idx=?",
                [(job_id, c) for c in chunks],
            )
        return reopened

    def reopen_rows(self, job_id: str, rows: Sequence[int]) -> int:
        """Forget the failed outcomes of ``rows`` and reopen their chunks, so a resume sends them again.

        Only failed rows are touched (a finished row is never reopened). Returns how many were reopened.
        """
        reopened = 0
        with self._write() as db:
            for start in range(0, len(rows), 500):
                batch = [(job_id, row) for row in rows[start : start + 500]]
                chunks = {
                    found[0]
                    for job, row in batch
                    if (found := db.execute(
                        "SELECT chunk FROM rows WHERE job_id=? AND row=? AND state='failed'", (job, row)
                    ).fetchone())
                }  # fmt: skip
                for job, row in batch:
                    reopened += db.execute(
                        "DELETE FROM rows WHERE job_id=? AND row=? AND state='failed'", (job, row)
                    ).rowcount
                db.executemany(
                    "UPDATE chunks SET state='pending', runner_id=NULL WHERE job_id=? AND idx=?",
                    [(job_id, c) for c in chunks],
                )
        return reopened

    def has_retryable_failures(self, job_id: str) -> bool:
        """Whether some row failed for a cause the engine recorded as retryable (a resume sends it again)."""
        found = self._db.execute(
            "SELECT 1 FROM rows WHERE job_id=? AND state='failed' AND retryable=1"
            " AND COALESCE(error_phase, '') != 'validation' LIMIT 1",
            (job_id,),
        ).fetchone()
        return found is not None

    def record_rows(self, job_id: str, outcomes: Iterable[RowOutcome], *, done_chunks: Iterable[int] = ()) -> None:
        """Write a batch of row outcomes and finished chunks in one transaction."""
        now = time.time()
        values = [
            (
                job_id,
                o.row,
                o.chunk,
                o.state.value,
                o.email,
                o.user_id,
                o.organization_id,
                o.membership_id,
                _value(o.user_action),
                _value(o.membership_action),
                _value(o.totp_action),
                o.attempts,
                o.error_phase,
                o.error_status,
                o.error_code,
                o.error_sub_codes,
                o.error_message,
                o.request_id,
                None if o.retryable is None else int(o.retryable),
                o.warning,
                o.factor_id,
                now,
            )
            for o in outcomes
        ]
        with self._write() as db:
            db.executemany(
                f"INSERT INTO rows (job_id, {_ROW_COLUMNS}, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                f" ON CONFLICT (job_id, row) DO UPDATE SET {_UPSERT}",
                values,
            )
            db.executemany(
                "UPDATE chunks SET state='done', runner_id=NULL WHERE job_id=? AND idx=?",
                [(job_id, c) for c in done_chunks],
            )
            db.execute("UPDATE jobs SET updated_at=? WHERE id=?", (now, job_id))

    def pending_chunks(self, job_id: str) -> int:
        (count,) = self._db.execute(
            "SELECT COUNT(*) FROM chunks WHERE job_id=? AND state != 'done'", (job_id,)
        ).fetchone()
        return int(count)

    def user_for_email(self, job_id: str, email: str) -> tuple[str, str] | None:
        """The user an earlier row of this job settled for ``email`` and how: ``created`` wins, then ``skipped``."""
        found = self._db.execute(
            # Without INDEXED BY, SQLite may walk every row of the job by primary key: O(rows) per lookup.
            "SELECT user_id, user_action FROM rows INDEXED BY rows_by_email"
            " WHERE job_id=? AND email=? AND user_id IS NOT NULL"
            " ORDER BY user_action = 'created' DESC, user_action = 'skipped' DESC LIMIT 1",
            (job_id, email),
        ).fetchone()
        return None if found is None else (found[0], found[1])

    def counts(self, job_id: str) -> JobCounts:
        """Row counts by state and action, from the ledger (kept current by triggers: one read)."""
        found = self._db.execute("SELECT total_rows FROM jobs WHERE id=?", (job_id,)).fetchone()
        if found is None:
            raise JobStateError(f"no job {job_id!r} in {self.directory}")
        (total,) = found
        names = ", ".join(name for name, _ in _COUNTERS)
        row = self._db.execute(f"SELECT {names} FROM job_counts WHERE job_id=?", (job_id,)).fetchone()
        return JobCounts(total, *(row or (0,) * len(_COUNTERS)))

    def iter_rows(self, job_id: str, *, state: RowState | None = None, after_row: int = 0) -> Iterator[RowOutcome]:
        """Row outcomes in row order, optionally only one state, streamed in pages."""
        where = "job_id=? AND row>?" + (" AND state=?" if state else "")
        last = after_row
        while True:
            params: tuple[Any, ...] = (job_id, last, state.value) if state else (job_id, last)
            page = self._db.execute(
                f"SELECT {_READ_COLUMNS} FROM rows WHERE {where} ORDER BY row LIMIT 1000", params
            ).fetchall()
            if not page:
                return
            for values in page:
                yield _outcome(values)
            last = page[-1][0]

    def iter_failures(self, job_id: str) -> Iterator[FailureRow]:
        """Failed rows as plain tuples (see ``FailureRow``), in row order, streamed in pages.

        The analyzer's path through a ledger of a million failures: no ``RowOutcome`` per row.
        """
        last = 0
        while True:
            page = self._db.execute(
                "SELECT row, email, error_phase, error_status, error_code, error_sub_codes, error_message, retryable"
                " FROM rows WHERE job_id=? AND row>? AND state='failed' ORDER BY row LIMIT 5000",
                (job_id, last),
            ).fetchall()
            if not page:
                return
            yield from page
            last = page[-1][0]

    def failures_since(self, job_id: str, after: float, *, limit: int = 5) -> tuple[int, list[RowOutcome]]:
        """How many rows failed (recorded) after ``after`` (a row's ``updated_at``), and the latest ``limit``."""
        where = "job_id=? AND state='failed' AND updated_at>?"
        (count,) = self._db.execute(f"SELECT COUNT(*) FROM rows WHERE {where}", (job_id, after)).fetchone()
        page = self._db.execute(
            f"SELECT {_READ_COLUMNS} FROM rows WHERE {where} ORDER BY updated_at DESC, row DESC LIMIT ?",
            (job_id, after, limit),
        ).fetchall()
        return count, [_outcome(values) for values in page]

    # -- what undo needs ----------------------------------------------------------------------------

    def organization_sending(self, job_id: str, lookup: str, *, external_id: str | None, name: str | None) -> None:
        """Record, before it is sent, that the job creates an organization (its answer may be lost)."""
        now = time.time()
        with self._write() as db:
            db.execute(
                "INSERT INTO job_organizations (job_id, lookup, external_id, name, action, sent_at, updated_at)"
                " VALUES (?, ?, ?, ?, 'sending', ?, ?) ON CONFLICT (job_id, lookup) DO NOTHING",
                (job_id, lookup, external_id, name, now, now),
            )

    def organization_resolved(
        self,
        job_id: str,
        lookup: str,
        *,
        organization_id: str,
        external_id: str | None,
        name: str | None,
        action: OrganizationAction,
    ) -> None:
        """Record the organization a lookup resolved to. A create recorded before is never turned into ``found``."""
        with self._write() as db:
            db.execute(
                "INSERT INTO job_organizations (job_id, lookup, organization_id, external_id, name, action,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (job_id, lookup) DO UPDATE SET"
                " organization_id=excluded.organization_id,"
                " action=CASE WHEN job_organizations.action IN ('created', 'sending') AND excluded.action='found'"
                " THEN job_organizations.action ELSE excluded.action END, updated_at=excluded.updated_at",
                (job_id, lookup, organization_id, external_id, name, action.value, time.time()),
            )

    def job_organizations(self, job_id: str) -> list[OrganizationEntry]:
        """Every organization the job resolved, by lookup key."""
        rows = self._db.execute(
            "SELECT lookup, organization_id, external_id, name, action, sent_at FROM job_organizations"
            " WHERE job_id=? ORDER BY lookup",
            (job_id,),
        ).fetchall()
        return [OrganizationEntry(r[0], r[1], r[2], r[3], OrganizationAction(r[4]), r[5]) for r in rows]

    def undo_sources(self, job_id: str, kind: UndoKind, *, limit: int | None = None) -> tuple[int, list[UndoItem]]:
        """How many objects of ``kind`` the job created (what an undo would start from), and the first ``limit``."""
        source = _UNDO_SOURCES[UNDO_PHASES.index(kind)]
        (count,) = self._db.execute(f"SELECT COUNT(*) FROM ({source})", (job_id,)).fetchone()
        found = self._db.execute(f"{source} ORDER BY 5, 2 LIMIT ?2", (job_id, -1 if limit is None else limit))
        items = [
            UndoItem(0, UndoKind(r[0]), r[1], r[2], r[3], r[4], r[5], r[6], UndoOutcome.PENDING, None, None, None)
            for r in found.fetchall()
        ]
        return int(count), items

    def ledger_actions(self, job_id: str) -> dict[str, int]:
        """Counts of the ledger's actions that undo keeps: adopted, updated and skipped users, existing memberships,
        organizations the job only joined (``users_adopted``, ``users_updated``, ``users_skipped``,
        ``memberships_existed``, ``memberships_updated``, ``organizations_found``)."""
        (adopted, updated, skipped, existed, m_updated) = self._db.execute(
            "SELECT COUNT(DISTINCT CASE WHEN user_action='adopted' THEN user_id END),"
            " COUNT(DISTINCT CASE WHEN user_action='updated' THEN user_id END),"
            " COUNT(DISTINCT CASE WHEN user_action='skipped' THEN user_id END),"
            " COUNT(DISTINCT CASE WHEN membership_action='existed' THEN COALESCE(membership_id, row) END),"
            " COUNT(DISTINCT CASE WHEN membership_action='updated' THEN membership_id END)"
            " FROM rows WHERE job_id=?",
            (job_id,),
        ).fetchone()
        (found,) = self._db.execute(
            "SELECT COUNT(*) FROM job_organizations WHERE job_id=? AND action='found'", (job_id,)
        ).fetchone()
        return {
            "users_adopted": adopted,
            "users_updated": updated,
            "users_skipped": skipped,
            "memberships_existed": existed,
            "memberships_updated": m_updated,
            "organizations_found": found,
        }

    def job_membership_ids(self, job_id: str, email: str) -> set[str]:
        """The memberships the job created for the user of ``email``."""
        found = self._db.execute(
            "SELECT membership_id FROM rows INDEXED BY rows_by_email WHERE job_id=? AND email=?"
            " AND membership_action='created' AND membership_id IS NOT NULL",
            (job_id, email),
        ).fetchall()
        return {membership_id for (membership_id,) in found}

    def get_undo(self, job_id: str) -> UndoRecord | None:
        """The undo of ``job_id``, or None when it was never undone."""
        row = self._db.execute(
            "SELECT job_id, state, include_changed, created_at, started_at, finished_at, updated_at,"
            " cancel_requested, last_error, confirmation, owner_pid, owner_host, heartbeat_at FROM undos"
            " WHERE job_id=?",
            (job_id,),
        ).fetchone()
        if row is None:
            return None
        state = UndoState(row[1])
        threshold = time.time() - HEARTBEAT_STALE_SECONDS
        if state is UndoState.RUNNING and not _alive(row[10] or 0, row[11] or "", row[12] or 0.0, threshold):
            state = UndoState.INTERRUPTED
        return UndoRecord(row[0], state, bool(row[2]), row[3], row[4], row[5], row[6], bool(row[7]), row[8], row[9])

    def begin_undo(self, job_id: str, *, include_changed: bool, confirmation: str | None) -> UndoRecord:
        """Take the undo of ``job_id`` for this process: the first time, build its worklist from the ledger; later,
        go on with it, judging again what was kept or failed. Raises ``JobStateError`` when a live runner holds it.
        """
        self.get_job(job_id)
        existing = self.get_undo(job_id)
        if existing is not None and existing.state is UndoState.RUNNING:
            raise JobStateError(f"the undo of job {job_id!r} is already running")
        now = time.time()
        with self._write() as db:
            if existing is None:
                db.execute(
                    "INSERT INTO undos (job_id, state, include_changed, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                    (job_id, UndoState.RUNNING.value, int(include_changed), now, now),
                )
                for phase, source in enumerate(_UNDO_SOURCES):
                    db.execute(
                        "INSERT INTO undo_items (job_id, phase, kind, object_id, lookup, parent_id, row, email,"
                        f" imported_at) SELECT ?1, {phase}, * FROM ({source} ORDER BY 5, 2)",
                        (job_id,),
                    )
            else:
                db.execute(
                    "UPDATE undo_items SET outcome='pending', reason=NULL, error_code=NULL, error_message=NULL"
                    " WHERE job_id=? AND outcome IN ('kept', 'failed')",
                    (job_id,),
                )
            db.execute(
                "UPDATE undos SET state='running', include_changed=?, started_at=COALESCE(started_at, ?),"
                " finished_at=NULL, updated_at=?, cancel_requested=0, owner_pid=?, owner_host=?, heartbeat_at=?,"
                " last_error=NULL, confirmation=COALESCE(?, confirmation) WHERE job_id=?",
                (int(include_changed), now, now, os.getpid(), socket.gethostname(), now, confirmation, job_id),
            )
        record = self.get_undo(job_id)
        assert record is not None
        return record

    def undo_heartbeat(self, job_id: str) -> bool:
        """Beat for the undo's runner; return whether a cancel was requested."""
        with self._write() as db:
            db.execute("UPDATE undos SET heartbeat_at=? WHERE job_id=?", (time.time(), job_id))
            (cancel,) = db.execute("SELECT cancel_requested FROM undos WHERE job_id=?", (job_id,)).fetchone()
        return bool(cancel)

    def request_undo_cancel(self, job_id: str) -> UndoRecord | None:
        """Ask a running undo to stop after the deletes in flight."""
        with self._write() as db:
            db.execute("UPDATE undos SET cancel_requested=1, updated_at=? WHERE job_id=?", (time.time(), job_id))
        return self.get_undo(job_id)

    def finish_undo(self, job_id: str, state: UndoState, *, last_error: str | None = None) -> None:
        """End this runner's turn: the undo's state, and no owner any more."""
        now = time.time()
        finished = now if state in (UndoState.COMPLETED, UndoState.COMPLETED_WITH_ERRORS) else None
        with self._write() as db:
            db.execute(
                "UPDATE undos SET state=?, finished_at=?, updated_at=?, last_error=?, owner_pid=NULL,"
                " owner_host=NULL, heartbeat_at=NULL WHERE job_id=?",
                (state.value, finished, now, last_error, job_id),
            )

    def pending_undo_items(self, job_id: str, kind: UndoKind, *, after_id: int = 0, limit: int = 500) -> list[UndoItem]:
        """The next items of ``kind`` that have no outcome yet, in order."""
        rows = self._db.execute(
            f"SELECT {_UNDO_ITEM_COLUMNS} FROM undo_items INDEXED BY undo_items_by_outcome"
            " WHERE job_id=? AND outcome='pending' AND phase=? AND id>? ORDER BY id LIMIT ?",
            (job_id, UNDO_PHASES.index(kind), after_id, limit),
        ).fetchall()
        return [_undo_item(row) for row in rows]

    def record_undo_items(self, job_id: str, items: Sequence[UndoItem]) -> None:
        """Write the outcomes of a batch of items in one transaction."""
        now = time.time()
        with self._write() as db:
            db.executemany(
                "UPDATE undo_items SET object_id=?, outcome=?, reason=?, error_code=?, error_message=?, updated_at=?"
                " WHERE job_id=? AND id=?",
                [
                    (i.object_id, i.outcome.value, i.reason, i.error_code, i.error_message, now, job_id, i.id)
                    for i in items
                ],
            )
            db.execute("UPDATE undos SET updated_at=? WHERE job_id=?", (now, job_id))

    def undo_counts(self, job_id: str) -> dict[tuple[UndoKind, UndoOutcome, str | None], int]:
        """Items of the undo by kind, outcome and reason."""
        rows = self._db.execute(
            "SELECT kind, outcome, reason, COUNT(*) FROM undo_items WHERE job_id=? GROUP BY kind, outcome, reason",
            (job_id,),
        ).fetchall()
        return {(UndoKind(k), UndoOutcome(o), r): n for k, o, r, n in rows}

    def undo_examples(self, job_id: str, outcome: UndoOutcome, *, limit: int = 10) -> list[UndoItem]:
        """The first items with ``outcome``, in order."""
        rows = self._db.execute(
            f"SELECT {_UNDO_ITEM_COLUMNS} FROM undo_items WHERE job_id=? AND outcome=? ORDER BY phase, id LIMIT ?",
            (job_id, outcome.value, limit),
        ).fetchall()
        return [_undo_item(row) for row in rows]

    def last_failures(self, job_id: str, *, limit: int = 5) -> list[RowOutcome]:
        """The most recently recorded failed rows."""
        page = self._db.execute(
            f"SELECT {_READ_COLUMNS} FROM rows WHERE job_id=? AND state='failed'"
            " ORDER BY updated_at DESC, row DESC LIMIT ?",
            (job_id, limit),
        ).fetchall()
        return [_outcome(values) for values in page]


def private_directory(directory: Path) -> None:
    """Create ``directory`` (and its parents) for files that hold emails and secrets: 0700, and never a symlink.

    Raises ``StoreError`` when ``directory`` is a symlink or not a directory.
    """
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = directory.lstat()
    except OSError as exc:
        raise StoreError(f"cannot create the directory {directory}: {exc.strerror or exc}") from exc
    if stat.S_ISLNK(info.st_mode):
        raise StoreError(f"{directory} is a symbolic link: give the real directory as the checkpoint directory")
    if not stat.S_ISDIR(info.st_mode):
        raise StoreError(f"{directory} is not a directory")
    if info.st_mode & 0o077 and info.st_uid == _uid():
        os.chmod(directory, 0o700)


def _uid() -> int:
    return os.getuid() if hasattr(os, "getuid") else -1


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False, factory=_Connection)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA busy_timeout=30000")
    return db


def _create_store_file(path: Path) -> None:
    """Make a new store file 0600 beside ``path`` and link it into place; another process's store wins a race."""
    aside = path.with_name(f"{path.name}.new-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    os.close(os.open(aside, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    try:
        db = _connect(aside)
        db.executescript(_SCHEMA + _COUNTS_SCHEMA)
        db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        db.close()
        try:
            os.link(aside, path)
        except FileExistsError:
            pass
        except OSError:  # a file system without hard links
            if not path.exists():
                os.replace(aside, path)
    finally:
        for leftover in (aside, aside.with_name(aside.name + "-wal"), aside.with_name(aside.name + "-shm")):
            leftover.unlink(missing_ok=True)


def _store_error(exc: sqlite3.Error, path: Path) -> StoreError:
    """One clear sentence for what SQLite said: a full disk, a damaged file, or anything else."""
    text = str(exc)
    if isinstance(exc, sqlite3.OperationalError) and "full" in text:
        return StoreError(f"the job store {path} cannot be written: the disk is full ({text}). Free space, then resume")
    if type(exc) is sqlite3.DatabaseError or "malformed" in text or "not a database" in text:
        return StoreError(
            f"the job store {path} is damaged ({text}): restore it from a backup, or move it away to start a new "
            "store (the jobs it held are then forgotten)"
        )
    return StoreError(f"the job store {path} failed: {text}")


class _Cursor(sqlite3.Cursor):
    """Reads that fail (a damaged page is found when it is read) raise ``StoreError``, like every statement."""

    def fetchone(self) -> Any:
        try:
            return super().fetchone()
        except sqlite3.Error as exc:
            raise _store_error(exc, _path_of(self.connection)) from exc

    def fetchall(self) -> list[Any]:
        try:
            return super().fetchall()
        except sqlite3.Error as exc:
            raise _store_error(exc, _path_of(self.connection)) from exc


class _Connection(sqlite3.Connection):
    """A connection whose statements raise ``StoreError`` (never a bare ``sqlite3`` error) and whose cursors do."""

    def __init__(self, database: Path, *args: Any, **kwargs: Any) -> None:
        super().__init__(database, *args, **kwargs)
        self.path = Path(database)

    def cursor(self, factory: Any = _Cursor) -> Any:
        return super().cursor(factory)

    def execute(self, sql: str, parameters: Any = (), /) -> Any:
        try:
            return super().execute(sql, parameters)
        except sqlite3.IntegrityError:
            raise  # the method that ran the statement knows what a constraint means (a job id taken)
        except sqlite3.Error as exc:
            raise _store_error(exc, self.path) from exc

    def executemany(self, sql: str, parameters: Any, /) -> Any:
        try:
            return super().executemany(sql, parameters)
        except sqlite3.IntegrityError:
            raise  # the method that ran the statement knows what a constraint means (a job id taken)
        except sqlite3.Error as exc:
            raise _store_error(exc, self.path) from exc

    def executescript(self, script: str, /) -> Any:
        try:
            return super().executescript(script)
        except sqlite3.IntegrityError:
            raise  # the method that ran the statement knows what a constraint means (a job id taken)
        except sqlite3.Error as exc:
            raise _store_error(exc, self.path) from exc


def _path_of(connection: sqlite3.Connection) -> Path:
    return connection.path if isinstance(connection, _Connection) else Path(STORE_FILENAME)


_ACTION_ENUMS: tuple[tuple[str, type[StrEnum]], ...] = (
    ("user_action", UserAction),
    ("membership_action", MembershipAction),
    ("totp_action", TotpAction),
)


def _value(action: StrEnum | None) -> str | None:
    return None if action is None else str(action)


def _outcome(values: Sequence[Any]) -> RowOutcome:
    data = dict(zip(_READ_FIELDS, values, strict=True))
    data["state"] = RowState(data["state"])
    for name, enum in (
        ("user_action", UserAction),
        ("membership_action", MembershipAction),
        ("totp_action", TotpAction),
    ):
        if data[name] is not None:
            data[name] = enum(data[name])
    if data["retryable"] is not None:
        data["retryable"] = bool(data["retryable"])
    return RowOutcome(**data)


def _undo_item(row: Sequence[Any]) -> UndoItem:
    return UndoItem(
        row[0], UndoKind(row[1]), row[2], row[3], row[4], row[5], row[6], row[7], UndoOutcome(row[8]), row[9],
        row[10], row[11],
    )  # fmt: skip


def _alive(pid: int, host: str, heartbeat_at: float, threshold: float) -> bool:
    """A runner is alive when it beat recently and, on this host, its process still exists."""
    if heartbeat_at < threshold:
        return False
    return host != socket.gethostname() or pid_alive(pid)


class SeenKeys:
    """A set of strings in a private temporary SQLite file (deleted on ``close``): a million keys, no memory."""

    def __init__(self) -> None:
        self._db = sqlite3.connect("")
        self._db.execute("CREATE TABLE seen (key TEXT PRIMARY KEY) WITHOUT ROWID")

    def add(self, key: str) -> bool:
        """Add ``key``; True when it was not there yet."""
        return self._db.execute("INSERT OR IGNORE INTO seen VALUES (?)", (key,)).rowcount == 1

    def close(self) -> None:
        self._db.close()
