"""From each provider's own export to users who sign in: convert, validate, import into the sandbox, sign in.

Samples (tests/source_samples.py) carry the providers' real field names and the edge cases the reference
lists. For every source: each input user lands in exactly one outcome; the CSV validates with no error;
the import succeeds; every converted user signs in through the sandbox's authenticate endpoint with its
known password (and not with another); the reset list holds exactly the expected users and reasons.
"""

from __future__ import annotations

import csv
import json
import logging
import stat
from collections.abc import Callable
from pathlib import Path

import httpx2
import pytest

from core import hashes
from core.errors import OptionsError, SourceError
from core.sources import ConvertOptions, ConvertReport, Source, SourceInputs, convert_export
from core.validation import validate_csv
from core.workos.sandbox import SandboxHandle
from tests import source_samples
from tests.conftest import ImportRun
from tests.source_samples import Sample

pytestmark = pytest.mark.anyio

CLIENT_ID = "client_01SOURCES"


def _firebase_json(directory: Path) -> Sample:
    sample = source_samples.write_firebase(directory)[0]
    config = hashes.parse_firebase_params((directory / "hash_config.txt").read_text())
    sample.inputs = sample.inputs.model_copy(update={"hash_config": config})
    return sample


def _firebase_csv(directory: Path) -> Sample:
    sample = source_samples.write_firebase(directory)[1]
    config = hashes.parse_firebase_params((directory / "hash_config_cheap.txt").read_text())
    sample.inputs = sample.inputs.model_copy(update={"hash_config": config})
    return sample


SAMPLES: dict[str, tuple[Source, Callable[[Path], Sample]]] = {
    "auth0": (Source.AUTH0, source_samples.write_auth0),
    "firebase-json": (Source.FIREBASE, _firebase_json),
    "firebase-csv": (Source.FIREBASE, _firebase_csv),
    "clerk": (Source.CLERK, source_samples.write_clerk),
    "cognito": (Source.COGNITO, source_samples.write_cognito),
    "supabase": (Source.SUPABASE, source_samples.write_supabase),
    "keycloak": (Source.KEYCLOAK, source_samples.write_keycloak),
    "django": (Source.DJANGO, source_samples.write_django),
}


def convert(tmp_path: Path, name: str) -> tuple[Sample, ConvertReport, ConvertOptions]:
    source, write = SAMPLES[name]
    sample = write(tmp_path)
    options = ConvertOptions(
        out=tmp_path / "converted.csv",
        report=tmp_path / "report.json",
        reset_list=tmp_path / "reset.csv",
        role_map=sample.role_map,
    )
    return sample, convert_export(source, sample.inputs, options), options


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def sign_in(sandbox: SandboxHandle, email: str, password: str) -> int:
    body = {"client_id": CLIENT_ID, "client_secret": sandbox.api_key, "grant_type": "password"}
    response = httpx2.post(
        f"{sandbox.url}/user_management/authenticate", json={**body, "email": email, "password": password}
    )
    return response.status_code


@pytest.mark.parametrize("name", list(SAMPLES))
async def test_export_converts_validates_imports_and_users_sign_in(
    name: str, tmp_path: Path, importer: ImportRun
) -> None:
    sample, report, options = convert(tmp_path, name)
    assert report.converted + report.reset + report.skipped == report.input_users
    assert report.reasons["skipped"] == sample.skipped
    assert report.converted == len(sample.signs_in) and report.reset == len(sample.reset)
    resets = {row["email"]: row["reason"] for row in read_csv(options.reset_list or Path())}
    assert resets == sample.reset
    rows = read_csv(options.out)
    assert {row["email"] for row in rows} == set(sample.signs_in) | set(sample.reset)
    assert {row["email"] for row in rows if row["password_hash"]} == set(sample.signs_in)
    assert {row["email"] for row in rows if row["totp_secret"]} == sample.totp
    for email, orgs in sample.memberships.items():
        assert {row["org_external_id"] for row in rows if row["email"] == email} == orgs, email
    for path in (options.out, options.report, options.reset_list):
        assert path is not None and stat.S_IMODE(path.stat().st_mode) == 0o600

    checked = validate_csv(options.out)
    assert [issue.code for issue in checked.issues if issue.severity == "error"] == []

    importer.sandbox.configure(multiple_roles_enabled=True, auth_limit=0)
    result = await importer.run(options.out, create_org_if_missing=True)
    assert (result.failed, result.invalid) == (0, 0), result.last_error
    for email, password in sample.signs_in.items():
        assert sign_in(importer.sandbox, email, password) == 200, (name, email)
        assert sign_in(importer.sandbox, email, password + "-wrong") == 400
    for email in sample.reset:
        assert sign_in(importer.sandbox, email, "anything-at-all") == 400
    state = importer.sandbox.state()
    assert len({user["email"] for user in state["users"]}) == report.converted + report.reset
    assert len(state["auth_factors"]) == len(sample.totp)


