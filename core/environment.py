"""The environment snapshot: what a WorkOS environment holds, read with list and get calls into the job store.

``EnvironmentSnapshot(store, env)`` reads, page by page, every organization (id, external id, name), the
environment's roles and, when asked, every user (id, normalised email, external id) and the memberships
of given organizations (user, organization, role slugs, status). Each page goes to SQLite in one
transaction with the cursor of the next, so memory stays flat (no Python object per user) and a read that
was killed goes on where it stopped. A part read within ``max_age`` is not read again; each part records
when it was read, so a snapshot is refreshed rather than trusted forever.

What the snapshot says is a hint, never the truth a write depends on: an object it holds saves a request,
an object it lacks is created as if nothing were known, and a conflict is still reconciled by its natural
key. ``look_up_users`` is the exact path for small files (one read per email instead of the whole user
list); ``remember_*`` keeps what this tool itself wrote, so a re-run knows it without reading again.
Requests go through ``WorkOSClient`` and so through the shared limiter's read budget.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from functools import partial
from typing import NamedTuple

import anyio
from pydantic import BaseModel, Field

from core.csvsource import CsvSource
from core.options import MigrationOptions
from core.orgs import ORG_KEY_COLUMNS
from core.snapshot_tables import EnvironmentTables, MembershipRow, SnapshotPart, UserRow
from core.store import JobStore
from core.targets import row_targets
from core.workos.client import WorkOSClient
from core.workos.models import Membership, Organization, User

__all__ = [
    "EXACT_LOOKUP_USERS",
    "JOB_SNAPSHOT_MAX_AGE_SECONDS",
    "PROGRESS_LOG_PAGES",
    "SNAPSHOT_MAX_AGE_SECONDS",
    "EnvironmentSnapshot",
    "ExactEmails",
    "PartInfo",
    "SnapshotInfo",
    "SnapshotProgress",
    "environment_key",
    "know_for_job",
    "membership_row",
    "user_row",
]

logger = logging.getLogger(__name__)

EXACT_LOOKUP_USERS = 1_000
"""Files with at most this many distinct users are looked up email by email (one read each, plus one for
the memberships of each user found); larger ones read the whole snapshot (a read per 100 objects)."""
SNAPSHOT_MAX_AGE_SECONDS = 600.0
"""A part read less than this long ago is used as it is by default; an older one is read again."""
JOB_SNAPSHOT_MAX_AGE_SECONDS = 60.0
"""A job reads the environment again unless it was read this recently (by the plan just before, say):
deletions by others after the read are not seen by the rows, so the window is kept short."""
_MEMBERSHIP_READERS = 4
"""Organizations whose memberships are read at once (each is one cursor chain)."""
_REMEMBER_BATCH = 500
PROGRESS_LOG_PAGES = 100
"""A job's read of the environment logs its progress every this many pages."""

ORGANIZATIONS, ROLES, USERS = "organizations", "roles", "users"


def environment_key(base_url: str, api_key: str) -> str:
    """The snapshot's key for an environment: a digest of the base URL and the API key (never the key)."""
    return hashlib.sha256(f"{base_url.rstrip('/')}\0{api_key}".encode()).hexdigest()[:24]


def memberships_part(organization_id: str) -> str:
    return f"memberships:{organization_id}"


def user_row(user: User) -> UserRow:
    return (
        user.id,
        user.email.strip().lower(),
        user.external_id,
        user.created_at.timestamp(),
        user.first_name,
        user.last_name,
    )


def membership_row(membership: Membership) -> MembershipRow:
    return (membership.id, membership.user_id, membership.organization_id, membership.slugs, membership.status)


def _organization_row(org: Organization) -> tuple[str, str | None, str]:
    return (org.id, org.external_id, org.name)


class SnapshotProgress(NamedTuple):
    """One page read: the part, its pages and objects so far."""

    part: str
    pages: int
    objects: int


class PartInfo(BaseModel):
    """One part of a snapshot as recorded."""

    part: str
    complete: bool = Field(description="A complete read ended (then absence in this part means absence).")
    read_at: float | None = Field(description="When the last complete read started (epoch seconds).")
    pages: int
    objects: int


class SnapshotInfo(BaseModel):
    """What a snapshot holds and how old each part is."""

    env: str
    counts: dict[str, int] = Field(description="Objects known, by kind.")
    parts: list[PartInfo]
    requests: int = Field(description="List and get requests this snapshot sent in this process.")


