"""Login canaries against the sandbox: imported bcrypt passwords sign in, a wrong one is refused with a reason."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from core.canaries import CanaryOutcome, hash_types_of, read_canaries, run_canaries
from core.csvsource import CsvSource
from core.errors import AuthenticationError, SourceError
from core.workos.client import WorkOSClient
from core.workos.sandbox import SandboxHandle
from tests.conftest import CsvWriter, ImportRun, write_rows
from tests.hash_fixtures import bcrypt_hash

pytestmark = pytest.mark.anyio

PASSWORD = "correct-horse-battery-9"
CLIENT_ID = "client_01CANARYTEST"


async def _imported(importer: ImportRun, write_users: CsvWriter) -> Path:
    rows = [
        {"email": "alice@example.com", "password_hash": bcrypt_hash(PASSWORD), "password_hash_type": "bcrypt"},
        {"email": "bob@example.com", "password_hash": bcrypt_hash(PASSWORD, "2a"), "password_hash_type": "bcrypt"},
        {"email": "carol@example.com", "password": PASSWORD},
    ]
    csv_path = write_users(rows)
    result = await importer.run(csv_path)
    assert result.users_created == 3
    return csv_path


async def test_canaries_prove_bcrypt_and_name_a_wrong_password(
    importer: ImportRun,
    sandbox: SandboxHandle,
    write_users: CsvWriter,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    csv_path = await _imported(importer, write_users)
    canary_file = write_rows(
        tmp_path / "canaries.csv",
        [
            {"email": "alice@example.com", "password": PASSWORD},
            {"email": "Bob@Example.com", "password": "not-the-password"},
            {"email": "carol@example.com", "password": PASSWORD},
        ],
    )
    canaries = read_canaries(canary_file)
    types = hash_types_of(CsvSource(csv_path), {email for email, _ in canaries})
    caplog.set_level(logging.DEBUG)

    async with WorkOSClient(api_key=sandbox.api_key, base_url=sandbox.url) as client:
        report = await run_canaries(client, canaries, client_id=CLIENT_ID, hash_types=types)

    outcomes = {(r.email, r.hash_type, r.outcome) for r in report.results}
    assert outcomes == {
        ("alice@example.com", "bcrypt", CanaryOutcome.SIGNED_IN),
        ("bob@example.com", "bcrypt", CanaryOutcome.REJECTED),
        ("carol@example.com", "plaintext", CanaryOutcome.SIGNED_IN),
    }
    bob = next(r for r in report.results if r.email == "bob@example.com")
    assert "refused the password" in bob.reason and "hash" in bob.reason
    assert (report.proven, report.failed) == (["bcrypt", "plaintext"], ["bcrypt"])
    assert "not-the-password" not in report.model_dump_json() and PASSWORD not in report.model_dump_json()
    assert "not-the-password" not in caplog.text and PASSWORD not in caplog.text


async def test_a_wrong_client_id_stops_the_canaries_with_what_to_set(
    importer: ImportRun, sandbox: SandboxHandle, write_users: CsvWriter
) -> None:
    await _imported(importer, write_users)
    async with WorkOSClient(api_key=sandbox.api_key, base_url=sandbox.url) as client:
        with pytest.raises(AuthenticationError) as raised:
            await run_canaries(client, [("alice@example.com", PASSWORD)], client_id="nope", hash_types={})
    assert "WORKOS_CLIENT_ID" in str(raised.value) and PASSWORD not in str(raised.value)


def test_a_canary_row_without_a_password_is_named_without_echoing_anything(tmp_path: Path) -> None:
    path = write_rows(tmp_path / "c.csv", [{"email": "a@example.com", "password": "s3cret-value"}, {"email": "b@x.io"}])
    with pytest.raises(SourceError, match="row 3"):
        read_canaries(path)
