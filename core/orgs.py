"""Organization resolution: from what a row (or the options) names to a WorkOS organization id.

A row names its organization by id, by external id (optionally with the name to create it with) or by
name alone. Each distinct key is resolved once: results live in an LRU cache (10,000 entries), lookups of
the same key in flight are coalesced onto one request, and "not found" is cached too (negative caching),
so a thousand rows of a missing organization cost one request, not a thousand. Under
``create_org_if_missing`` a missing organization is created, always with its external id when one is known
(names are not unique in WorkOS; the external id is what makes a retried create safe). Sending the
requests is the client's job; deciding what a failure means for a row is the pipeline's.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import anyio

from core.errors import Conflict, WorkOSError
from core.workos.client import WorkOSClient
from core.workos.models import Organization

__all__ = [
    "ORG_CACHE_SIZE",
    "ORG_KEY_COLUMNS",
    "KnownOrganizations",
    "OrgCheck",
    "OrgKey",
    "OrgLedger",
    "OrgResolutionError",
    "OrgResolver",
    "OrgStatus",
    "classify_org",
    "find_org",
    "org_key_from",
]

ORG_CACHE_SIZE = 10_000
ORG_KEY_COLUMNS = {"id": "id", "ext": "external_id", "name": "name"}
"""The snapshot column that each kind of ``OrgKey.cache_key`` matches."""
# A create whose outcome is unknown is reconciled by lookup, then sent again at most this many times.
_CREATE_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class OrgKey:
    """How a row names its organization. Exactly one of the three is the lookup key."""

    org_id: str | None = None
    external_id: str | None = None
    name: str | None = None

    def describe(self) -> str:
        if self.org_id:
            return f"organization {self.org_id}"
        if self.external_id:
            return f"organization with external id {self.external_id!r}"
        return f"organization named {self.name!r}"

    @property
    def cache_key(self) -> tuple[str, str]:
        if self.org_id:
            return ("id", self.org_id)
        if self.external_id:
            return ("ext", self.external_id)
        return ("name", self.name or "")


class OrgStatus(StrEnum):
    """What an import will find for an organization a row or an option names."""

    EXISTS = "exists"
    WILL_BE_CREATED = "will_be_created"
    NOT_FOUND = "organization_not_found"  # missing, and --create-org-if-missing is not set (or it is an id)
    NAME_MISSING = "organization_name_missing"  # missing, to be created, but no name can come from anywhere
    NAME_AMBIGUOUS = "organization_name_ambiguous"  # several organizations have this exact name


@dataclass(frozen=True, slots=True)
class OrgCheck:
    """The verdict on one organization: its status, its id when it exists, and why when it cannot work."""

    key: OrgKey
    status: OrgStatus
    organization_id: str | None = None
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status in (OrgStatus.EXISTS, OrgStatus.WILL_BE_CREATED)


def classify_org(key: OrgKey, matches: Sequence[str], *, create_if_missing: bool) -> OrgCheck:
    """Judge an organization from the ids that match its key (by id, external id or exact name).

    The one statement of the resolver's rules, for checks that must not write (the plan's preflight, the
    organization options before a job is created): the same verdicts ``OrgResolver`` reaches by doing.
    """
    if len(matches) == 1:
        return OrgCheck(key, OrgStatus.EXISTS, matches[0])
    if len(matches) > 1:
        return OrgCheck(
            key,
            OrgStatus.NAME_AMBIGUOUS,
            message=(
                f"{len(matches)} organizations are named {key.name!r}; use org_id or org_external_id for these rows"
            ),
        )
    if key.org_id:
        return OrgCheck(key, OrgStatus.NOT_FOUND, message=f"{key.describe()} does not exist")
    if not create_if_missing:
        return OrgCheck(
            key,
            OrgStatus.NOT_FOUND,
            message=f"{key.describe()} does not exist (use --create-org-if-missing to create it)",
        )
    if not key.name:
        return OrgCheck(
            key,
            OrgStatus.NAME_MISSING,
            message=f"{key.describe()} does not exist and there is no org_name to create it with",
        )
    return OrgCheck(key, OrgStatus.WILL_BE_CREATED, message=f"{key.describe()} will be created")


def org_key_from(org_id: str | None, org_external_id: str | None, org_name: str | None) -> OrgKey | None:
    """The organization an id, an external id (with the name to create it with) or a name alone names, the id
    first: for the single-org options and for a row's columns alike. None when all three are empty."""
    if org_id:
        return OrgKey(org_id=org_id)
    if org_external_id:
        return OrgKey(external_id=org_external_id, name=org_name)
    if org_name:
        return OrgKey(name=org_name)
    return None


async def find_org(client: WorkOSClient, key: OrgKey) -> list[Organization]:
    """The organizations that match ``key``, read-only (one request; pages for a name)."""
    if key.org_id:
        org = await client.get_organization(key.org_id)
        return [org] if org is not None else []
    if key.external_id:
        org = await client.get_organization_by_external_id(key.external_id)
        return [org] if org is not None else []
    name = key.name or ""
    return [org async for org in client.list_organizations(search=name) if org.name == name]


class KnownOrganizations(Protocol):
    """Where the resolver finds organizations before asking WorkOS (the environment snapshot)."""

    def organizations_for(self, cache_key: tuple[str, str]) -> list[str]: ...

    def remember_organization(self, organization_id: str, external_id: str | None, name: str) -> None: ...


class OrgLedger(Protocol):
    """Where the resolver records what undo must know: a create about to be sent, and what each key resolved to."""

    def sending(self, key: OrgKey) -> None: ...

    def resolved(self, key: OrgKey, organization_id: str, *, created: bool) -> None: ...


