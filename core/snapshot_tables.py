"""The environment snapshot's tables in the job store: what ``core.environment`` reads and the engine keeps.

``EnvironmentTables`` (from ``JobStore.environment(env)``) holds one environment's part of the ``env_*``
tables (schema step 4 of ``core.store``): the reads in progress with their cursors, and the organizations,
roles, users and memberships read or written, each with its part's generation. It shares the store's
connection and its write transactions; the schema and its steps stay the store's.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from core.store import JobStore

__all__ = ["EnvironmentTables", "MembershipRow", "OrganizationRow", "SnapshotPart", "UserRow"]


class SnapshotPart(NamedTuple):
    """One list read of a snapshot (``organizations``, ``roles``, ``users``, ``memberships:<org id>``).

    ``cursor`` is where an unfinished read goes on; ``read_at`` when the last complete read started (the
    snapshot holds at least what existed then), None when none has completed.
    """

    generation: int
    cursor: str | None
    reading: bool
    pages: int
    objects: int
    started_at: float | None
    read_at: float | None


UserRow = tuple[str, str, str | None, float, str | None, str | None]
"""A user as the snapshot keeps it: ``(id, email, external_id, created_at, first_name, last_name)``; the email
normalised."""
MembershipRow = tuple[str, str, str, tuple[str, ...], str]
"""A membership: ``(id, user_id, organization_id, role_slugs, status)``."""
OrganizationRow = tuple[str, str | None, str]
"""An organization: ``(id, external_id, name)``."""

_PART_TABLE = {"organizations": "env_organizations", "roles": "env_roles", "users": "env_users"}
_PAGE_ROWS = 1000
_USER_COLUMNS = "id, email, external_id, created_at, first_name, last_name"  # a UserRow, in its order


class EnvironmentTables:
    """The snapshot tables of one environment: what it held when read, plus what this tool wrote since.

    Obtained from ``JobStore.environment(env)``; shares the store's connection. Objects are upserted with
    their part's generation, so a complete read drops what it no longer saw; rows that this tool wrote
    (``upsert_*`` outside a read) keep the current generation.
    """

    def __init__(self, store: JobStore, env: str) -> None:
        self._store = store
        self._db = store._db
        self.env = env

    # -- reads in progress --------------------------------------------------------------------------

    def part(self, name: str) -> SnapshotPart | None:
        found = self._db.execute(
            "SELECT generation, cursor, reading, pages, objects, started_at, read_at FROM env_parts"
            " WHERE env=? AND part=?",
            (self.env, name),
        ).fetchone()
        return None if found is None else _part(found)

    def parts(self) -> dict[str, SnapshotPart]:
        rows = self._db.execute(
            "SELECT part, generation, cursor, reading, pages, objects, started_at, read_at FROM env_parts WHERE env=?",
            (self.env,),
        ).fetchall()
        return {row[0]: _part(row[1:]) for row in rows}

    def begin(self, name: str) -> SnapshotPart:
        """Start reading a part from the top, or go on with a read that was cut short (its cursor kept)."""
        with self._store._write() as db:
            found = db.execute(
                "SELECT generation, cursor, reading, pages, objects, started_at, read_at FROM env_parts"
                " WHERE env=? AND part=?",
                (self.env, name),
            ).fetchone()
            if found is not None and found[2]:
                return _part(found)
            db.execute(
                "INSERT INTO env_parts (env, part, generation, reading, started_at) VALUES (?, ?, 1, 1, ?)"
                " ON CONFLICT (env, part) DO UPDATE SET generation=generation+1, cursor=NULL, reading=1, pages=0,"
                " objects=0, started_at=excluded.started_at",
                (self.env, name, time.time()),
            )
        part = self.part(name)
        assert part is not None
        return part

    def add_page(
        self,
        name: str,
        *,
        cursor: str | None,
        organizations: Sequence[OrganizationRow] = (),
        roles: Sequence[tuple[str, str, str]] = (),
        users: Sequence[UserRow] = (),
        memberships: Sequence[MembershipRow] = (),
    ) -> None:
        """Record one page of a part's read and where the next page starts, in one transaction."""
        with self._store._write() as db:
            (generation,) = db.execute(
                "SELECT generation FROM env_parts WHERE env=? AND part=?", (self.env, name)
            ).fetchone()
            self._upsert(db, generation, organizations, roles, users, memberships)
            count = len(organizations) + len(roles) + len(users) + len(memberships)
            db.execute(
                "UPDATE env_parts SET cursor=?, pages=pages+1, objects=objects+? WHERE env=? AND part=?",
                (cursor, count, self.env, name),
            )

    def finish(self, name: str) -> None:
        """End a complete read: drop what it did not see, and record when it started as ``read_at``."""
        with self._store._write() as db:
            (generation,) = db.execute(
                "SELECT generation FROM env_parts WHERE env=? AND part=?", (self.env, name)
            ).fetchone()
            if name.startswith("memberships:"):
                db.execute(
                    "DELETE FROM env_memberships INDEXED BY env_memberships_by_organization"
                    " WHERE env=? AND organization_id=? AND generation<?",
                    (self.env, name.removeprefix("memberships:"), generation),
                )
            else:
                db.execute(f"DELETE FROM {_PART_TABLE[name]} WHERE env=? AND generation<?", (self.env, generation))
            db.execute(
                "UPDATE env_parts SET reading=0, cursor=NULL, read_at=started_at WHERE env=? AND part=?",
                (self.env, name),
            )

    def upsert(
        self,
        *,
        organizations: Sequence[OrganizationRow] = (),
        users: Sequence[UserRow] = (),
        memberships: Sequence[MembershipRow] = (),
    ) -> None:
        """Add or refresh objects learnt outside a list read (single lookups, this tool's own writes)."""
        if not (organizations or users or memberships):
            return
        with self._store._write() as db:
            self._upsert(db, None, organizations, (), users, memberships)

    def replace_user(self, email: str, user: UserRow | None, memberships: Sequence[MembershipRow] = ()) -> None:
        """What one exact lookup of ``email`` found: that user (or none) with exactly these memberships."""
        with self._store._write() as db:
            stale = [
                user_id
                for (user_id,) in db.execute(
                    "SELECT id FROM env_users INDEXED BY env_users_by_email WHERE env=? AND email=?", (self.env, email)
                )
                if user is None or user_id != user[0]
            ]
            for user_id in stale + ([user[0]] if user is not None else []):
                db.execute(
                    "DELETE FROM env_memberships INDEXED BY env_memberships_by_pair WHERE env=? AND user_id=?",
                    (self.env, user_id),
                )
            db.executemany("DELETE FROM env_users WHERE env=? AND id=?", [(self.env, user_id) for user_id in stale])
            if user is not None:
                self._upsert(db, None, (), (), [user], memberships)

    def _upsert(
        self,
        db: sqlite3.Connection,
        generation: int | None,
        organizations: Sequence[OrganizationRow],
        roles: Sequence[tuple[str, str, str]],
        users: Sequence[UserRow],
        memberships: Sequence[MembershipRow],
    ) -> None:
        """Upsert at ``generation``, or (None) at the current generation of each object's part."""
        env = self.env
        extra: tuple[int, ...] = () if generation is None else (generation,)

        def upsert(table: str, columns: int, part: str, conflict: str, rows: Iterable[tuple[Any, ...]]) -> None:
            values = ", ".join(f"?{n}" for n in range(1, columns + 1))
            current = (
                f"COALESCE((SELECT generation FROM env_parts WHERE env=?1 AND part={part}), 0)"
                if generation is None
                else f"?{columns + 1}"
            )
            db.executemany(
                f"INSERT INTO {table} VALUES ({values}, {current}) ON CONFLICT {conflict}",
                [(env, *row, *extra) for row in rows],
            )

        updated = "generation=excluded.generation"
        if organizations:
            sets = f"external_id=excluded.external_id, name=excluded.name, {updated}"
            upsert("env_organizations", 4, "'organizations'", f"(env, id) DO UPDATE SET {sets}", organizations)
        if roles:
            sets = f"name=excluded.name, {updated}"
            upsert("env_roles", 4, "'roles'", f"(env, organization_id, slug) DO UPDATE SET {sets}", roles)
        if users:
            sets = (
                "email=excluded.email, external_id=excluded.external_id, created_at=excluded.created_at,"
                f" first_name=excluded.first_name, last_name=excluded.last_name, {updated}"
            )
            upsert("env_users", 7, "'users'", f"(env, id) DO UPDATE SET {sets}", users)
        if memberships:
            sets = f"role_slugs=excluded.role_slugs, status=excluded.status, {updated}"
            rows = [(m_id, user, org, ",".join(slugs), status) for m_id, user, org, slugs, status in memberships]
            upsert("env_memberships", 6, "'memberships:' || ?4", f"(env, id) DO UPDATE SET {sets}", rows)

    # -- what the snapshot knows ----------------------------------------------------------------------

    def user_by_email(self, email: str) -> UserRow | None:
        """The user with this (normalised) email; the newest when a stale row shares it."""
        found = self._db.execute(
            # Without INDEXED BY, SQLite walks the environment's users by primary key: O(users) per lookup.
            f"SELECT {_USER_COLUMNS} FROM env_users INDEXED BY env_users_by_email"
            " WHERE env=? AND email=? ORDER BY generation DESC, created_at DESC LIMIT 1",
            (self.env, email),
        ).fetchone()
        return None if found is None else (found[0], found[1], found[2], found[3], found[4], found[5])

    def membership(self, user_id: str, organization_id: str) -> MembershipRow | None:
        """The user's membership of the organization, an active one first."""
        found = self._db.execute(
            "SELECT id, user_id, organization_id, role_slugs, status FROM env_memberships"
            " INDEXED BY env_memberships_by_pair WHERE env=? AND user_id=? AND organization_id=?"
            " ORDER BY status != 'active', generation DESC LIMIT 1",
            (self.env, user_id, organization_id),
        ).fetchone()
        return None if found is None else _membership_row(found)

    def organizations_with(self, column: str, value: str) -> list[str]:
        """Ids of the organizations whose ``id``, ``external_id`` or ``name`` is exactly ``value``."""
        if column not in ("id", "external_id", "name"):
            raise ValueError(f"no organization column {column!r}")
        index = {"id": "", "external_id": " INDEXED BY env_organizations_by_external_id",
                 "name": " INDEXED BY env_organizations_by_name"}[column]  # fmt: skip
        rows = self._db.execute(
            f"SELECT id FROM env_organizations{index} WHERE env=? AND {column}=? ORDER BY id", (self.env, value)
        ).fetchall()
        return [org_id for (org_id,) in rows]

    def role_slugs(self, organization_id: str | None = None) -> frozenset[str]:
        """The environment's role slugs, plus the organization's own when ``organization_id`` is given."""
        rows = self._db.execute(
            "SELECT slug FROM env_roles WHERE env=? AND organization_id IN ('', ?)", (self.env, organization_id or "")
        ).fetchall()
        return frozenset(slug for (slug,) in rows)

    def add_roles(self, organization_id: str, roles: Sequence[tuple[str, str]]) -> None:
        """Record an organization's own roles (``(slug, name)``), read outside the roles part."""
        with self._store._write() as db:
            self._upsert(db, None, (), [(organization_id, slug, name) for slug, name in roles], (), ())

    def counts(self) -> dict[str, int]:
        """Objects known, by kind."""
        tables = {"organizations": "env_organizations", "roles": "env_roles", "users": "env_users",
                  "memberships": "env_memberships"}  # fmt: skip
        return {
            kind: int(self._db.execute(f"SELECT COUNT(*) FROM {table} WHERE env=?", (self.env,)).fetchone()[0])
            for kind, table in tables.items()
        }

    def iter_users(self) -> Iterator[UserRow]:
        """Every known user, by id, streamed in pages."""
        last = ""
        while True:
            page = self._db.execute(
                f"SELECT {_USER_COLUMNS} FROM env_users WHERE env=? AND id>? ORDER BY id LIMIT ?",
                (self.env, last, _PAGE_ROWS),
            ).fetchall()
            if not page:
                return
            for row in page:
                yield (row[0], row[1], row[2], row[3], row[4], row[5])
            last = page[-1][0]

    def iter_memberships(self, organization_id: str | None = None) -> Iterator[MembershipRow]:
        """Every known membership (of one organization, when given), by id, streamed in pages."""
        where = "env=? AND id>?" + (" AND organization_id=?" if organization_id else "")
        last = ""
        while True:
            params: tuple[Any, ...] = (self.env, last, organization_id) if organization_id else (self.env, last)
            page = self._db.execute(
                f"SELECT id, user_id, organization_id, role_slugs, status FROM env_memberships WHERE {where}"
                f" ORDER BY id LIMIT {_PAGE_ROWS}",
                params,
            ).fetchall()
            if not page:
                return
            for row in page:
                yield _membership_row(row)
            last = page[-1][0]


def _part(values: Sequence[Any]) -> SnapshotPart:
    generation, cursor, reading, pages, objects, started_at, read_at = values
    return SnapshotPart(int(generation), cursor, bool(reading), int(pages), int(objects), started_at, read_at)


def _membership_row(values: Sequence[Any]) -> MembershipRow:
    m_id, user_id, org_id, slugs, status = values
    return (m_id, user_id, org_id, tuple(slug for slug in slugs.split(",") if slug), status)
