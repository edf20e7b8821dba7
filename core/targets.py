"""What each row of a file asks of WorkOS: its user's email, its organization and its roles.

``row_targets`` reads only the columns that say it, for the passes that look at WorkOS before writing
(the plan's preflight, a job's look at the environment). Rows without an email or with malformed roles
are left out: validation reports them, and the engine never sends them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from core.csvsource import CsvSource
from core.options import MigrationOptions
from core.orgs import OrgKey, org_key_from
from core.records import parse_roles

__all__ = ["RowTarget", "row_targets"]


class RowTarget(NamedTuple):
    """One row's email (normalised), organization (None: no membership) and role slugs (empty: default)."""

    row: int
    email: str
    org: OrgKey | None
    role_slugs: tuple[str, ...]


def row_targets(source: CsvSource, options: MigrationOptions) -> Iterator[RowTarget]:
    """Every row's target, in file order. The organization options, when given, name every row's organization."""
    columns = source.columns
    fixed = org_key_from(options.org_id, options.org_external_id, options.org_name)

    def cell(fields: list[str], index: int | None) -> str | None:
        if index is None or index >= len(fields):
            return None
        return fields[index].strip() or None

    for row, fields in source.records():
        email = (cell(fields, columns.email) or "").lower()
        if "@" not in email:
            continue
        roles = parse_roles(cell(fields, columns.role_slugs) or "")
        if roles is None:
            continue
        org = fixed or org_key_from(
            cell(fields, columns.org_id), cell(fields, columns.org_external_id), cell(fields, columns.org_name)
        )
        yield RowTarget(row, email, org, roles)
