"""Shared fixtures: the anyio backend, CSV builders and the loopback WorkOS sandbox."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import httpx2
import pytest

from core.engine import MigrationResult, execute_job, job_result, prepare_job, start_resume
from core.options import MigrationOptions
from core.store import JobState, JobStore
from core.workos.sandbox import SandboxHandle, running_sandbox

if TYPE_CHECKING:
    from server.settings import ServerSettings

REJECTED_KEY = "sk_live_" + "rejected_by_the_sandbox"  # split: no hook mistakes it for a real key
"""A key the sandbox answers 401 to (it is not the sandbox's): a rejected live key."""
BCRYPT = "$2b$10$" + "N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"
"""A well-formed bcrypt hash (the WorkOS spec's example)."""
FIREBASE = "$firebase-scrypt$hash=aGFzaA==$salt=c2FsdA==$sk=c2s=$ss=Bw==$r=8$m=14"
TOTP = "JBSWY3DPEHPK3PXP"
ORG_A = "org_01EHWNCE74X7JSDV0X3SZ3KJNY"
ORG_B = "org_01EHWNCE74X7JSDV0X3SZ3KJNZ"

CsvWriter = Callable[..., Path]


def csv_text(header: Sequence[str], rows: Iterable[Sequence[str] | dict[str, str]], *, crlf: bool = True) -> str:
    """CSV text for ``header`` and ``rows`` (lists, or dicts by column name, missing names empty)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n" if crlf else "\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([row.get(name, "") for name in header] if isinstance(row, dict) else row)
    return buffer.getvalue()


@pytest.fixture
def write_csv(tmp_path: Path) -> CsvWriter:
    """``write_csv(header, rows, name="users.csv", bom=False, crlf=True)``: a CSV file in ``tmp_path``."""

    def write(
        header: Sequence[str],
        rows: Iterable[Sequence[str] | dict[str, str]] = (),
        *,
        name: str = "users.csv",
        bom: bool = False,
        crlf: bool = True,
    ) -> Path:
        path = tmp_path / name
        path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + csv_text(header, rows, crlf=crlf).encode())
        return path

    return write


def users_header(rows: Sequence[dict[str, str]]) -> list[str]:
    """The union of the rows' keys, email first."""
    header = ["email"]
    for row in rows:
        header += [name for name in row if name not in header]
    return header


def write_rows(path: Path, rows: Sequence[dict[str, str]]) -> Path:
    """Write dict rows to ``path`` as CSV (header from ``users_header``)."""
    path.write_text(csv_text(users_header(rows), rows), encoding="utf-8", newline="")
    return path


@pytest.fixture
def write_users(write_csv: CsvWriter) -> CsvWriter:
    """``write_users(rows, **kw)``: dict rows; the header is the union of their keys, email first."""

    def write(rows: Sequence[dict[str, str]], **kwargs: object) -> Path:
        return write_csv(users_header(rows), rows, **kwargs)

    return write


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def _sandbox_server() -> Iterator[SandboxHandle]:
    with running_sandbox() as handle:
        yield handle


@pytest.fixture
def sandbox(_sandbox_server: SandboxHandle) -> Iterator[SandboxHandle]:
    """The session's loopback sandbox, reset to its empty seed and default configuration for this test."""
    _sandbox_server.reset()
    yield _sandbox_server


@pytest.fixture
def cli_env(sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The CLI as a user runs it against the sandbox: in ``tmp_path`` (returned), the sandbox's URL and key set."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WORKOS_BASE_URL", sandbox.url)
    monkeypatch.setenv("WORKOS_API_KEY", sandbox.api_key)
    return tmp_path


@pytest.fixture
def sandbox_api(sandbox: SandboxHandle) -> Iterator[httpx2.Client]:
    """A plain HTTP client on the sandbox, authenticated with its API key."""
    with httpx2.Client(base_url=sandbox.url, headers={"Authorization": f"Bearer {sandbox.api_key}"}) as client:
        yield client


# Rates for engine runs against the unlimited sandbox: the client's pacing must not be what a test waits on.
FAST_RATES = {"rate_limit": 5000, "read_rate_limit": 5000, "global_rate_limit": 10000}


class ImportRun:
    """Runs real import jobs against the loopback sandbox with a real job store in ``tmp_path``."""

    def __init__(self, sandbox: SandboxHandle, checkpoint_dir: Path) -> None:
        self.sandbox = sandbox
        self.checkpoint_dir = checkpoint_dir

    def options(self, csv_path: Path, **values: object) -> MigrationOptions:
        merged: dict[str, object] = {**FAST_RATES, "concurrency": 8, **values}
        return MigrationOptions.build(
            csv_path=csv_path, checkpoint_dir=self.checkpoint_dir, base_url=self.sandbox.url, **merged
        )

    def store(self) -> JobStore:
        return JobStore.open(self.checkpoint_dir)

    async def run(self, csv_path: Path, **values: object) -> MigrationResult:
        """Prepare and execute a new job; ``values`` are MigrationOptions fields."""
        store = self.store()
        job = prepare_job(store, self.options(csv_path, **values))
        if job.state is JobState.DRY_RUN:
            return job_result(store, job.id)
        return await execute_job(store, job.id, api_key=self.sandbox.api_key)

    async def resume(self, job_id: str | None = None, *, retry_failed: bool = False) -> MigrationResult:
        store = self.store()
        job = start_resume(store, job_id, retry_failed=retry_failed)
        return await execute_job(store, job.id, api_key=self.sandbox.api_key)


@pytest.fixture
def importer(sandbox: SandboxHandle, tmp_path: Path) -> ImportRun:
    """Run import jobs against the sandbox (no rate limits, no latency) with a job store in ``tmp_path``."""
    sandbox.configure(write_limit=0, read_limit=0, global_limit=0)
    return ImportRun(sandbox, tmp_path / "checkpoints")


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel of this checkout, built once per session as a user builds it (``python -m build``)."""
    from tests.install_support import build_wheel  # it imports this module

    return build_wheel(tmp_path_factory.mktemp("dist"))


# MCP tests: the protocol mode, and a server's settings against the sandbox. Imported when used, so tests that
# never start a server never load mcp.
@pytest.fixture(params=["legacy", "auto"])
def mode(request: pytest.FixtureRequest) -> str:
    """``legacy``: the 2025-11-25 handshake real hosts speak today; ``auto``: the 2026-07-28 era."""
    return str(request.param)


@pytest.fixture
def settings(tmp_path: Path, sandbox: SandboxHandle) -> Iterator[ServerSettings]:
    """Server settings on ``tmp_path`` against the unlimited sandbox; waits for the workers it started."""
    from tests.mcp_support import server_settings, wait_for_workers

    sandbox.configure(write_limit=0, read_limit=0, global_limit=0)
    made = server_settings(tmp_path, sandbox)
    yield made
    wait_for_workers(made.state_dir)