class EnvironmentSnapshot:
    """The snapshot of one environment in ``store``; see the module docstring."""

    def __init__(self, store: JobStore, env: str) -> None:
        self.env = env
        self.tables: EnvironmentTables = store.environment(env)
        self.requests = 0
        self._users: list[UserRow] = []
        self._memberships: list[MembershipRow] = []

    @classmethod
    def of(cls, store: JobStore, *, base_url: str, api_key: str) -> EnvironmentSnapshot:
        """The snapshot of the environment that ``api_key`` at ``base_url`` reaches."""
        return cls(store, environment_key(base_url, api_key))

    # -- reading --------------------------------------------------------------------------------------

    async def read(
        self,
        client: WorkOSClient,
        *,
        users: bool = False,
        memberships_of: Iterable[str] = (),
        max_age: float = SNAPSHOT_MAX_AGE_SECONDS,
        on_progress: Callable[[SnapshotProgress], None] | None = None,
    ) -> SnapshotInfo:
        """Read the organizations and roles, and (when asked) the users and the memberships of
        ``memberships_of``; parts read within ``max_age`` are kept, unfinished reads go on at their cursor.

        Raises the client's ``WorkOSError`` (``AuthenticationError`` for a rejected key); what was read
        until then stays, and the next call goes on from there.
        """
        fresh_after = time.time() - max_age
        wanted = [ORGANIZATIONS, ROLES] + ([USERS] if users else [])
        wanted += [memberships_part(org_id) for org_id in dict.fromkeys(memberships_of)]
        parts = self.tables.parts()
        todo = [name for name in wanted if not _fresh(parts.get(name), fresh_after)]
        if ROLES in todo:
            await self._read_roles(client)
            todo.remove(ROLES)
        await _together([partial(self._read_part, client, name, on_progress) for name in todo], _MEMBERSHIP_READERS)
        return self.info()

    async def _read_part(
        self, client: WorkOSClient, name: str, on_progress: Callable[[SnapshotProgress], None] | None
    ) -> None:
        part = self.tables.begin(name)
        cursor, pages, objects = part.cursor, part.pages, part.objects
        while True:
            self.requests += 1
            if name == ORGANIZATIONS:
                org_page = await client.organizations_page(after=cursor)
                cursor, count = org_page.list_metadata.after, len(org_page.data)
                self.tables.add_page(name, cursor=cursor, organizations=[_organization_row(o) for o in org_page.data])
            elif name == USERS:
                user_page = await client.users_page(after=cursor)
                cursor, count = user_page.list_metadata.after, len(user_page.data)
                self.tables.add_page(name, cursor=cursor, users=[user_row(u) for u in user_page.data])
            else:
                org_id = name.removeprefix("memberships:")
                member_page = await client.memberships_page(organization_id=org_id, after=cursor)
                cursor, count = member_page.list_metadata.after, len(member_page.data)
                self.tables.add_page(name, cursor=cursor, memberships=[membership_row(m) for m in member_page.data])
            pages, objects = pages + 1, objects + count
            if on_progress is not None:
                on_progress(SnapshotProgress(name, pages, objects))
            if not cursor or not count:
                break
        self.tables.finish(name)
        logger.info("snapshot %s: read %s (%d objects in %d pages)", self.env[:8], name, objects, pages)

    async def _read_roles(self, client: WorkOSClient) -> None:
        # The roles list is one unpaginated answer.
        self.tables.begin(ROLES)
        self.requests += 1
        roles = await client.list_roles()
        self.tables.add_page(ROLES, cursor=None, roles=[("", role.slug, role.name) for role in roles])
        self.tables.finish(ROLES)

    async def read_organization_roles(self, client: WorkOSClient, organization_id: str) -> frozenset[str]:
        """Read an organization's own roles (one request) and return every slug its memberships may use."""
        self.requests += 1
        roles = await client.list_organization_roles(organization_id)
        self.tables.add_roles(organization_id, [(role.slug, role.name) for role in roles])
        return self.role_slugs(organization_id)

    async def look_up_users(self, client: WorkOSClient, emails: Iterable[str], *, memberships: bool = True) -> int:
        """The exact path: look each email up (one read each) and, for those found, their memberships.

        Found users and memberships are kept in the snapshot; an email not found is simply not known.
        Returns how many users were found.
        """
        found = 0

        async def one(email: str) -> None:
            nonlocal found
            self.requests += 1
            user = await client.find_user_by_email(email)
            listed: list[Membership] = []
            if user is not None:
                found += 1
                if memberships:
                    self.requests += 1
                    listed = await client.list_memberships(user_id=user.id)
            # What was known of this email before is replaced: the lookup is the truth now.
            row = user_row(user) if user is not None else None
            self.tables.replace_user(email, row, [membership_row(m) for m in listed])

        await _together([partial(one, email) for email in emails], _MEMBERSHIP_READERS * 2)
        return found

    # -- what it knows --------------------------------------------------------------------------------

    def info(self) -> SnapshotInfo:
        parts = [
            PartInfo(
                part=name,
                complete=part.read_at is not None,
                read_at=part.read_at,
                pages=part.pages,
                objects=part.objects,
            )
            for name, part in sorted(self.tables.parts().items())
        ]
        return SnapshotInfo(env=self.env, counts=self.tables.counts(), parts=parts, requests=self.requests)

    def complete(self, part: str) -> bool:
        """A complete read of ``part`` (``users``, ``organizations``, ``memberships:<org id>``) has ended."""
        found = self.tables.part(part)
        return found is not None and found.read_at is not None

    def user(self, email: str) -> UserRow | None:
        """The known user with this email (trimmed and lower-cased here)."""
        return self.tables.user_by_email(email.strip().lower())

    def membership(self, user_id: str, organization_id: str) -> MembershipRow | None:
        return self.tables.membership(user_id, organization_id)

    def role_slugs(self, organization_id: str | None = None) -> frozenset[str]:
        return self.tables.role_slugs(organization_id)

    def iter_users(self) -> Iterator[UserRow]:
        """Every known user, streamed from the store (for verify and undo)."""
        return self.tables.iter_users()

    def iter_memberships(self, organization_id: str | None = None) -> Iterator[MembershipRow]:
        """Every known membership (of one organization), streamed from the store."""
        return self.tables.iter_memberships(organization_id)

    def remember_user(self, user: UserRow) -> None:
        """Keep a user this tool created or adopted, so the next run knows it without reading (buffered)."""
        self._users.append(user)
        if len(self._users) >= _REMEMBER_BATCH:
            self.flush()

    def remember_membership(self, membership: MembershipRow) -> None:
        """Keep a membership this tool created or updated (buffered)."""
        self._memberships.append(membership)
        if len(self._memberships) >= _REMEMBER_BATCH:
            self.flush()

    def flush(self) -> None:
        """Write what ``remember_*`` buffered (a kill loses only hints: the snapshot is never the truth)."""
        users, memberships = self._users, self._memberships
        self._users, self._memberships = [], []
        self.tables.upsert(users=users, memberships=memberships)

    def remember_organization(self, organization_id: str, external_id: str | None, name: str) -> None:
        self.tables.upsert(organizations=[(organization_id, external_id, name)])

    def organizations_for(self, cache_key: tuple[str, str]) -> list[str]:
        """Ids of the known organizations an ``OrgKey.cache_key`` names (by id, external id or exact name)."""
        kind, value = cache_key
        return self.tables.organizations_with(ORG_KEY_COLUMNS[kind], value)


