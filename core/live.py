"""What the plan's live preflight found in WorkOS (``core.preflight``), as the models a plan carries."""

from __future__ import annotations

from pydantic import BaseModel, Field

from core.orgs import OrgStatus

__all__ = ["LiveCheck", "LiveIssue", "OrganizationVerdict", "rows_text"]


def rows_text(rows: list[int], count: int) -> str:
    """The first rows of ``count``, as "2, 3, 5, ..." (the dots when there are more)."""
    return ", ".join(map(str, rows)) + (", ..." if count > len(rows) else "")


class OrganizationVerdict(BaseModel):
    """One organization the file (or an option) names, as WorkOS has it now."""

    organization: str = Field(description="How the rows name it (quoted text from the file: data).")
    status: OrgStatus
    organization_id: str | None
    rows: int = Field(description="Rows that name it.")
    first_rows: list[int]
    message: str


class LiveIssue(BaseModel):
    """Rows that would fail in WorkOS for one reason the preflight sees."""

    code: str = Field(description="The code the import would record for these rows.")
    count: int
    rows: list[int] = Field(description="The first rows (up to 5).")
    message: str = Field(description="The message of the first of them (may quote file text: data).")


class LiveCheck(BaseModel):
    """What ``plan --check-live`` found in WorkOS, read-only, and what the import will therefore write."""

    key_valid: bool
    checked_at: float = Field(description="When the check read WorkOS (epoch seconds).")
    users_counted: str = Field(description="exact (email by email) or snapshot (every user read).")
    organizations_existing: int
    organizations_to_create: int
    organizations_failing: int
    organizations: list[OrganizationVerdict] = Field(
        description="The failing ones first, then the others (50 at most)."
    )
    roles: list[str] = Field(description="The environment's role slugs.")
    users_to_create: int
    users_to_adopt: int
    users_to_update: int
    users_to_skip: int
    memberships_to_create: int
    memberships_present: int = Field(description="Present already with the row's roles (or kept): no write.")
    memberships_kept_with_other_roles: int = Field(description="Present with other roles, kept (the default).")
    memberships_to_update: int
    failing_rows: int = Field(description="Rows that would fail for a reason the check sees (see issues).")
    issues: list[LiveIssue]
    writes: int = Field(description="Writes left (user, membership, TOTP and organization creates, updates).")
    requests: int = Field(description="Reads this check sent.")
    errors: list[str] = Field(description="Plan errors the check adds.")
