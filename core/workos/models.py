"""The WorkOS response objects the engine reads, as pydantic models that ignore every other field.

Only the fields an import needs are declared, so a response that grows new fields still parses and
parsing stays cheap (``bench/client_bench.py`` measures ``model_validate_json``). The list envelope
``Page`` carries ``list_metadata.after``, the cursor the client follows to read every page.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import AliasPath, BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "AuthFactor",
    "Authenticated",
    "EnrolledFactor",
    "ListMetadata",
    "Membership",
    "Organization",
    "Page",
    "Role",
    "User",
]

T = TypeVar("T")


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class User(_Model):
    """A WorkOS user (``object: "user"``)."""

    id: str
    email: str
    first_name: str | None = None
    last_name: str | None = None
    email_verified: bool = False
    external_id: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    created_at: datetime
    updated_at: datetime


class Organization(_Model):
    """A WorkOS organization (``object: "organization"``)."""

    id: str
    name: str
    external_id: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    created_at: datetime | None = None


class Membership(_Model):
    """An organization membership (``om_...``): ``role_slug`` is the primary role, ``role_slugs`` all of them."""

    id: str
    user_id: str
    organization_id: str
    status: str
    created_at: datetime | None = None
    role_slug: str | None = Field(default=None, validation_alias=AliasPath("role", "slug"))
    role_slugs: tuple[str, ...] = Field(default=(), validation_alias="roles")

    @field_validator("role_slugs", mode="before")
    @classmethod
    def _slugs_of_roles(cls, value: Any) -> Any:
        if isinstance(value, list):
            return tuple(item["slug"] if isinstance(item, dict) else item for item in value)
        return value

    @property
    def slugs(self) -> tuple[str, ...]:
        """Every role slug of the membership (``role_slugs``, or the primary ``role_slug`` alone)."""
        return self.role_slugs or ((self.role_slug,) if self.role_slug else ())


class Role(_Model):
    """An environment role."""

    slug: str
    name: str


class AuthFactor(_Model):
    """An authentication factor of a user (``type`` is ``totp`` for the factors an import enrolls)."""

    id: str
    type: str
    user_id: str | None = None
    created_at: datetime | None = None


class EnrolledFactor(_Model):
    """The answer to a TOTP enrollment: the factor (its challenge is not needed)."""

    authentication_factor: AuthFactor


class Authenticated(_Model):
    """The answer to a successful sign-in: the user (tokens are not kept)."""

    user: User


class ListMetadata(_Model):
    """Pagination cursors of a list answer."""

    before: str | None = None
    after: str | None = None


class Page(_Model, Generic[T]):
    """One page of a list endpoint: ``data`` and the ``after`` cursor of the next page (None at the end)."""

    data: list[T]
    list_metadata: ListMetadata = Field(default_factory=ListMetadata)
