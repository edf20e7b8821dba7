"""The row pipeline: one valid record in, exactly one outcome out.

For each row: resolve its organization (cached), make sure its user exists exactly once, make sure its
membership exists exactly once, enrol its TOTP factor when it has one, and describe what happened as a
``RowOutcome``. Rows that share an email are serialised on that email, so the user is created once and
each row adds its own membership. A write whose outcome is unknown (timeout, dropped connection, 5xx) is
reconciled through its natural key (email for users, the user and organization pair for memberships)
before anything is sent again: never a second object, never a false failure. Scheduling rows and
recording outcomes belong to ``engine``.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio

from core.environment import EnvironmentSnapshot, membership_row, user_row
from core.errors import AuthenticationError, Conflict, InvalidRequest, NotFound, WorkOSError, WorkOSUnavailable
from core.options import MigrationOptions
from core.orgs import OrgKey, OrgResolutionError, OrgResolver, org_key_from
from core.records import UserRecord
from core.store import JobStore, MembershipAction, RowOutcome, RowState, TotpAction, UserAction
from core.workos.client import WorkOSClient
from core.workos.models import Membership, User

__all__ = ["CREATED_AT_SKEW_SECONDS", "RowPipeline", "unreadable_outcome"]

logger = logging.getLogger(__name__)

# Clock skew allowed between this machine and WorkOS when a user's created_at tells who created it.
CREATED_AT_SKEW_SECONDS = 1.0
# How many times a write with an unknown outcome is reconciled and sent again before the row fails.
_UNKNOWN_OUTCOME_ATTEMPTS = 4
# Only rows sharing an email within the ledger's flush window need this cache; the ledger has the rest.
_USER_CACHE_SIZE = 10_000
# How long a row waits for another runner's ledger write (its flush period plus a heartbeat) before it takes a
# user younger than the job for one that was there already (--workers).
_OTHER_RUNNER_FLUSH_SECONDS = 1.5
# How much of an unexpected exception's text a failed row keeps.
_DETAIL_LIMIT = 200
T = TypeVar("T")


class _RowFailed(Exception):
    """Unwinds one row to a failed outcome."""

    def __init__(self, phase: str, code: str, message: str, *, error: WorkOSError | None = None,
                 retryable: bool | None = None) -> None:  # fmt: skip
        super().__init__(message)
        self.phase = phase
        self.code = code
        self.message = message
        self.error = error
        self.retryable = error.retryable if retryable is None and error is not None else bool(retryable)


@dataclass(slots=True)
class _RowState:
    record: UserRecord
    chunk: int
    maybe_sent: bool = False
    phase: str = "organization"  # the step under way, named in an unexpected error
    first_sent: float | None = None  # wall clock of this run's first user create for the row
    attempts: int = 0
    user_id: str | None = None
    user_action: UserAction | None = None
    user_ours: bool = False  # this job created the user (this row or an earlier one): its memberships are ours
    organization_id: str | None = None
    membership_id: str | None = None
    membership_action: MembershipAction | None = None
    totp_action: TotpAction | None = None
    factor_id: str | None = None
    warnings: list[str] = field(default_factory=list)


class _Budget:
    """The sends of one write step: at most ``_UNKNOWN_OUTCOME_ATTEMPTS`` count against the row; a send whose
    outcome was lost while the circuit breaker was open (``during_outage``) is the API's failure and free."""

    __slots__ = ("counted", "sent")

    def __init__(self) -> None:
        self.counted = 0
        self.sent = 0

    def left(self) -> bool:
        return self.counted < _UNKNOWN_OUTCOME_ATTEMPTS

    def spend(self) -> None:
        self.counted += 1
        self.sent += 1

    def refund_if_outage(self, error: WorkOSError) -> None:
        if error.during_outage:
            self.counted -= 1