async def test_the_firebase_test_vector_signs_in_after_conversion(tmp_path: Path, importer: ImportRun) -> None:
    _, _, options = convert(tmp_path, "firebase-json")
    row = next(row for row in read_csv(options.out) if row["email"] == "priya@globex.dev")
    assert row["password_hash_type"] == "firebase-scrypt" and row["password_hash"].endswith("$ss=Bw$r=8$m=14")
    await importer.run(options.out, create_org_if_missing=True)
    assert sign_in(importer.sandbox, "priya@globex.dev", "user1password") == 200


def test_auth0_merges_by_email_and_joins_passwords_by_id(tmp_path: Path) -> None:
    _, report, options = convert(tmp_path, "auth0")
    rows = read_csv(options.out)
    dana = [row for row in rows if row["email"] == "dana.lee@acme.io"]
    assert {(row["org_external_id"], row["role_slugs"]) for row in dana} == {
        ("org_acme", "admin"),
        ("org_globex", "member"),
    }
    assert dana[0]["external_id"] == "auth0|65f1c0de9b1e4a0012ab34cd" and dana[0]["email_verified"] == "true"
    metadata = json.loads(dana[0]["metadata"])
    assert metadata["prefs.theme"] == "dark" and metadata["tenant_id"] == "acme" and metadata["roles"] == '["admin"]'
    many = json.loads(next(row for row in rows if row["email"] == "many@acme.io")["metadata"])
    assert len(many) == 50 and "huge" not in many
    assert any("a_key_that_is_much_longer" in key for key in report.metadata_dropped)
    assert any("huge: value over 600" in key for key in report.metadata_dropped)
    assert any("1 rows of the password export match no user" in warning for warning in report.warnings)
    twice = next(row for row in rows if row["email"] == "twice@acme.io")
    assert twice["external_id"] == "auth0|65f1c0de9b1e4a0012ab0006"


def test_every_source_refuses_inputs_it_does_not_read(tmp_path: Path) -> None:
    export = tmp_path / "users.json"
    export.write_text("[]")
    options = ConvertOptions(out=tmp_path / "out.csv")
    with pytest.raises(OptionsError) as caught:
        convert_export(Source.COGNITO, SourceInputs(users=[export], passwords=export, identities=export), options)
    assert "--passwords does not apply to cognito" in str(caught.value)
    assert "--identities does not apply to cognito" in str(caught.value)
    with pytest.raises(OptionsError, match="is also an input"):
        convert_export(Source.DJANGO, SourceInputs(users=[export]), ConvertOptions(out=export))
    with pytest.raises(OptionsError, match="no such file"):
        convert_export(Source.DJANGO, SourceInputs(users=[tmp_path / "missing.csv"]), options)
    assert not (tmp_path / "out.csv").exists()


def test_firebase_hashes_without_hash_config_fail_before_writing(tmp_path: Path) -> None:
    sample = source_samples.write_firebase(tmp_path)[0]
    with pytest.raises(OptionsError, match="--hash-config"):
        convert_export(Source.FIREBASE, sample.inputs, ConvertOptions(out=tmp_path / "out.csv"))
    assert not (tmp_path / "out.csv").exists()


def test_disabled_users_can_be_imported_without_credentials(tmp_path: Path) -> None:
    sample = source_samples.write_django(tmp_path)
    options = ConvertOptions(out=tmp_path / "out.csv", reset_list=tmp_path / "reset.csv", disabled="import")
    report = convert_export(Source.DJANGO, sample.inputs, options)
    assert report.reasons["skipped"] == {} and report.reasons["reset"]["disabled"] == 1
    hal = next(row for row in read_csv(options.out) if row["email"] == "hal@wayne.org")
    assert hal["password_hash"] == "" and json.loads(hal["metadata"])["disabled"] == "true"


def test_malformed_json_names_the_file_and_place(tmp_path: Path) -> None:
    export = tmp_path / "users.json"
    export.write_text('{"users": [{"localId": "a", "email": "a@x.io"}, {"localId": ]}')
    with pytest.raises(SourceError, match=r"users\.json: not valid JSON near character"):
        convert_export(Source.FIREBASE, SourceInputs(users=[export]), ConvertOptions(out=tmp_path / "out.csv"))


def test_no_hash_or_secret_reaches_the_report_the_reset_list_or_the_warnings(tmp_path: Path) -> None:
    secrets: list[str] = []
    for name in SAMPLES:
        directory = tmp_path / name
        directory.mkdir()
        _, report, options = convert(directory, name)
        for row in read_csv(options.out):
            secrets.extend(value for value in (row["password_hash"], row["totp_secret"]) if value)
        texts = [
            (options.report or Path()).read_text(),
            (options.reset_list or Path()).read_text(),
            report.model_dump_json(),
        ]
        for text in texts:
            for secret in secrets:
                assert secret not in text
            assert "JBSWY3DPEHPK3PXP" not in text and "jxspr8Ki0RYycVU8" not in text
    assert len(secrets) > 20


