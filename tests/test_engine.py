"""End-to-end import runs against the loopback sandbox with a real job store."""

from __future__ import annotations

import pytest

from tests.conftest import CsvWriter, ImportRun

pytestmark = pytest.mark.anyio


async def test_multi_org_user_gets_one_user_and_every_membership(importer: ImportRun, write_users: CsvWriter) -> None:
    rows = [
        {"email": "ada@example.com", "org_external_id": "acme", "org_name": "Acme"},
        {"email": "ADA@example.com ", "org_external_id": "beta", "org_name": "Beta"},
        {"email": "bob@example.com", "org_external_id": "acme", "org_name": "Acme"},
    ]
    result = await importer.run(write_users(rows), create_org_if_missing=True)
    assert (result.failed, result.succeeded, result.users_created, result.memberships_created) == (0, 3, 2, 3)
    state = importer.sandbox.state()
    assert sorted(u["email"] for u in state["users"]) == ["ada@example.com", "bob@example.com"]
    assert len(state["organization_memberships"]) == 3
    assert sorted(o["external_id"] for o in state["organizations"]) == ["acme", "beta"]