class _EmailLocks:
    """One lock per email in flight; entries vanish when no row holds or waits for them."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[anyio.Lock, int]] = {}

    async def run(self, email: str, step: Callable[[], Awaitable[T]]) -> T:
        lock, users = self._locks.get(email, (None, 0))
        if lock is None:
            lock = anyio.Lock()
        self._locks[email] = (lock, users + 1)
        try:
            async with lock:
                return await step()
        finally:
            lock, users = self._locks[email]
            if users == 1:
                del self._locks[email]
            else:
                self._locks[email] = (lock, users - 1)


class RowPipeline:
    """Processes records of one job. Shared by every task of a runner."""

    def __init__(
        self,
        *,
        client: WorkOSClient,
        store: JobStore,
        job_id: str,
        job_created_at: float,
        options: MigrationOptions,
        orgs: OrgResolver,
        fixed_org_id: str | None,
        known: EnvironmentSnapshot | None = None,
    ) -> None:
        self._client = client
        self._known = known
        self._store = store
        self._job_id = job_id
        self._job_created_at = job_created_at
        self._options = options
        self._orgs = orgs
        self._fixed_org_id = fixed_org_id
        self._locks = _EmailLocks()
        self._users: OrderedDict[str, tuple[str, UserAction]] = OrderedDict()
        self.resent = 0

    async def process(self, record: UserRecord, chunk: int, *, maybe_sent: bool = False) -> RowOutcome:
        """Run the whole pipeline for one record and return its outcome.

        ``maybe_sent`` says an earlier runner may have sent this row before it died (its chunk was claimed
        before): then a user that already exists may be this job's own, told by its ``created_at``.
        Raises ``AuthenticationError`` (fatal for the job); every other failure becomes a failed outcome.
        """
        state = _RowState(record, chunk, maybe_sent=maybe_sent)
        try:
            org_key = self._org_key(record)
            if org_key is not None:
                state.organization_id = await self._resolve_org(org_key)
            elif self._options.require_membership:
                raise _RowFailed(
                    "membership", "organization_missing",
                    "row has no organization and --require-membership is set", retryable=False,
                )  # fmt: skip
            skipped = await self._locks.run(record.email, lambda: self._user_and_membership(state))
        except _RowFailed as failure:
            return self._failed(state, failure)
        except (AuthenticationError, WorkOSUnavailable):
            raise
        except Exception as exc:  # whatever one row raises fails that row, never the job
            logger.warning("row %d: unexpected %s in phase %s", record.row, type(exc).__name__, state.phase)
            return self._failed(state, _unexpected(state.phase, exc, record))
        if skipped:
            return self._outcome(state, RowState.SKIPPED)
        return self._outcome(state, RowState.DONE)

    def forget_users(self, emails: Iterable[str]) -> None:
        """Drop what this runner settled for ``emails``: their rows go again, and must each find their user
        afresh (their ledger records are gone), not take it as settled by an earlier row."""
        for email in emails:
            self._users.pop(email, None)

    def forget(self) -> None:
        """Drop the users this runner settled, and the snapshot (the environment may have changed behind the job)."""
        self._users.clear()
        self._known = None

    def _org_key(self, record: UserRecord) -> OrgKey | None:
        if self._fixed_org_id:
            return OrgKey(org_id=self._fixed_org_id)
        return org_key_from(record.org_id, record.org_external_id, record.org_name)

    async def _resolve_org(self, key: OrgKey) -> str:
        try:
            return await self._orgs.resolve(key)
        except OrgResolutionError as exc:
            raise _RowFailed("organization", exc.code, exc.message, error=exc.cause,
                             retryable=exc.cause.retryable if exc.cause else False) from exc  # fmt: skip
        except AuthenticationError:
            raise
        except WorkOSError as exc:
            raise _RowFailed("organization", exc.code or "request_failed", exc.message, error=exc) from exc

    async def _user_and_membership(self, state: _RowState) -> bool:
        """Ensure user, membership and TOTP. Returns True when the row is skipped by policy."""
        if await self._ensure_user(state):
            return True
        if state.organization_id is not None:
            await self._ensure_membership(state)
        if state.record.totp_secret:
            await self._ensure_totp(state)
        return False

    # -- user -----------------------------------------------------------------------------------------

    async def _ensure_user(self, state: _RowState) -> bool:
        state.phase = "user"
        record = state.record
        known = self._users.get(record.email) or self._known_user(record.email)
        if known is not None:
            state.user_id, action = known
            if action is UserAction.SKIPPED:
                state.user_action = UserAction.SKIPPED
                return True
            state.user_action = UserAction.REUSED
            state.user_ours = action is UserAction.CREATED
            return False
        seen = self._known.user(record.email) if self._known is not None else None
        if seen is not None:
            # Known from the snapshot: no create that would only fail. Ours only if a dead runner sent it.
            ours = state.maybe_sent and seen[3] + CREATED_AT_SKEW_SECONDS >= self._job_created_at
            return await self._settle_existing(state, seen[0], seen[3], ours=ours)
        last_unknown: WorkOSError | None = None
        budget = _Budget()
        while budget.left():
            self._count_send(state, budget)
            if state.first_sent is None:
                state.first_sent = time.time()
            try:
                user = await self._client.create_user(email=record.email, **_user_fields(record))
            except Conflict as exc:
                if "email_not_available" not in exc.sub_codes and exc.code != "user_already_exists":
                    raise _RowFailed("user", exc.sub_codes[0] if exc.sub_codes else exc.code or "conflict",
                                     exc.message, error=exc, retryable=False) from exc  # fmt: skip
                existing = await self._user_lookup(record.email)
                if existing is None:
                    continue
                return await self._settle_existing(
                    state,
                    existing.id,
                    existing.created_at.timestamp(),
                    ours=self._ours(state, existing, last_unknown),
                    user=existing,
                )
            except AuthenticationError:
                raise
            except WorkOSError as exc:
                if not exc.outcome_unknown:
                    raise _RowFailed("user", exc.code or "request_failed", exc.message, error=exc) from exc
                last_unknown = exc
                budget.refund_if_outage(exc)
                existing = await self._user_lookup(record.email)
                if existing is not None:
                    return await self._settle_existing(
                        state,
                        existing.id,
                        existing.created_at.timestamp(),
                        ours=self._ours(state, existing, exc),
                        user=existing,
                    )
                continue
            self._settle(state, user.id, UserAction.CREATED, user=user)
            return False
        raise _RowFailed("user", "outcome_unknown", "user creation kept failing with an unknown outcome",
                         error=last_unknown, retryable=True)  # fmt: skip

    async def _created_by_another_runner(self, email: str, user_id: str) -> UserAction | None:
        """The ledger's word that another runner of this job created ``user_id``, waiting out its flush."""
        deadline = time.monotonic() + _OTHER_RUNNER_FLUSH_SECONDS
        while True:
            found = self._known_user(email)
            if found is not None and found[0] == user_id and found[1] is UserAction.CREATED:
                return found[1]
            if time.monotonic() >= deadline:
                return None
            await anyio.sleep(0.05)

    def _known_user(self, email: str) -> tuple[str, UserAction] | None:
        found = self._store.user_for_email(self._job_id, email)
        return None if found is None else (found[0], UserAction(found[1]))

    async def _user_lookup(self, email: str) -> User | None:
        return await self._call("user", lambda: self._client.find_user_by_email(email))

    def _ours(self, state: _RowState, user: User, unknown: WorkOSError | None) -> bool:
        """Whether an existing user is this job's own: created by a create whose response was lost.

        Only a row that may have been sent before can have lost a response: one with an unknown outcome in
        this run (then the user is younger than our first send), or one of a chunk a dead runner held (then
        younger than the job). Anything else was there before the job.
        """
        created = user.created_at.timestamp() + CREATED_AT_SKEW_SECONDS
        if unknown is not None and state.first_sent is not None and created >= state.first_sent:
            return True
        return state.maybe_sent and created >= self._job_created_at

    async def _settle_existing(
        self, state: _RowState, user_id: str, created_at: float, *, ours: bool, user: User | None = None
    ) -> bool:
        """A user with this email exists: ours from a lost response, or one that was there before the job.

        ``created_at`` is its creation (epoch seconds); ``user`` the user as WorkOS just answered (None when it
        came from the snapshot)."""
        if ours:
            self._settle(state, user_id, UserAction.CREATED, user=user)
            return False
        if self._options.workers > 1 and created_at + CREATED_AT_SKEW_SECONDS >= self._job_created_at:
            # Younger than the job: another runner of it may have created it for a row with the same email, and
            # its ledger write is at most a flush away. Counted as adopted only when the ledger does not say so.
            mine = await self._created_by_another_runner(state.record.email, user_id)
            if mine is not None:
                state.user_id, state.user_action, state.user_ours = user_id, UserAction.REUSED, True
                return False
        policy = self._options.on_existing_user
        if policy == "fail":
            raise _RowFailed(
                "user", "email_not_available",
                "a user with this email already exists (--on-existing-user fail); use adopt or update to import it",
                retryable=False,
            )  # fmt: skip
        if policy == "skip":
            self._settle(state, user_id, UserAction.SKIPPED, user=user)
            return True
        if policy == "update":
            fields = _user_fields(state.record)
            if fields:
                await self._call("user", lambda: self._client.update_user(user_id, **fields))
            self._settle(state, user_id, UserAction.UPDATED, user=user)
            return False
        self._settle(state, user_id, UserAction.ADOPTED, user=user)
        return False

    def _settle(self, state: _RowState, user_id: str, action: UserAction, *, user: User | None = None) -> None:
        state.user_id = user_id
        state.user_action = action
        state.user_ours = action is UserAction.CREATED
        self._users[state.record.email] = (user_id, action)
        if len(self._users) > _USER_CACHE_SIZE:
            self._users.popitem(last=False)
        if user is not None and self._known is not None:
            self._known.remember_user(user_row(user))

    # -- membership -----------------------------------------------------------------------------------

    async def _ensure_membership(self, state: _RowState) -> None:
        assert state.user_id and state.organization_id
        state.phase = "membership"
        slugs = state.record.role_slugs
        last_unknown: WorkOSError | None = None
        first_sent: float | None = None
        budget = _Budget()
        try:
            # The snapshot tells membership presence, not ownership: a row this job may have sent before (its
            # user created by this job, or a chunk a dead runner held) goes through the create and its lookup.
            ours_maybe = state.user_ours or state.maybe_sent
            seen = (
                self._known.membership(state.user_id, state.organization_id) if self._known and not ours_maybe else None
            )
            if seen is not None and seen[4] != "inactive":
                # Present already (an inactive one is reactivated by a create): no write when its roles agree.
                await self._existing_membership(state, seen[0], seen[3], slugs)
                return
            while budget.left():
                self._count_send(state, budget)
                first_sent = first_sent or time.time()
                try:
                    membership = await self._client.create_membership(
                        user_id=state.user_id, organization_id=state.organization_id, role_slugs=slugs
                    )
                except Conflict as exc:
                    present = await self._settle_present_membership(
                        state, sent_at=first_sent if budget.sent > 1 else None
                    )
                    if present is None:
                        # "Already exists", yet no lookup finds it (a list served behind the write, or one removed
                        # in between): it is not there, so it is sent again rather than recorded done without it.
                        last_unknown = exc
                        continue
                    await self._judge_present(state, present, slugs)
                    return
                except InvalidRequest as exc:
                    if exc.code == "multiple_roles_not_enabled" and len(slugs) > 1:
                        state.warnings.append(
                            f"multiple roles are not enabled in this environment: assigned only {slugs[0]!r}"
                        )
                        slugs = slugs[:1]
                        continue
                    phase = "role" if exc.code == "invalid_role" else "membership"
                    raise _RowFailed(phase, exc.code or "invalid_request", exc.message, error=exc) from exc
                except NotFound as exc:
                    raise _RowFailed("membership", exc.code or "not_found", exc.message, error=exc,
                                     retryable=False) from exc  # fmt: skip
                except AuthenticationError:
                    raise
                except WorkOSError as exc:
                    if not exc.outcome_unknown:
                        raise _RowFailed("membership", exc.code or "request_failed", exc.message, error=exc) from exc
                    last_unknown = exc
                    budget.refund_if_outage(exc)
                    present = await self._settle_present_membership(state, sent_at=first_sent)
                    if present is not None:
                        await self._judge_present(state, present, slugs)
                        return
                    continue
                self._settle_membership(state, membership, slugs, MembershipAction.CREATED)
                return
            raise _RowFailed("membership", "outcome_unknown", "membership creation kept failing with an unknown "
                             "outcome", error=last_unknown, retryable=True)  # fmt: skip
        except _RowFailed:
            if self._options.require_membership:
                await self._roll_back_user(state)
            raise

    async def _settle_present_membership(self, state: _RowState, *, sent_at: float | None) -> Membership | None:
        """Look the membership up after a conflict or a lost answer; returns it when it exists.

        It is this job's own when a create of it may have been sent before and it is younger than that send: on a
        user this job created, after a lost answer in this run (``sent_at``, the first send), or on a row a dead
        runner held (younger than the job). Otherwise it was there before the job.
        """
        user_id, organization_id = state.user_id, state.organization_id
        assert user_id and organization_id
        present = await self._call(
            "membership", lambda: self._client.list_memberships(user_id=user_id, organization_id=organization_id)
        )
        membership: Membership | None = present[0] if present else None
        state.membership_id = membership.id if membership is not None else None
        if membership is None:
            return None
        ours = (
            state.user_ours
            or (sent_at is not None and _younger(membership, sent_at))
            or (state.maybe_sent and _younger(membership, self._job_created_at))
        )
        state.membership_action = MembershipAction.CREATED if ours else MembershipAction.EXISTED
        return membership

    async def _judge_present(self, state: _RowState, present: Membership, wanted: tuple[str, ...]) -> None:
        """A membership found by lookup: this job's own must have the roles asked; one there before follows
        ``--on-existing-membership``."""
        if state.membership_action is MembershipAction.CREATED:
            self._settle_membership(state, present, wanted, MembershipAction.CREATED)
        else:
            await self._existing_membership(state, present.id, present.slugs, wanted)

    async def _existing_membership(
        self, state: _RowState, membership_id: str, roles: tuple[str, ...], wanted: tuple[str, ...]
    ) -> None:
        """A membership was there before this row: keep it, update its roles, or fail, as the policy says."""
        state.membership_id = membership_id
        state.membership_action = MembershipAction.EXISTED
        if not wanted or set(roles) == set(wanted):
            return
        differs = f"the membership exists with roles {list(roles)} and the row asks for {list(wanted)}"
        policy = self._options.on_existing_membership
        if policy == "fail":
            raise _RowFailed(
                "membership", "membership_roles_differ",
                f"{differs} (--on-existing-membership fail); use keep or update", retryable=False,
            )  # fmt: skip
        if policy == "keep":
            state.warnings.append(f"{differs}: kept (--on-existing-membership keep)")
            return
        updated = await self._call(
            "membership", lambda: self._client.update_membership(membership_id, role_slugs=wanted)
        )
        self._settle_membership(state, updated, wanted, MembershipAction.UPDATED)

    def _settle_membership(
        self, state: _RowState, membership: Membership, asked: tuple[str, ...], action: MembershipAction
    ) -> None:
        """Record a membership this row created or updated, once WorkOS's own roles for it agree with the ask."""
        reported = membership.slugs
        state.membership_id = membership.id
        if asked and set(reported) != set(asked):
            raise _RowFailed(
                "role", "role_mismatch",
                f"WorkOS reports roles {list(reported)} for the membership; the row asked for {list(asked)}",
                retryable=False,
            )  # fmt: skip
        state.membership_action = action
        if self._known is not None:
            self._known.remember_membership(membership_row(membership))

    async def _roll_back_user(self, state: _RowState) -> None:
        """Under --require-membership: remove the user only if this row created it and it belongs nowhere."""
        if state.user_action is not UserAction.CREATED or state.user_id is None:
            return
        user_id = state.user_id
        others = await self._call("membership", lambda: self._client.list_memberships(user_id=user_id))
        if others:
            return
        await self._call("user", lambda: self._client.delete_user(user_id))
        self._users.pop(state.record.email, None)
        state.user_action = UserAction.ROLLED_BACK
        state.user_ours = False
        state.user_id = None

    # -- TOTP -----------------------------------------------------------------------------------------

    async def _ensure_totp(self, state: _RowState) -> None:
        assert state.user_id and state.record.totp_secret
        state.phase = "totp"
        user_id, secret = state.user_id, state.record.totp_secret
        last_unknown: WorkOSError | None = None
        budget = _Budget()
        while budget.left():
            factors = [f for f in await self._call("totp", lambda: self._client.list_auth_factors(user_id))
                       if f.type == "totp"]  # fmt: skip
            if factors:
                # A factor there after a lost answer, or on a user this job created, is this job's own.
                ours = state.totp_action is TotpAction.ENROLLED or state.user_ours
                state.totp_action = TotpAction.ENROLLED if ours else TotpAction.EXISTED
                state.factor_id = factors[0].id if ours else None
                return
            self._count_send(state, budget)
            try:
                factor = await self._client.enroll_totp(user_id, secret=secret, user=state.record.email)
            except AuthenticationError:
                raise
            except WorkOSError as exc:
                if not exc.outcome_unknown:
                    raise _RowFailed("totp", exc.code or "request_failed", exc.message, error=exc) from exc
                last_unknown = exc
                budget.refund_if_outage(exc)
                state.totp_action = TotpAction.ENROLLED
                continue
            state.totp_action = TotpAction.ENROLLED
            state.factor_id = factor.id
            return
        raise _RowFailed("totp", "outcome_unknown", "TOTP enrolment kept failing with an unknown outcome",
                         error=last_unknown, retryable=True)  # fmt: skip

    # -- helpers --------------------------------------------------------------------------------------

    def _count_send(self, state: _RowState, budget: _Budget) -> None:
        """Count a write; every one after a step's first is a resend (after a lost or refused answer)."""
        state.attempts += 1
        if budget.sent:
            self.resent += 1
        budget.spend()

    async def _call(self, phase: str, call: Callable[[], Awaitable[T]]) -> T:
        """A read or idempotent call: any failure (after the client's own retries) fails the row."""
        try:
            return await call()
        except AuthenticationError:
            raise
        except WorkOSError as exc:
            raise _RowFailed(phase, exc.code or "request_failed", exc.message, error=exc) from exc

    def _outcome(self, state: _RowState, row_state: RowState) -> RowOutcome:
        return RowOutcome(
            row=state.record.row,
            chunk=state.chunk,
            state=row_state,
            email=state.record.email,
            user_id=state.user_id,
            organization_id=state.organization_id,
            membership_id=state.membership_id,
            user_action=state.user_action,
            membership_action=state.membership_action
            or (MembershipAction.NONE if state.organization_id is None else None),
            totp_action=state.totp_action,
            attempts=max(state.attempts, 1),
            warning="; ".join(state.warnings) or None,
            factor_id=state.factor_id,
        )

    def _failed(self, state: _RowState, failure: _RowFailed) -> RowOutcome:
        error = failure.error
        return RowOutcome(
            row=state.record.row,
            chunk=state.chunk,
            state=RowState.FAILED,
            email=state.record.email,
            user_id=state.user_id,
            organization_id=state.organization_id,
            membership_id=state.membership_id,
            user_action=state.user_action,
            membership_action=state.membership_action,
            totp_action=state.totp_action,
            attempts=max(state.attempts, 1),
            error_phase=failure.phase,
            error_status=error.status if error else None,
            error_code=failure.code,
            error_sub_codes=",".join(error.sub_codes) if error and error.sub_codes else None,
            error_message=failure.message,
            request_id=error.request_id if error else None,
            retryable=failure.retryable,
            warning="; ".join(state.warnings) or None,
            factor_id=state.factor_id,
        )