async def _together(calls: Sequence[Callable[[], Awaitable[None]]], limit: int) -> None:
    """Run ``calls`` concurrently, at most ``limit`` at once; the first failure cancels the rest and is raised
    as it is (not wrapped in an exception group), so callers see the client's ``WorkOSError``."""
    failure: Exception | None = None
    limiter = anyio.CapacityLimiter(limit)

    async with anyio.create_task_group() as group:

        async def run(call: Callable[[], Awaitable[None]]) -> None:
            nonlocal failure
            try:
                async with limiter:
                    await call()
            except Exception as exc:
                failure = failure or exc
                group.cancel_scope.cancel()

        for call in calls:
            group.start_soon(run, call)
    if failure is not None:
        raise failure


class ExactEmails:
    """A file's distinct emails while they are few enough to look up one by one (at most ``limit``, normally
    ``EXACT_LOOKUP_USERS``): ``emails`` is None beyond, where the whole user list is read instead."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.emails: set[str] | None = set()

    def add(self, email: str) -> None:
        if self.emails is not None:
            self.emails.add(email)
            if len(self.emails) > self.limit:
                self.emails = None


def _fresh(part: SnapshotPart | None, fresh_after: float) -> bool:
    return part is not None and not part.reading and part.read_at is not None and part.read_at >= fresh_after


async def know_for_job(
    snapshot: EnvironmentSnapshot,
    client: WorkOSClient,
    options: MigrationOptions,
    *,
    on_progress: Callable[[SnapshotProgress], None] | None = None,
) -> None:
    """Learn what a job's rows will find in WorkOS, before the first write, at the cost of reads only.

    Up to ``EXACT_LOOKUP_USERS`` distinct users: each email is looked up, with the memberships of the users
    found. Beyond: the organizations, every user and the memberships of the file's organizations are read
    (parts read within ``SNAPSHOT_MAX_AGE_SECONDS`` are kept). Raises the client's ``WorkOSError``.
    """
    exact = ExactEmails(EXACT_LOOKUP_USERS)
    org_keys: set[tuple[str, str]] = set()
    for target in row_targets(CsvSource(options.csv_path), options):
        exact.add(target.email)
        if target.org is not None:
            org_keys.add(target.org.cache_key)
    if exact.emails is not None:
        await snapshot.look_up_users(client, sorted(exact.emails))
        return
    await snapshot.read(client, max_age=JOB_SNAPSHOT_MAX_AGE_SECONDS, on_progress=on_progress)
    org_ids = [matches[0] for key in org_keys if len(matches := snapshot.organizations_for(key)) == 1]
    await snapshot.read(
        client, users=True, memberships_of=org_ids, max_age=JOB_SNAPSHOT_MAX_AGE_SECONDS, on_progress=on_progress
    )
