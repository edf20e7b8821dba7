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
from dataclasses import dataclass

import anyio

from core.errors import Conflict, WorkOSError
from core.workos.client import WorkOSClient

__all__ = ["ORG_CACHE_SIZE", "OrgKey", "OrgResolutionError", "OrgResolver"]

ORG_CACHE_SIZE = 10_000
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


class OrgResolutionError(Exception):
    """A row's organization cannot be resolved. ``code`` is stable; ``cause`` is the API error, if any."""

    def __init__(self, code: str, message: str, *, cause: WorkOSError | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.cause = cause


class OrgResolver:
    """Resolves ``OrgKey``s to organization ids with caching, coalescing and create-if-missing."""

    def __init__(self, client: WorkOSClient, *, create_if_missing: bool, cache_size: int = ORG_CACHE_SIZE) -> None:
        self._client = client
        self._create = create_if_missing
        self._cache_size = cache_size
        self._cache: OrderedDict[tuple[str, str], str | OrgResolutionError] = OrderedDict()
        self._inflight: dict[tuple[str, str], anyio.Event] = {}
        self.lookups = 0
        self.created = 0
        self.cache_hits = 0

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
            await waiting.wait()
            if cache_key not in self._cache:
                # The leader failed with an uncached error; this row tries for itself.
                break
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

    def _remember(self, cache_key: tuple[str, str], value: str | OrgResolutionError) -> None:
        self._cache[cache_key] = value
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    async def _lookup_or_create(self, key: OrgKey) -> str:
        self.lookups += 1
        if key.org_id:
            org = await self._client.get_organization(key.org_id)
            if org is None:
                raise OrgResolutionError("organization_not_found", f"{key.describe()} does not exist")
            return org.id
        if key.external_id:
            org = await self._client.get_organization_by_external_id(key.external_id)
            if org is not None:
                return org.id
            if not self._create:
                raise OrgResolutionError(
                    "organization_not_found",
                    f"{key.describe()} does not exist (use --create-org-if-missing to create it)",
                )
            if not key.name:
                raise OrgResolutionError(
                    "organization_name_missing",
                    f"{key.describe()} does not exist and the row has no org_name to create it with",
                )
            return await self._create_with_external_id(key)
        return await self._by_name(key)

    async def _create_with_external_id(self, key: OrgKey) -> str:
        assert key.name and key.external_id
        for attempt in range(1, _CREATE_ATTEMPTS + 1):
            try:
                org = await self._client.create_organization(name=key.name, external_id=key.external_id)
            except Conflict:
                pass
            except WorkOSError as exc:
                if not exc.outcome_unknown or attempt == _CREATE_ATTEMPTS:
                    raise OrgResolutionError(
                        exc.code or "organization_create_failed", f"could not create {key.describe()}", cause=exc
                    ) from exc
            else:
                self.created += 1
                return org.id
            # Conflict or unknown outcome: the external id is the natural key that tells.
            existing = await self._client.get_organization_by_external_id(key.external_id)
            if existing is not None:
                return existing.id
        raise OrgResolutionError("organization_create_failed", f"could not create {key.describe()}")

    async def _by_name(self, key: OrgKey) -> str:
        name = key.name or ""
        matches = await self._exact_name_matches(name)
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise OrgResolutionError(
                "organization_name_ambiguous",
                f"{len(matches)} organizations are named {name!r}; use org_id or org_external_id for these rows",
            )
        if not self._create:
            raise OrgResolutionError(
                "organization_not_found", f"{key.describe()} does not exist (use --create-org-if-missing to create it)"
            )
        for attempt in range(1, _CREATE_ATTEMPTS + 1):
            try:
                org = await self._client.create_organization(name=name)
            except WorkOSError as exc:
                if not exc.outcome_unknown or attempt == _CREATE_ATTEMPTS:
                    raise OrgResolutionError(
                        exc.code or "organization_create_failed", f"could not create {key.describe()}", cause=exc
                    ) from exc
                # Without an external id only the name can tell whether the lost create happened.
                matches = await self._exact_name_matches(name)
                if matches:
                    return matches[0]
            else:
                self.created += 1
                return org.id
        raise OrgResolutionError("organization_create_failed", f"could not create {key.describe()}")

    async def _exact_name_matches(self, name: str) -> list[str]:
        return [org.id async for org in self._client.list_organizations(search=name) if org.name == name]