def unreadable_outcome(row: int, chunk: int, email: str | None, exc: BaseException) -> RowOutcome:
    """The failed outcome of a row whose fields could not become a record (validation should have caught it).

    Only the exception's class is kept: its text may quote the row's values, secrets included.
    """
    return RowOutcome(
        row=row,
        chunk=chunk,
        state=RowState.FAILED,
        email=email,
        attempts=0,
        error_phase="read",
        error_code="unexpected_error",
        error_message=f"unexpected {type(exc).__name__} while reading the row",
        retryable=False,
    )


def _unexpected(phase: str, exc: BaseException, record: UserRecord) -> _RowFailed:
    """A row's failure for an exception nothing expected: the phase, the class, and a message without the row's
    password, hash or TOTP secret."""
    detail = str(exc)
    for secret in (record.password, record.password_hash, record.totp_secret):
        if secret:
            detail = detail.replace(secret, "[redacted]")
    message = f"unexpected {type(exc).__name__} in phase {phase}" + (f": {detail[:_DETAIL_LIMIT]}" if detail else "")
    return _RowFailed(phase, "unexpected_error", message, retryable=False)


def _younger(membership: Membership, moment: float) -> bool:
    """Whether a membership was created at or after ``moment`` (clock skew allowed)."""
    created = membership.created_at
    return created is not None and created.timestamp() + CREATED_AT_SKEW_SECONDS >= moment


def _user_fields(record: UserRecord) -> dict[str, Any]:
    """The create/update fields a record sets (never None values: omitted means unchanged)."""
    values = {
        "first_name": record.first_name,
        "last_name": record.last_name,
        "email_verified": record.email_verified,
        "external_id": record.external_id,
        "metadata": record.metadata,
        "password": record.password,
        "password_hash": record.password_hash,
        "password_hash_type": record.password_hash_type,
        "password_salt_position": record.password_salt_position,
    }
    return {name: value for name, value in values.items() if value is not None}
