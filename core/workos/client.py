"""The only code that speaks HTTP to WorkOS: endpoints, error classification, retries, request ids.

``WorkOSClient`` wraps one ``httpx2.AsyncClient`` whose connection pool is sized to the job's
concurrency. Every attempt first waits on the shared ``RateLimiter`` for its request class, so retries
spend real tokens and show in the counters. Retry policy:

- Retried automatically, up to ``RetryPolicy.attempts`` attempts in all: a 429 (after the limiter's
  shared pause, which honours ``Retry-After``) and errors that provably happened before the request was
  sent (connect errors, connect and pool timeouts), for every method; a 408, a 5xx, a read or write
  timeout and a dropped connection for GET, PUT and DELETE, which are idempotent. Between those the
  client waits ``RetryPolicy.delay`` (jittered exponential backoff, or the server's ``Retry-After``).
- A POST whose outcome is unknown (408, 5xx, a timeout or dropped connection after sending) is never
  re-sent blindly: the client raises with ``outcome_unknown=True``. The engine then reconciles by the
  natural key (email, external id, user and organization) and only then sends again.

``to_workos_error`` is the one place where an HTTP answer or an httpx2 exception becomes a
``core.errors.WorkOSError``: status first, then ``code``, then ``errors[].code``. Messages are built from
the method, the path and WorkOS's own message with every secret of the request (API key, password,
password hash, TOTP secret) redacted; request bodies never appear in an error or a log line.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version
from types import TracebackType
from typing import Any, Self, TypedDict, TypeVar, Unpack
from urllib.parse import quote

import httpx2
from pydantic import BaseModel, ValidationError

from core.errors import (
    AuthenticationError,
    Conflict,
    InvalidRequest,
    NotFound,
    OptionsError,
    RateLimited,
    ServerError,
    TransportError,
    WorkOSError,
)
from core.options import DEFAULT_BASE_URL
from core.workos.breaker import CircuitBreaker, is_outage, route_key
from core.workos.limits import LimiterStats, RateLimiter, RetryPolicy, parse_retry_after, request_kind
from core.workos.models import (
    Authenticated,
    AuthFactor,
    EnrolledFactor,
    Membership,
    Organization,
    Page,
    Role,
    User,
)

__all__ = ["DEFAULT_BASE_URL", "ClientStats", "UserFields", "WorkOSClient", "to_workos_error"]

logger = logging.getLogger(__name__)

CONFLICT_CODES = frozenset(
    {"email_not_available", "user_already_exists", "external_id_already_used", "organization_membership_already_exists"}
)
_NOT_SENT = (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.PoolTimeout)
_NEVER_SENDABLE = (httpx2.UnsupportedProtocol, httpx2.LocalProtocolError)
_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE"})
_MESSAGE_LIMIT = 300

M = TypeVar("M", bound=BaseModel)


def _user_agent() -> str:
    try:
        return f"workos-migrate/{version('workos-migrate')}"
    except PackageNotFoundError:
        return "workos-migrate"


class UserFields(TypedDict, total=False):
    """The user fields ``update_user`` accepts; the same as ``create_user``'s keywords."""

    email: str
    first_name: str | None
    last_name: str | None
    email_verified: bool | None
    password: str | None
    password_hash: str | None
    password_hash_type: str | None
    password_salt_position: str | None
    external_id: str | None
    metadata: Mapping[str, str] | None


class ClientStats(LimiterStats):
    """Requests by class, retries, 429s and seconds waited (from the limiter, so job-wide when it is
    shared), plus the errors this client raised, by class name."""

    errors: dict[str, int]


def _redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text


def _read_error_body(response: httpx2.Response) -> tuple[str | None, tuple[str, ...], str | None]:
    """``(code, sub_codes, message)`` of a WorkOS error body; whatever is missing or malformed is None."""
    try:
        body = json.loads(response.content)
    except ValueError:
        return None, (), None
    if not isinstance(body, dict):
        return None, (), None
    # OAuth-style answers (authenticate) say ``error`` and ``error_description`` instead.
    code = next((body[key] for key in ("code", "error") if isinstance(body.get(key), str)), None)
    message = next((body[key] for key in ("message", "error_description") if isinstance(body.get(key), str)), None)
    errors = body.get("errors")
    if not isinstance(errors, list):
        return code, (), message
    sub_codes = tuple(item["code"] for item in errors if isinstance(item, dict) and isinstance(item.get("code"), str))
    return code, sub_codes, message