class OrgResolutionError(Exception):
    """A row's organization cannot be resolved. ``code`` is stable; ``cause`` is the API error, if any."""

    def __init__(self, code: str, message: str, *, cause: WorkOSError | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.cause = cause


class OrgResolver:
    """Resolves ``OrgKey``s to organization ids with caching, coalescing and create-if-missing."""

    def __init__(
        self,
        client: WorkOSClient,
        *,
        create_if_missing: bool,
        cache_size: int = ORG_CACHE_SIZE,
        ledger: OrgLedger | None = None,
        known: KnownOrganizations | None = None,
    ) -> None:
        self._client = client
        self._create = create_if_missing
        self._ledger = ledger
        self._known = known
        self._cache_size = cache_size
        self._cache: OrderedDict[tuple[str, str], str | OrgResolutionError] = OrderedDict()
        self._inflight: dict[tuple[str, str], anyio.Event] = {}
        self.lookups = 0
        self.known_hits = 0
        self.created = 0
        self.cache_hits = 0
        self.resent = 0  # creates sent again after an unknown outcome (they count as retries)

    async def resolve(self, key: OrgKey) -> str:
        """Return the organization id for ``key``. Raises ``OrgResolutionError`` (cached for the key).

        ``WorkOSError``s that are not about the organization (authentication, exhausted retries) are
        raised as they are and not cached, so a later row tries again.
        """
        cache_key = key.cache_key
        while True:
            cached = self._cache.get(cache_key)
            if cached is not None:
                self._cache.move_to_end(cache_key)
                self.cache_hits += 1
                if isinstance(cached, OrgResolutionError):
                    raise OrgResolutionError(cached.code, cached.message, cause=cached.cause)
                return cached
            waiting = self._inflight.get(cache_key)
            if waiting is None:
                break
            # Look again once the leader is done: its answer is cached, or (after an uncached error) the
            # first waiter to run leads the next attempt and the others wait on it.
            await waiting.wait()
        done = anyio.Event()
        self._inflight[cache_key] = done
        try:
            try:
                result: str | OrgResolutionError = await self._lookup_or_create(key)
            except OrgResolutionError as exc:
                result = exc
            self._remember(cache_key, result)
        finally:
            del self._inflight[cache_key]
            done.set()
        if isinstance(result, OrgResolutionError):
            raise result
        return result

    def forget(self) -> None:
        """Drop every cached answer, so the next row looks its organization up again (the environment changed?).

        The snapshot is dropped too: what it says was read before the change."""
        self._cache.clear()
        self._known = None

    def _remember(self, cache_key: tuple[str, str], value: str | OrgResolutionError) -> None:
        self._cache[cache_key] = value
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    async def _lookup_or_create(self, key: OrgKey) -> str:
        if self._known is not None:
            # One match in the snapshot is the organization; anything else is asked again (it may be stale).
            matches = self._known.organizations_for(key.cache_key)
            if len(matches) == 1:
                self.known_hits += 1
                self._record(key, matches[0], created=False)
                return matches[0]
        org, created = await self._ask(key)
        self._record(key, org.id, created=created)
        if self._known is not None:
            self._known.remember_organization(org.id, org.external_id, org.name)
        return org.id

    async def _ask(self, key: OrgKey) -> tuple[Organization, bool]:
        """Look the organization up, creating it when the rules allow; returns it and whether this call made it."""
        self.lookups += 1
        found = await find_org(self._client, key)
        check = classify_org(key, [org.id for org in found], create_if_missing=self._create)
        if check.status is OrgStatus.EXISTS:
            return found[0], False
        if check.status is not OrgStatus.WILL_BE_CREATED:
            raise OrgResolutionError(check.status.value, check.message)
        if self._ledger is not None:
            self._ledger.sending(key)
        if key.external_id:
            return await self._create_with_external_id(key)
        return await self._create_by_name(key)

    def _record(self, key: OrgKey, organization_id: str, *, created: bool) -> None:
        if self._ledger is not None:
            self._ledger.resolved(key, organization_id, created=created)

    async def _create_with_external_id(self, key: OrgKey) -> tuple[Organization, bool]:
        """Create the organization; returns it and whether this create made it (False: it was there)."""
        assert key.name and key.external_id
        unknown = False
        for attempt in range(1, _CREATE_ATTEMPTS + 1):
            self.resent += attempt > 1
            try:
                org = await self._client.create_organization(name=key.name, external_id=key.external_id)
            except Conflict:
                pass
            except WorkOSError as exc:
                if not exc.outcome_unknown or attempt == _CREATE_ATTEMPTS:
                    raise OrgResolutionError(
                        exc.code or "organization_create_failed", f"could not create {key.describe()}", cause=exc
                    ) from exc
                unknown = True
            else:
                self.created += 1
                return org, True
            # Conflict or unknown outcome: the external id is the natural key that tells.
            existing = await self._client.get_organization_by_external_id(key.external_id)
            if existing is not None:
                return existing, unknown
        raise OrgResolutionError("organization_create_failed", f"could not create {key.describe()}")

    async def _create_by_name(self, key: OrgKey) -> tuple[Organization, bool]:
        name = key.name or ""
        for attempt in range(1, _CREATE_ATTEMPTS + 1):
            self.resent += attempt > 1
            try:
                org = await self._client.create_organization(name=name)
            except WorkOSError as exc:
                if not exc.outcome_unknown or attempt == _CREATE_ATTEMPTS:
                    raise OrgResolutionError(
                        exc.code or "organization_create_failed", f"could not create {key.describe()}", cause=exc
                    ) from exc
                # Without an external id only the name can tell whether the lost create happened.
                matches = await find_org(self._client, key)
                if matches:
                    return matches[0], True
            else:
                self.created += 1
                return org, True
        raise OrgResolutionError("organization_create_failed", f"could not create {key.describe()}")