def test_the_cli_converts_and_exits_2_on_a_bad_input(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from server.cli import _SOURCE_NAMES, main

    assert [source.value for source in Source] == _SOURCE_NAMES
    sample = source_samples.write_firebase(tmp_path)[0]
    runner = CliRunner()
    args = ["convert", "firebase", "--users", str(tmp_path / "users.json"), "--out", str(tmp_path / "out.csv")]
    args += ["--hash-config", str(tmp_path / "hash_config.txt"), "--org-attribute", "orgId", "--role-attribute", "role"]
    done = runner.invoke(main, [*args, "--reset-list", str(tmp_path / "reset.csv"), "--role-map", "admin=admin"])
    assert done.exit_code == 0, done.output
    assert "6 users -> 2 with their password, 2 to reset, 2 skipped" in done.output
    assert "Next: workos-migrate validate --csv" in done.output and "$firebase-scrypt$" not in done.output
    as_json = runner.invoke(main, [*args, "--json"])
    assert json.loads(as_json.output)["converted"] == len(sample.signs_in)
    missing = runner.invoke(
        main, ["convert", "firebase", "--users", str(tmp_path / "users.json"), "--out", str(tmp_path / "x.csv")]
    )
    assert missing.exit_code == 2 and "--hash-config" in missing.output
    bad_map = runner.invoke(main, [*args, "--role-map", "admin"])
    assert bad_map.exit_code == 2 and "--role-map 'admin'" in bad_map.output
    assert "Traceback" not in missing.output + bad_map.output


def test_role_names_that_are_not_slugs_are_counted_and_left_out(tmp_path: Path) -> None:
    from core.sources.convert import convert_users
    from core.sources.model import Membership, SourceUser
    from core.sources.spill import Spill

    users = [
        SourceUser(
            source_id=f"u{n}", email=f"u{n}@x.io", memberships=[Membership("acme", "Acme", ("Billing Admin", "Admin"))]
        )
        for n in range(3)
    ]
    users.append(SourceUser(source_id="r", email="r@x.io", roles=("admin",)))
    options = ConvertOptions(out=tmp_path / "out.csv", role_map={"Admin": "admin"})
    with Spill() as spill:
        report = convert_users("test", iter(users), options, spill, [])
    assert report.roles_dropped == {"Billing Admin": 3}
    assert any("1 role names are not WorkOS slugs" in warning for warning in report.warnings)
    assert any("1 users have roles but no organization" in warning for warning in report.warnings)
    assert {row["role_slugs"] for row in read_csv(options.out)} == {"admin", ""}


def test_supabase_json_rows_and_keycloak_users_in_the_realm_file(tmp_path: Path) -> None:
    rows = [
        {"id": "u1", "email": "lin@umbrella.co", "encrypted_password": "$2a$04$" + "a" * 53,
         "email_confirmed_at": "2024-06-29 20:25:06+00", "raw_app_meta_data": {"provider": "email", "org": "umb"},
         "raw_user_meta_data": {"full_name": "Lin Chen"}, "banned_until": None, "deleted_at": None},
        {"id": "u2", "email": "gail@umbrella.co", "encrypted_password": "",
         "raw_app_meta_data": {"provider": "github", "providers": ["github"]}},
    ]  # fmt: skip
    users = tmp_path / "users.ndjson"
    users.write_text("\n".join(json.dumps(row) for row in rows))
    options = ConvertOptions(out=tmp_path / "out.csv", reset_list=tmp_path / "reset.csv")
    report = convert_export(Source.SUPABASE, SourceInputs(users=[users], org_attribute="org"), options)
    assert report.reasons == {"converted": {"bcrypt": 1}, "reset": {"social_only": 1}, "skipped": {}}
    lin = next(row for row in read_csv(options.out) if row["email"] == "lin@umbrella.co")
    assert (lin["first_name"], lin["last_name"], lin["org_external_id"]) == ("Lin", "Chen", "umb")
    realm = tmp_path / "acme-realm.json"
    realm.write_text(json.dumps({"realm": "acme", "users": [{"id": "k1", "email": "k@acme.eu", "enabled": True}]}))
    keycloak = convert_export(Source.KEYCLOAK, SourceInputs(users=[realm]), ConvertOptions(out=tmp_path / "k.csv"))
    assert keycloak.reasons["reset"] == {"no_hash_exported": 1}
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "acme-realm.json").write_text('{"realm": "acme", "roles": {}}')
    nothing = convert_export(Source.KEYCLOAK, SourceInputs(users=[empty]), ConvertOptions(out=tmp_path / "e.csv"))
    assert nothing.input_users == 0 and any("hold no users" in warning for warning in nothing.warnings)


def test_nothing_secret_is_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("clerk", "keycloak", "supabase"):
        directory = tmp_path / name
        directory.mkdir()
        _, _, options = convert(directory, name)
        secrets = [row["password_hash"] for row in read_csv(options.out) if row["password_hash"]]
        secrets += [row["totp_secret"] for row in read_csv(options.out) if row["totp_secret"]]
        assert secrets
        assert not any(secret in caplog.text for secret in secrets)