def to_workos_error(
    outcome: httpx2.Response | httpx2.HTTPError, *, method: str, path: str, secrets: Iterable[str] = ()
) -> WorkOSError:
    """Classify a failed answer or an httpx2 exception as a ``WorkOSError`` (raise it ``from`` the exception).

    ``outcome_unknown`` is set when a non-idempotent request may have been applied. ``secrets`` are
    redacted from every message.
    """
    method = method.upper()
    may_apply = method not in ("GET", "HEAD")
    where = f"{method} {path}"
    if isinstance(outcome, httpx2.HTTPError):
        kind = type(outcome).__name__
        detail = _redact(str(outcome), secrets)[:_MESSAGE_LIMIT]
        if isinstance(outcome, _NEVER_SENDABLE):
            return TransportError(f"{where} could not be sent: {kind}: {detail}", retryable=False)
        if isinstance(outcome, _NOT_SENT):
            return TransportError(f"{where} was not sent: {kind}: {detail}")
        note = "it may have been applied" if may_apply else "nothing was applied"
        return TransportError(f"{where} got no response ({note}): {kind}: {detail}", outcome_unknown=may_apply)

    status = outcome.status_code
    context: dict[str, Any] = {
        "status": status,
        "request_id": outcome.headers.get("x-request-id"),
        "retry_after": parse_retry_after(outcome.headers.get("retry-after")),
    }
    if status == 429:
        return RateLimited(f"{where} was rate limited by WorkOS", **context)
    code, sub_codes, server_message = _read_error_body(outcome)
    context.update(code=code, sub_codes=sub_codes)
    said = _redact(server_message, secrets)[:_MESSAGE_LIMIT] if server_message else outcome.reason_phrase
    message = f"{where} failed: {said}"
    if status >= 500 or status == 408:
        return ServerError(message, outcome_unknown=may_apply, **context)
    if status in (401, 403):
        return AuthenticationError(message, **context)
    if status == 409 or code in CONFLICT_CODES or CONFLICT_CODES.intersection(sub_codes):
        return Conflict(message, **context)
    if status == 404:
        return NotFound(message, **context)
    if 400 <= status < 500:
        return InvalidRequest(message, **context)
    return WorkOSError(f"{where} got an unexpected answer: {said}", outcome_unknown=may_apply, **context)


def _should_retry(error: WorkOSError, method: str) -> bool:
    return error.retryable and (not error.outcome_unknown or method in _IDEMPOTENT)


