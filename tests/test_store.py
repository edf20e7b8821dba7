"""The job store: jobs, chunks, runners and row outcomes in real SQLite files."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from core.errors import JobStateError, StoreError
from core.options import MigrationOptions
from core.store import (
    SCHEMA_VERSION,
    STORE_FILENAME,
    ChunkSpec,
    JobState,
    JobStore,
    RowOutcome,
    RowState,
    UndoKind,
    UserAction,
    new_job_id,
)


@pytest.fixture
def store(tmp_path: Path) -> JobStore:
    opened = JobStore.open(tmp_path / "checkpoints")
    yield opened
    opened.close()


def _options(tmp_path: Path, **extra: object) -> MigrationOptions:
    return MigrationOptions.build(csv_path=tmp_path / "users.csv", checkpoint_dir=tmp_path / "checkpoints", **extra)


def _job(store: JobStore, tmp_path: Path, job_id: str = "job-1", chunks: int = 3, **extra: object) -> str:
    store.create_job(job_id, _options(tmp_path, org_id="org_1", **extra), csv_sha256="ab" * 32, plan_hash="p")
    store.add_chunks(job_id, [ChunkSpec(i, 2 + i * 100, i * 1000, 100) for i in range(chunks)])
    store.finish_setup(job_id, total_rows=chunks * 100, invalid_rows=0, chunk_count=chunks)
    store.set_state(job_id, JobState.CREATED)
    return job_id


def _done(row: int, chunk: int = 0, **extra: object) -> RowOutcome:
    values: dict[str, object] = {"email": f"u{row}@example.com", "user_id": f"user_{row}", "user_action": "created"}
    values.update(extra)
    return RowOutcome(row=row, chunk=chunk, state=RowState.DONE, **values)  # type: ignore[arg-type]


def test_store_uses_wal_and_records_its_schema_version(store: JobStore) -> None:
    db = sqlite3.connect(store.path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == str(SCHEMA_VERSION)


def test_store_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    JobStore.open(tmp_path).close()
    db = sqlite3.connect(tmp_path / STORE_FILENAME)
    db.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    db.commit()
    with pytest.raises(StoreError, match="newer"):
        JobStore.open(tmp_path)


def test_unopenable_store_directory_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError):
        JobStore.open(blocker / "sub")


def test_job_records_options_including_the_single_org_context(store: JobStore, tmp_path: Path) -> None:
    _job(store, tmp_path, concurrency=7)
    job = store.get_job("job-1")
    assert job.options.org_id == "org_1"
    assert job.options.concurrency == 7
    assert job.csv_sha256 == "ab" * 32
    assert job.plan_hash == "p"
    assert job.state is JobState.CREATED
    assert job.chunk_count == 3


def test_duplicate_job_id_is_refused_with_the_resume_hint(store: JobStore, tmp_path: Path) -> None:
    _job(store, tmp_path)
    with pytest.raises(JobStateError, match="--resume job-1"):
        store.create_job("job-1", _options(tmp_path), csv_sha256="x", plan_hash=None)


def test_unknown_job_is_a_job_state_error(store: JobStore) -> None:
    with pytest.raises(JobStateError, match="no job"):
        store.get_job("nope")


def test_generated_job_ids_are_unique_and_valid_options() -> None:
    ids = {new_job_id() for _ in range(5000)}
    assert len(ids) == 5000
    for job_id in ids:
        MigrationOptions.build(csv_path="x.csv", job_id=job_id)


def test_chunks_are_claimed_in_order_with_their_finished_rows(store: JobStore, tmp_path: Path) -> None:
    _job(store, tmp_path)
    runner = store.start_runner("job-1", lead=True)
    store.record_rows("job-1", [_done(2), _done(5)])
    claim = store.claim_chunk("job-1", runner)
    assert claim is not None
    assert claim.spec == ChunkSpec(0, 2, 0, 100)
    assert claim.finished_rows == frozenset({2, 5})
    second = store.claim_chunk("job-1", runner)
    assert second is not None and second.spec.number == 1


def test_done_chunks_are_never_claimed_again(store: JobStore, tmp_path: Path) -> None:
    _job(store, tmp_path, chunks=2)
    runner = store.start_runner("job-1", lead=True)
    first = store.claim_chunk("job-1", runner)
    assert first is not None
    store.record_rows("job-1", [_done(2)], done_chunks=[first.spec.number])
    store.stop_runner("job-1", runner)
    runner = store.start_runner("job-1", lead=True)
    claims = [store.claim_chunk("job-1", runner), store.claim_chunk("job-1", runner)]
    assert [c.spec.number for c in claims if c] == [1]
    assert store.pending_chunks("job-1") == 1


def test_a_live_lead_runner_blocks_a_second_lead(store: JobStore, tmp_path: Path) -> None:
    _job(store, tmp_path)
    store.start_runner("job-1", lead=True)
    with pytest.raises(JobStateError, match="already running"):
        store.start_runner("job-1", lead=True)
    assert store.get_job("job-1").state is JobState.RUNNING


def test_a_dead_runner_is_detected_and_its_chunks_return_to_the_pool(store: JobStore, tmp_path: Path) -> None:
    _job(store, tmp_path)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        runner = store.start_runner("job-1", lead=True)
        store.claim_chunk("job-1", runner)
        store._db.execute("UPDATE runners SET pid=? WHERE runner_id=?", (child.pid, runner))
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    job = store.get_job("job-1")
    assert job.state is JobState.INTERRUPTED
    assert job.live_runners == 0
    store.start_runner("job-1", lead=True)
    assert store.get_job("job-1").state is JobState.RUNNING
    claim = store.claim_chunk("job-1", "another")
    assert claim is not None and claim.spec.number == 0


def test_a_runner_without_heartbeat_is_stale(store: JobStore, tmp_path: Path) -> None:
    _job(store, tmp_path)
    runner = store.start_runner("job-1", lead=True)
    store._db.execute("UPDATE runners SET heartbeat_at=? WHERE runner_id=?", (time.time() - 3600, runner))
    assert store.get_job("job-1").state is JobState.INTERRUPTED


def test_heartbeat_reports_cancel_and_shared_pause(store: JobStore, tmp_path: Path) -> None:
    _job(store, tmp_path)
    runner = store.start_runner("job-1", lead=True)
    assert store.heartbeat("job-1", runner) == (False, 0.0)
    deadline = time.time() + 5
    store.publish_pause("job-1", deadline)
    store.publish_pause("job-1", deadline - 3)
    store.request_cancel("job-1")
    assert store.heartbeat("job-1", runner) == (True, deadline)


def test_one_runner_probes_for_an_outage_and_the_next_takes_it_up_when_it_ends(store: JobStore, tmp_path: Path) -> None:
    _job(store, tmp_path)
    first, second = store.start_runner("job-1", lead=True), store.start_runner("job-1", lead=False)

    def probing() -> tuple[float | None, str | None]:
        outage = store.outage("job-1")
        return outage.open_since, outage.prober

    began = time.time()
    assert store.outage_open("job-1", first, since=began) is True
    assert store.outage_open("job-1", second, since=began + 1) is False  # the first probes; the second holds
    assert store.outage_open("job-1", first, since=began + 2) is True
    assert probing() == (began, first)
    store.outage_ended("job-1")  # the prober saw WorkOS answer
    assert store.outage("job-1").open_since is None
    again = time.time()
    assert store.outage_open("job-1", second, since=again) is True  # still down for the second: it probes now
    assert store.outage("job-1").prober == second
    store.stop_runner("job-1", second)  # a prober that stops ends its outage: another runner takes it up
    assert probing() == (None, None)
    assert store.outage_open("job-1", first, since=time.time()) is True
    store._db.execute("UPDATE outages SET beat_at=?", (time.time() - 3600,))  # the prober died
    assert probing() == (None, None)
    assert store.outage_open("job-1", second, since=time.time()) is True


def test_starting_the_lead_clears_an_old_cancel_request(store: JobStore, tmp_path: Path) -> None:
    _job(store, tmp_path)
    store.request_cancel("job-1")
    store.start_runner("job-1", lead=True)
    assert store.get_job("job-1").cancel_requested is False


def test_row_outcomes_round_trip_without_losing_fields(store: JobStore, tmp_path: Path) -> None:
    _job(store, tmp_path)
    failed = RowOutcome(
        row=9,
        chunk=0,
        state=RowState.FAILED,
        email="x@example.com",
        error_phase="membership",
        error_status=422,
        error_code="invalid_role",
        error_sub_codes="a,b",
        error_message="Role 'x' is not a valid role.",
        request_id="req_1",
        retryable=False,
        attempts=2,
        warning="w",
    )
    store.record_rows("job-1", [_done(2), failed])
    [back] = list(store.iter_rows("job-1", state=RowState.FAILED))
    assert back.recorded_at is not None
    assert back == dataclasses.replace(failed, recorded_at=back.recorded_at)


def test_iter_rows_streams_every_row_in_order_across_pages(store: JobStore, tmp_path: Path) -> None:
    _job(store, tmp_path, chunks=30)
    store.record_rows("job-1", [_done(row, chunk=row // 100) for row in range(2500, 1, -1)])
    rows = [o.row for o in store.iter_rows("job-1")]
    assert rows == list(range(2, 2501))


def test_counts_come_from_the_ledger(store: JobStore, tmp_path: Path) -> None:
    _job(store, tmp_path)
    store.record_rows(
        "job-1",
        [
            _done(2, membership_action="created"),
            _done(3, user_action="adopted", membership_action="existed"),
            _done(4, user_action="reused", membership_action="created", totp_action="enrolled"),
            RowOutcome(row=5, chunk=0, state=RowState.SKIPPED, user_action="skipped"),
            RowOutcome(row=6, chunk=0, state=RowState.FAILED, error_phase="validation", error_code="email_invalid"),
            RowOutcome(row=7, chunk=0, state=RowState.FAILED, error_phase="user", error_code="server_error"),
        ],
    )
    counts = store.counts("job-1")
    assert (counts.done, counts.skipped, counts.failed, counts.invalid) == (3, 1, 2, 1)
    assert (counts.users_created, counts.users_adopted) == (1, 1)
    assert (counts.memberships_created, counts.memberships_existed, counts.totp_enrolled) == (2, 1, 1)
    assert counts.pending == 300 - 6


def test_user_for_email_prefers_the_row_that_created_the_user(store: JobStore, tmp_path: Path) -> None:
    _job(store, tmp_path)
    store.record_rows("job-1", [_done(2, email="a@x.io", user_action="reused"), _done(3, email="a@x.io")])
    assert store.user_for_email("job-1", "a@x.io") == ("user_3", "created")
    assert store.user_for_email("job-1", "b@x.io") is None


def test_retry_failed_reopens_only_failures_a_retry_can_fix(store: JobStore, tmp_path: Path) -> None:
    _job(store, tmp_path, chunks=2)
    runner = store.start_runner("job-1", lead=True)
    store.claim_chunk("job-1", runner)
    store.claim_chunk("job-1", runner)
    store.record_rows(
        "job-1",
        [
            _done(2),
            RowOutcome(row=3, chunk=0, state=RowState.FAILED, error_phase="validation", error_code="email_invalid"),
            RowOutcome(row=150, chunk=1, state=RowState.FAILED, error_phase="user", error_code="server_error"),
        ],
        done_chunks=[0, 1],
    )
    store.stop_runner("job-1", runner)
    assert store.reopen_failed("job-1") == 1
    assert store.pending_chunks("job-1") == 1
    assert [o.row for o in store.iter_rows("job-1")] == [2, 3]


def test_stopping_a_runner_returns_its_unfinished_chunks(store: JobStore, tmp_path: Path) -> None:
    _job(store, tmp_path)
    runner = store.start_runner("job-1", lead=True)
    store.claim_chunk("job-1", runner)
    store.stop_runner("job-1", runner)
    claim = store.claim_chunk("job-1", "next")
    assert claim is not None and claim.spec.number == 0


def test_counters_merge_across_runners(store: JobStore, tmp_path: Path) -> None:
    _job(store, tmp_path)
    store.add_counters("job-1", {"retries": 2, "rate_limited": 1})
    other = JobStore.open(store.directory)
    other.add_counters("job-1", {"retries": 3})
    assert store.get_job("job-1").counters == {"retries": 5, "rate_limited": 1}


def _claim_all(directory: str, job_id: str, queue: multiprocessing.Queue, release: Any) -> None:  # type: ignore[type-arg]
    store = JobStore.open(Path(directory))
    runner = store.start_runner(job_id, lead=False)
    claimed = []
    while (claim := store.claim_chunk(job_id, runner)) is not None:
        claimed.append(claim.spec.number)
    queue.put(claimed)
    # A runner that exits gives its claimed chunks back (a dead pid is reaped), so stay alive until every
    # worker has claimed: on a loaded machine one worker may finish before another has even started.
    release.wait(60)


def test_concurrent_processes_never_claim_the_same_chunk(store: JobStore, tmp_path: Path) -> None:
    _job(store, tmp_path, chunks=200)
    store.start_runner("job-1", lead=True)
    queue: multiprocessing.Queue = multiprocessing.get_context("spawn").Queue()  # type: ignore[type-arg]
    ctx = multiprocessing.get_context("spawn")
    release = ctx.Event()
    workers = [ctx.Process(target=_claim_all, args=(str(store.directory), "job-1", queue, release)) for _ in range(3)]
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=60) for _ in workers]
    release.set()
    for worker in workers:
        worker.join()
    claimed = [index for result in results for index in result]
    assert sorted(claimed) == list(range(200))


def test_store_file_is_created_in_the_checkpoint_dir(tmp_path: Path) -> None:
    directory = tmp_path / "a" / "b"
    JobStore.open(directory).close()
    assert (directory / STORE_FILENAME).is_file()
    assert os.access(directory / STORE_FILENAME, os.R_OK)


def test_per_row_lookups_use_an_index_never_a_walk_of_the_jobs_rows(store: JobStore, tmp_path: Path) -> None:
    _job(store, tmp_path)
    store.record_rows("job-1", [_done(row, chunk=row // 100) for row in range(2, 300)])
    statements: list[str] = []
    store._db.set_trace_callback(statements.append)
    runner = store.start_runner("job-1", lead=True)
    store.user_for_email("job-1", "u7@example.com")
    store.claim_chunk("job-1", runner)
    store._db.set_trace_callback(None)
    lookups = [s for s in statements if s.startswith("SELECT") and "FROM rows" in s]
    assert len(lookups) == 2
    for statement in lookups:
        plan = " ".join(str(step[3]) for step in store._db.execute("EXPLAIN QUERY PLAN " + statement))
        assert "USING INDEX" in plan or "USING COVERING INDEX" in plan, plan


def _aggregate(store: JobStore, job_id: str) -> tuple[int, ...]:
    """The counts computed the slow way, from every row."""
    row = store._db.execute(
        "SELECT SUM(state='done'), SUM(state='skipped'), SUM(state='failed'),"
        " SUM(state='failed' AND error_phase='validation'), SUM(user_action='created'),"
        " SUM(user_action='adopted'), SUM(user_action='updated'), SUM(membership_action='created'),"
        " SUM(membership_action='existed'), SUM(membership_action='updated'), SUM(totp_action='enrolled')"
        " FROM rows WHERE job_id=?",
        (job_id,),
    ).fetchone()
    return tuple(int(v or 0) for v in row)


def test_kept_counts_match_the_rows_through_inserts_rewrites_and_deletes(store: JobStore, tmp_path: Path) -> None:
    _job(store, tmp_path, chunks=2)
    _job(store, tmp_path, job_id="other", chunks=1)
    store.record_rows("other", [_done(2)])
    store.record_rows(
        "job-1",
        [
            _done(2, membership_action="created", totp_action="enrolled"),
            _done(3, user_action="adopted", membership_action="existed"),
            _done(7, membership_action="updated"),
            RowOutcome(row=4, chunk=0, state=RowState.FAILED, error_phase="validation", error_code="email_invalid"),
            RowOutcome(row=5, chunk=0, state=RowState.FAILED, error_phase="user", error_code="server_error"),
            RowOutcome(row=6, chunk=0, state=RowState.SKIPPED, user_action="skipped"),
        ],
    )
    assert tuple(store.counts("job-1"))[1:] == _aggregate(store, "job-1")
    store.record_rows("job-1", [_done(5, user_action="updated", membership_action="created")])
    assert tuple(store.counts("job-1"))[1:] == _aggregate(store, "job-1")
    assert store.counts("job-1").failed == 1 and store.counts("job-1").users_updated == 1
    store.record_rows("job-1", [RowOutcome(row=7, chunk=0, state=RowState.FAILED, error_phase="membership")])
    store.reopen_failed("job-1")
    assert tuple(store.counts("job-1"))[1:] == _aggregate(store, "job-1")
    store.discard_setup("job-1")
    assert tuple(store.counts("job-1"))[1:] == (0,) * 11
    assert store.counts("other").done == 1


def test_a_version_1_store_is_upgraded_with_its_counts(tmp_path: Path) -> None:
    store = JobStore.open(tmp_path)
    _job(store, tmp_path)
    store.record_rows("job-1", [_done(2), _done(3, user_action="adopted")])
    store._db.executescript(
        "DROP TRIGGER rows_counted_insert; DROP TRIGGER rows_counted_delete; DROP TRIGGER rows_counted_update;"
        " DROP TABLE job_counts; UPDATE meta SET value='1' WHERE key='schema_version';"
    )
    store.close()
    upgraded = JobStore.open(tmp_path)
    counts = upgraded.counts("job-1")
    assert (counts.done, counts.users_created, counts.users_adopted) == (2, 1, 1)
    assert upgraded._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == str(
        SCHEMA_VERSION
    )


def test_a_version_2_store_is_upgraded_to_count_updated_memberships_and_hold_snapshots(tmp_path: Path) -> None:
    store = JobStore.open(tmp_path)
    _job(store, tmp_path)
    store.record_rows("job-1", [_done(2), _done(3, membership_action="updated")])
    v2_columns = ", ".join(
        f"{name} INTEGER NOT NULL DEFAULT 0"
        for name in ("done", "skipped", "failed", "invalid", "users_created", "users_adopted", "users_updated",
                     "memberships_created", "memberships_existed", "totp_enrolled")
    )  # fmt: skip
    store._db.executescript(
        "DROP TRIGGER rows_counted_insert; DROP TRIGGER rows_counted_delete; DROP TRIGGER rows_counted_update;"
        f" DROP TABLE job_counts; CREATE TABLE job_counts (job_id TEXT PRIMARY KEY, {v2_columns});"
        " CREATE TRIGGER rows_counted_insert AFTER INSERT ON rows BEGIN SELECT 1; END;"
        " CREATE TRIGGER rows_counted_delete AFTER DELETE ON rows BEGIN SELECT 1; END;"
        " CREATE TRIGGER rows_counted_update AFTER UPDATE ON rows BEGIN SELECT 1; END;"
        " DROP TABLE env_users; UPDATE meta SET value='2' WHERE key='schema_version';"
    )
    store.close()
    upgraded = JobStore.open(tmp_path)
    assert upgraded.counts("job-1").memberships_updated == 1
    upgraded.record_rows("job-1", [_done(4, membership_action="updated")])
    assert tuple(upgraded.counts("job-1"))[1:] == _aggregate(upgraded, "job-1")
    assert upgraded.environment("env").counts()["users"] == 0


def test_a_version_2_store_gains_the_undo_ledger_and_keeps_its_rows(tmp_path: Path) -> None:
    store = JobStore.open(tmp_path)
    _job(store, tmp_path)
    store.record_rows("job-1", [_done(2), _done(3, user_action="adopted")])
    store._db.executescript(
        "ALTER TABLE rows DROP COLUMN factor_id; DROP TABLE undo_items; DROP TABLE undos;"
        " DROP TABLE job_organizations; UPDATE meta SET value='2' WHERE key='schema_version';"
    )
    store.close()
    upgraded = JobStore.open(tmp_path)
    rows = list(upgraded.iter_rows("job-1"))
    assert [(r.row, r.user_action, r.factor_id) for r in rows] == [
        (2, UserAction.CREATED, None),
        (3, UserAction.ADOPTED, None),
    ]
    upgraded.record_rows("job-1", [_done(4, totp_action="enrolled", factor_id="auth_factor_1")])
    assert upgraded.undo_sources("job-1", UndoKind.FACTOR)[0] == 1
    assert upgraded.job_organizations("job-1") == []