def _drop_none(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The fields that are set, with mappings copied to plain dicts for JSON."""
    return {
        name: dict(value) if isinstance(value, Mapping) else value
        for name, value in fields.items()
        if value is not None
    }


def _segment(value: str) -> str:
    return quote(value, safe="")


class WorkOSClient:
    """Async client for the WorkOS endpoints an import needs; see the module docstring for retries.

    Use it as an async context manager (or call ``aclose``). Every method raises a ``WorkOSError``
    subclass on failure; the ``get_...``/``find_...`` methods that return ``X | None`` answer None on 404.
    """

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        limiter: RateLimiter | None = None,
        retry: RetryPolicy | None = None,
        breaker: CircuitBreaker | None = None,
        concurrency: int = 10,
        timeout: float = 30.0,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        if not api_key:
            raise AuthenticationError("No WorkOS API key: set WORKOS_API_KEY (or WORKOS_SECRET_KEY)")
        if not base_url.startswith(("http://", "https://")):
            raise OptionsError(f"WorkOS base URL must start with http:// or https:// (got {base_url!r})")
        if concurrency < 1:
            raise OptionsError(f"concurrency must be at least 1 (got {concurrency})")
        self._api_key = api_key
        self._limiter = limiter or RateLimiter()
        self._retry = retry or RetryPolicy()
        self._breaker = breaker or CircuitBreaker()
        self._errors: Counter[str] = Counter()
        limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        self._http = httpx2.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={
                "Authorization": f"Bearer {api_key}",
                "User-Agent": _user_agent(),
                "Accept": "application/json",
            },
            timeout=httpx2.Timeout(timeout),
            transport=transport or httpx2.AsyncHTTPTransport(limits=limits),
            follow_redirects=False,
        )

    @classmethod
    def from_env(cls, **kwargs: Any) -> WorkOSClient:
        """Build a client with the key from ``WORKOS_API_KEY`` or ``WORKOS_SECRET_KEY`` and the base URL from
        ``WORKOS_BASE_URL`` (keyword arguments win). Raises ``AuthenticationError`` when no key is set."""
        if not kwargs.get("api_key"):
            key = os.environ.get("WORKOS_API_KEY") or os.environ.get("WORKOS_SECRET_KEY")
            if not key:
                raise AuthenticationError(
                    "No WorkOS API key: set WORKOS_API_KEY (or WORKOS_SECRET_KEY) in the environment"
                )
            kwargs["api_key"] = key
        kwargs.setdefault("base_url", os.environ.get("WORKOS_BASE_URL") or DEFAULT_BASE_URL)
        return cls(**kwargs)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    def __repr__(self) -> str:
        return f"WorkOSClient(base_url={str(self._http.base_url)!r})"

    @property
    def limiter(self) -> RateLimiter:
        """The rate limiter every attempt waits on."""
        return self._limiter

    @property
    def breaker(self) -> CircuitBreaker:
        """The circuit breaker every attempt passes (shared by every task of a runner)."""
        return self._breaker

    @property
    def stats(self) -> ClientStats:
        """Requests by class, retries, 429s, seconds waited by reason, and errors raised by class."""
        return ClientStats(**self._limiter.stats.model_dump(), errors=dict(self._errors))

    # Users

    async def create_user(
        self,
        *,
        email: str,
        first_name: str | None = None,
        last_name: str | None = None,
        email_verified: bool | None = None,
        password: str | None = None,
        password_hash: str | None = None,
        password_hash_type: str | None = None,
        password_salt_position: str | None = None,
        external_id: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> User:
        """Create a user. A taken email or external id raises ``Conflict``; an unknown outcome is raised,
        never re-sent (``outcome_unknown``): look the user up by email before sending again."""
        body = _drop_none(
            {
                "email": email,
                "first_name": first_name,
                "last_name": last_name,
                "email_verified": email_verified,
                "password": password,
                "password_hash": password_hash,
                "password_hash_type": password_hash_type,
                "password_salt_position": password_salt_position,
                "external_id": external_id,
                "metadata": metadata,
            }
        )
        response = await self._send("POST", "/user_management/users", body=body, secrets=(password, password_hash))
        return self._parse(User, response)

    async def get_user(self, user_id: str) -> User:
        """The user with this id; raises ``NotFound`` when there is none."""
        return self._parse(User, await self._send("GET", f"/user_management/users/{_segment(user_id)}"))

    async def update_user(self, user_id: str, **fields: Unpack[UserFields]) -> User:
        """Update the given fields of a user (the keywords of ``create_user``; None leaves a field unchanged)."""
        unknown = fields.keys() - UserFields.__annotations__.keys()
        if unknown:
            raise TypeError(f"update_user got unknown fields: {', '.join(sorted(unknown))}")
        path = f"/user_management/users/{_segment(user_id)}"
        secrets = (fields.get("password"), fields.get("password_hash"))
        return self._parse(User, await self._send("PUT", path, body=_drop_none(fields), secrets=secrets))

    async def delete_user(self, user_id: str) -> None:
        """Delete a user; raises ``NotFound`` when it does not exist (or a retried delete already removed it)."""
        await self._send("DELETE", f"/user_management/users/{_segment(user_id)}")

    async def find_user_by_email(self, email: str) -> User | None:
        """The user with this email (trimmed and lower-cased, as WorkOS stores it), or None."""
        params = {"email": email.strip().lower(), "limit": 1}
        page = self._parse(Page[User], await self._send("GET", "/user_management/users", params=params))
        return page.data[0] if page.data else None

    async def users_page(self, *, after: str | None = None, limit: int = 100) -> Page[User]:
        """One page of every user, oldest first: users created while a read pages on come at its end."""
        return await self._page(User, "/user_management/users", {}, after=after, limit=limit)

    async def get_user_by_external_id(self, external_id: str) -> User | None:
        """The user with this external id, or None."""
        return await self._get_optional(User, f"/user_management/users/external_id/{_segment(external_id)}")

    # Organizations

    async def get_organization(self, organization_id: str) -> Organization | None:
        """The organization with this id, or None."""
        return await self._get_optional(Organization, f"/organizations/{_segment(organization_id)}")

    async def get_organization_by_external_id(self, external_id: str) -> Organization | None:
        """The organization with this external id, or None."""
        return await self._get_optional(Organization, f"/organizations/external_id/{_segment(external_id)}")

    async def create_organization(
        self, *, name: str, external_id: str | None = None, metadata: Mapping[str, str] | None = None
    ) -> Organization:
        """Create an organization. Names are not unique in WorkOS: pass an ``external_id`` so that a create
        with an unknown outcome can be reconciled (a used one raises ``Conflict``)."""
        body = _drop_none({"name": name, "external_id": external_id, "metadata": metadata})
        return self._parse(Organization, await self._send("POST", "/organizations", body=body))

    async def list_organizations(self, *, search: str | None = None) -> AsyncIterator[Organization]:
        """Every organization (whose name contains ``search``, when given), across all pages."""
        async for organization in self._pages(Organization, "/organizations", _drop_none({"search": search})):
            yield organization

    async def organizations_page(self, *, after: str | None = None, limit: int = 100) -> Page[Organization]:
        """One page of every organization, oldest first."""
        return await self._page(Organization, "/organizations", {}, after=after, limit=limit)

    # Memberships and roles

    async def create_membership(
        self, *, user_id: str, organization_id: str, role_slugs: Sequence[str] = ()
    ) -> Membership:
        """Add a user to an organization: no slug gives the server's default role, one is sent as
        ``role_slug``, several as ``role_slugs``. An existing membership raises ``Conflict``."""
        body: dict[str, Any] = {"user_id": user_id, "organization_id": organization_id}
        if len(role_slugs) == 1:
            body["role_slug"] = role_slugs[0]
        elif role_slugs:
            body["role_slugs"] = list(role_slugs)
        response = await self._send("POST", "/user_management/organization_memberships", body=body)
        return self._parse(Membership, response)

    async def list_memberships(
        self,
        *,
        user_id: str | None = None,
        organization_id: str | None = None,
        statuses: Sequence[str] = ("active", "inactive", "pending"),
    ) -> list[Membership]:
        """Every membership of a user and/or an organization with one of ``statuses``, across all pages."""
        if user_id is None and organization_id is None:
            raise ValueError("list_memberships needs user_id or organization_id")
        params = _drop_none(
            {"user_id": user_id, "organization_id": organization_id, "statuses": ",".join(statuses) or None}
        )
        return [m async for m in self._pages(Membership, "/user_management/organization_memberships", params)]

    async def memberships_page(
        self,
        *,
        organization_id: str,
        after: str | None = None,
        statuses: Sequence[str] = ("active", "inactive", "pending"),
        limit: int = 100,
    ) -> Page[Membership]:
        """One page of an organization's memberships with one of ``statuses``, oldest first."""
        params = {"organization_id": organization_id, "statuses": ",".join(statuses)}
        return await self._page(
            Membership, "/user_management/organization_memberships", params, after=after, limit=limit
        )

    async def update_membership(self, membership_id: str, *, role_slugs: Sequence[str]) -> Membership:
        """Set a membership's roles: one slug is sent as ``role_slug``, several as ``role_slugs``."""
        if not role_slugs:
            raise ValueError("update_membership needs at least one role slug")
        body: dict[str, Any] = (
            {"role_slug": role_slugs[0]} if len(role_slugs) == 1 else {"role_slugs": list(role_slugs)}
        )
        path = f"/user_management/organization_memberships/{_segment(membership_id)}"
        return self._parse(Membership, await self._send("PUT", path, body=body))

    async def list_organization_roles(self, organization_id: str) -> list[Role]:
        """The roles an organization's memberships may have: the environment's, then its own."""
        path = f"/authorization/organizations/{_segment(organization_id)}/roles"
        return [role async for role in self._pages(Role, path, {}, limit=None)]

    async def any_membership(self, *, user_id: str | None = None, organization_id: str | None = None) -> bool:
        """Whether a user and/or an organization has any membership, of any status (one read)."""
        if user_id is None and organization_id is None:
            raise ValueError("any_membership needs user_id or organization_id")
        params = _drop_none(
            {"user_id": user_id, "organization_id": organization_id, "statuses": "active,inactive,pending", "limit": 1}
        )
        page = self._parse(Page[Membership], await self._send("GET", "/user_management/organization_memberships",
                                                              params=params))  # fmt: skip
        return bool(page.data)

    async def delete_membership(self, membership_id: str) -> None:
        """Delete a membership; raises ``NotFound`` when it does not exist (or a retried delete already removed it)."""
        await self._send("DELETE", f"/user_management/organization_memberships/{_segment(membership_id)}")

    async def delete_organization(self, organization_id: str) -> None:
        """Delete an organization; raises ``NotFound`` when it does not exist."""
        await self._send("DELETE", f"/organizations/{_segment(organization_id)}")

    async def list_roles(self) -> list[Role]:
        """The environment's roles, in priority order."""
        return [role async for role in self._pages(Role, "/authorization/roles", {}, limit=None)]

    # TOTP

    async def enroll_totp(
        self, user_id: str, *, secret: str, issuer: str | None = None, user: str | None = None
    ) -> AuthFactor:
        """Enroll a TOTP factor with an existing Base32 ``secret`` (so authenticator apps keep working)."""
        body = _drop_none({"type": "totp", "totp_secret": secret, "totp_issuer": issuer, "totp_user": user})
        path = f"/user_management/users/{_segment(user_id)}/auth_factors"
        response = await self._send("POST", path, body=body, secrets=(secret,))
        return self._parse(EnrolledFactor, response).authentication_factor

    async def list_auth_factors(self, user_id: str) -> list[AuthFactor]:
        """Every authentication factor of a user."""
        path = f"/user_management/users/{_segment(user_id)}/auth_factors"
        return [factor async for factor in self._pages(AuthFactor, path, {})]

    async def authenticate_password(self, *, client_id: str, email: str, password: str) -> User:
        """Sign a user in with the password grant (``POST /user_management/authenticate``); returns the user.

        The application authenticates with ``client_id`` and the API key as ``client_secret``. A wrong password
        raises ``InvalidRequest`` (``invalid_credentials``); a password WorkOS accepted but a sign-in that needs a
        further step (email verification, MFA, organization choice) raises ``AuthenticationError`` with that code.
        """
        body = {
            "grant_type": "password",
            "client_id": client_id,
            "client_secret": self._api_key,
            "email": email,
            "password": password,
        }
        response = await self._send("POST", "/user_management/authenticate", body=body, secrets=(password,))
        return self._parse(Authenticated, response).user

    async def delete_auth_factor(self, factor_id: str) -> None:
        """Delete an authentication factor; raises ``NotFound`` when it does not exist."""
        await self._send("DELETE", f"/auth/factors/{_segment(factor_id)}")

    # Plumbing

    async def _get_optional(self, model: type[M], path: str) -> M | None:
        try:
            response = await self._send("GET", path, missing_ok=True)
        except NotFound:
            return None
        return self._parse(model, response)

    async def _pages(
        self, model: type[M], path: str, params: dict[str, Any], *, limit: int | None = 100
    ) -> AsyncIterator[M]:
        page_type = Page[model]  # type: ignore[valid-type]
        query = dict(params) if limit is None else {**params, "limit": limit}
        while True:
            page = self._parse(page_type, await self._send("GET", path, params=query))
            for item in page.data:
                yield item
            after = page.list_metadata.after
            if not after or not page.data:
                return
            query = {**query, "after": after}

    async def _page(
        self, model: type[M], path: str, params: dict[str, Any], *, after: str | None, limit: int
    ) -> Page[M]:
        query = {**params, "limit": limit, "order": "asc", **({"after": after} if after else {})}
        page_type = Page[model]  # type: ignore[valid-type]
        page: Page[M] = self._parse(page_type, await self._send("GET", path, params=query))
        return page

    def _parse(self, model: type[M], response: httpx2.Response) -> M:
        try:
            return model.model_validate_json(response.content)
        except ValidationError:
            method, path = response.request.method, response.request.url.path
            error = ServerError(
                f"{method} {path} answered {response.status_code} with a body that is not a WorkOS "
                f"{model.__name__.split('[')[0]}",
                status=response.status_code,
                request_id=response.headers.get("x-request-id"),
                outcome_unknown=method not in ("GET", "HEAD"),
                retryable=False,
            )
            self._errors[type(error).__name__] += 1
            raise error from None

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        secrets: Iterable[str | None] = (),
        missing_ok: bool = False,
    ) -> httpx2.Response:
        """Send with the limiter and retry policy; return the 2xx answer or raise. A 404 under ``missing_ok``
        is an expected miss: raised as ``NotFound`` but not counted as an error."""
        kind = request_kind(method, path)
        route = route_key(method, path)
        try:
            content = None if body is None else json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        except (UnicodeEncodeError, RecursionError, TypeError, ValueError) as exc:
            # Never sent: a lone surrogate has no UTF-8 form. Only the class is named (the body holds secrets).
            raise InvalidRequest(
                f"{method} {path} could not be sent: its body cannot be encoded as JSON ({type(exc).__name__})",
                code="unencodable_body",
            ) from None
        headers = None if content is None else {"Content-Type": "application/json"}
        attempt = 0  # attempts against the retry budget; one that fails while the circuit is open is free
        sent = 0
        while True:
            attempt += 1
            probe = await self._breaker.admit(route)
            cause: httpx2.HTTPError | None = None
            try:
                sent_at = await self._limiter.acquire(kind, retry=sent > 0)
                sent += 1
                try:
                    response = await self._http.request(method, path, params=params, content=content, headers=headers)
                except httpx2.HTTPError as exc:
                    cause = exc
                    error = to_workos_error(exc, method=method, path=path, secrets=self._secrets(secrets))
                else:
                    if response.status_code != 429:
                        self._limiter.on_success(kind)
                    if response.is_success:
                        self._breaker.record(route, outage=False, probe=probe)
                        probe = False
                        return response
                    error = to_workos_error(response, method=method, path=path, secrets=self._secrets(secrets))
                    if isinstance(error, RateLimited):
                        self._limiter.on_rate_limited(error.retry_after, kind=kind, sent_at=sent_at)
                outage = is_outage(error)
                self._breaker.record(route, outage=outage, probe=probe)
                probe = False
            finally:
                if probe:  # cancelled before its answer: another request may probe
                    self._breaker.release_probe(route)
            # Any open circuit means WorkOS, not this request, is failing: a route with few calls (a lookup) would
            # otherwise spend its row's attempts before its own circuit sees enough answers to open.
            if outage and self._breaker.is_open:
                error.during_outage = True
                if _should_retry(error, method):
                    attempt -= 1  # the API's failure, not the request's: wait at the breaker, then send again
                    continue
            if attempt >= self._retry.attempts or not _should_retry(error, method):
                if not (missing_ok and isinstance(error, NotFound)):
                    self._errors[type(error).__name__] += 1
                raise error from cause
            delay = 0.0 if isinstance(error, RateLimited) else self._retry.delay(attempt, error.retry_after)
            logger.debug("Retrying (attempt %d of %d) in %.2f s: %s", attempt + 1, self._retry.attempts, delay, error)
            await self._limiter.backoff(delay)

    def _secrets(self, extra: Iterable[str | None]) -> tuple[str, ...]:
        return (self._api_key, *(secret for secret in extra if secret))
