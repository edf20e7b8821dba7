"""The live preflight: what WorkOS already holds, checked read-only before any write.

``check_org_option`` refuses an organization option (``--org-id``, ``--org-external-id``, ``--org-name``)
that cannot work, before a job is created: both front doors call it on the way to a job.

``live_check`` is ``plan --check-live``: the key (a rejected key is a plan error that says so), every
organization the file names (exists, will be created, or cannot be created and why), every role slug
against the environment's roles (and an existing organization's own), and how many of the file's users and
memberships exist already: exactly, email by email, up to ``EXACT_LOOKUP_USERS`` distinct users, from the
environment snapshot beyond. Each row that would fail for a reason it sees is reported by row, and the
writes left give the estimate. Every request is a read, paced by the limiter classes a job uses.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import anyio

from core.csvsource import CsvSource
from core.environment import EXACT_LOOKUP_USERS, SNAPSHOT_MAX_AGE_SECONDS, EnvironmentSnapshot, ExactEmails
from core.errors import AuthenticationError, OptionsError
from core.live import LiveCheck, LiveIssue, OrganizationVerdict, rows_text
from core.options import MigrationOptions
from core.orgs import OrgCheck, OrgKey, OrgStatus, classify_org, find_org, org_key_from
from core.planner import ApiCalls, MigrationPlan, estimate, must_exist_warning, plan
from core.store import JobStore, SeenKeys
from core.targets import row_targets
from core.workos.breaker import BreakerPolicy, CircuitBreaker
from core.workos.client import WorkOSClient
from core.workos.limits import RateLimiter

__all__ = [
    "EXACT_LOOKUP_ORGANIZATIONS",
    "PREFLIGHT_MAX_OUTAGE_SECONDS",
    "check_org_option",
    "checked_plan",
    "preflight_client",
    "verify_org_option",
]

EXACT_LOOKUP_ORGANIZATIONS = 100
"""Files naming at most this many organizations look each up; more read the organization snapshot."""
_FIRST_ROWS = 5
_MAX_VERDICTS = 50


PREFLIGHT_MAX_OUTAGE_SECONDS = 30.0
"""A check waits out an outage this long at most (a plan is asked for in a conversation, and Claude Desktop
gives up on a tool call after about 60 s), then raises ``WorkOSUnavailable``."""


def preflight_client(options: MigrationOptions, api_key: str) -> WorkOSClient:
    """A client for read-only checks, paced at the job's rates, waiting out short outages only."""
    limiter = RateLimiter(
        write_rate=options.rate_limit, read_rate=options.read_rate_limit, general_rate=options.global_rate_limit
    )
    policy = BreakerPolicy.waiting(min(options.max_outage, PREFLIGHT_MAX_OUTAGE_SECONDS))
    return WorkOSClient(
        api_key=api_key,
        base_url=options.base_url,
        limiter=limiter,
        breaker=CircuitBreaker(policy),
        concurrency=8,
    )


def _option_flag(options: MigrationOptions) -> str:
    if options.org_id:
        return f"--org-id {options.org_id}"
    if options.org_external_id:
        return f"--org-external-id {options.org_external_id}"
    return f"--org-name {options.org_name}"


def _rejected(exc: AuthenticationError) -> AuthenticationError:
    return AuthenticationError(exc.rejection, status=exc.status, request_id=exc.request_id)


async def check_org_option(options: MigrationOptions, *, api_key: str) -> OrgCheck | None:
    """Resolve the organization option read-only; None when there is none.

    Raises ``OptionsError`` naming the option when the organization does not exist (and will not be
    created), has no name to be created with, or its name is ambiguous; ``AuthenticationError`` saying the
    key was rejected; other ``WorkOSError``s when WorkOS cannot answer.
    """
    key = org_key_from(options.org_id, options.org_external_id, options.org_name)
    if key is None:
        return None
    async with preflight_client(options, api_key) as client:
        try:
            matches = [org.id for org in await find_org(client, key)]
        except AuthenticationError as exc:
            raise _rejected(exc) from None
    check = classify_org(key, matches, create_if_missing=options.create_org_if_missing)
    if not check.ok:
        raise OptionsError(f"{_option_flag(options)}: {check.message}")
    return check


def verify_org_option(options: MigrationOptions, *, api_key: str) -> OrgCheck | None:
    """``check_org_option`` for synchronous callers (the CLI)."""
    return anyio.run(lambda: check_org_option(options, api_key=api_key))


# -- the plan's live check ------------------------------------------------------------------------------


@dataclass
class _Tally:
    """Counts of one live check, as the second pass fills them."""

    create: int = 0
    adopt: int = 0
    update: int = 0
    skip: int = 0
    m_create: int = 0
    m_present: int = 0
    m_kept: int = 0
    m_update: int = 0
    failing: int = 0
    issues: dict[str, LiveIssue] = field(default_factory=dict)

    def fail(self, row: int, code: str, message: str) -> None:
        self.failing += 1
        found = self.issues.get(code)
        if found is None:
            self.issues[code] = LiveIssue(code=code, count=1, rows=[row], message=message)
            return
        found.count += 1
        if len(found.rows) < _FIRST_ROWS:
            found.rows.append(row)


@dataclass
class _OrgUse:
    key: OrgKey
    rows: int = 0
    first_rows: list[int] = field(default_factory=list)
    check: OrgCheck | None = None


def checked_plan(options: MigrationOptions, *, api_key: str | None) -> MigrationPlan:
    """``plan`` with the live check (``plan --check-live``): no write to WorkOS, reads only.

    The snapshot it reads is kept in the job store of ``options.checkpoint_dir``. Without a key the plan says
    so as an error. Raises what ``plan`` raises, and ``WorkOSError`` when WorkOS cannot answer.
    """
    made = plan(options, api_key=api_key)
    if not api_key:
        return _with_errors(made, ["--check-live needs a key: set WORKOS_API_KEY (or WORKOS_SECRET_KEY)"])
    store = JobStore.open(options.checkpoint_dir)
    try:
        return anyio.run(lambda: check_live(made, api_key=api_key, store=store))
    finally:
        store.close()


async def check_live(made: MigrationPlan, *, api_key: str, store: JobStore) -> MigrationPlan:
    """The plan ``made`` checked against WorkOS read-only (see the module docstring): its ``live`` section,
    its errors, and its API calls and estimate from the writes left.

    Raises ``WorkOSError`` when WorkOS cannot answer (a rejected key is not raised: it is a plan error).
    """
    options = made.options
    started = time.time()
    snapshot = EnvironmentSnapshot.of(store, base_url=options.base_url, api_key=api_key)
    source = CsvSource(options.csv_path)
    uses: dict[tuple[str, str], _OrgUse] = {}
    exact = ExactEmails(EXACT_LOOKUP_USERS)
    for target in row_targets(source, options):
        exact.add(target.email)
        if target.org is not None:
            use = uses.setdefault(target.org.cache_key, _OrgUse(target.org))
            use.rows += 1
            if len(use.first_rows) < _FIRST_ROWS:
                use.first_rows.append(target.row)
    async with preflight_client(options, api_key) as client:
        try:
            roles = {role.slug for role in await client.list_roles()}
        except AuthenticationError as exc:
            return _with_errors(made, [exc.rejection], live=_rejected_check(started))
        snapshot.requests += 1
        await _judge_organizations(snapshot, client, options, uses)
        existing = [use.check.organization_id for use in uses.values() if use.check and use.check.organization_id]
        if exact.emails is not None:
            await snapshot.look_up_users(client, sorted(exact.emails))
        else:
            await snapshot.read(client, users=True, memberships_of=existing, max_age=SNAPSHOT_MAX_AGE_SECONDS)
        tally = await _classify_rows(snapshot, client, options, source, uses, roles)
    live, calls = _result(options, made, snapshot, uses, roles, tally, started, exact=exact.emails is not None)
    checked = _with_errors(made, live.errors, live=live)
    return checked.model_copy(update={"api_calls": calls, "estimate": estimate(calls, made.valid_rows, options)})


def _with_errors(made: MigrationPlan, errors: list[str], *, live: LiveCheck | None = None) -> MigrationPlan:
    every = [*made.errors, *errors]
    update: dict[str, object] = {"errors": every, "valid": not every, "live": live}
    if live is not None and live.key_valid:
        checked = must_exist_warning(1 if made.mode == "single-org" else made.organizations)
        update["warnings"] = [warning for warning in made.warnings if warning != checked]
    return made.model_copy(update=update)


async def _judge_organizations(
    snapshot: EnvironmentSnapshot, client: WorkOSClient, options: MigrationOptions, uses: dict[tuple[str, str], _OrgUse]
) -> None:
    create = options.create_org_if_missing
    if len(uses) > EXACT_LOOKUP_ORGANIZATIONS:
        await snapshot.read(client, max_age=SNAPSHOT_MAX_AGE_SECONDS)
        for cache_key, use in uses.items():
            use.check = classify_org(use.key, snapshot.organizations_for(cache_key), create_if_missing=create)
        return
    for use in uses.values():
        snapshot.requests += 1
        found = await find_org(client, use.key)
        for org in found:
            snapshot.remember_organization(org.id, org.external_id, org.name)
        use.check = classify_org(use.key, [org.id for org in found], create_if_missing=create)


async def _classify_rows(
    snapshot: EnvironmentSnapshot,
    client: WorkOSClient,
    options: MigrationOptions,
    source: CsvSource,
    uses: dict[tuple[str, str], _OrgUse],
    environment_roles: set[str],
) -> _Tally:
    """The second pass: each row's verdict, each distinct email counted once (a set kept on disk)."""
    tally = _Tally()
    org_roles: dict[str, frozenset[str]] = {}
    users: SeenKeys = SeenKeys()
    try:
        for target in row_targets(source, options):
            use = uses.get(target.org.cache_key) if target.org is not None else None
            check = use.check if use is not None else None
            if check is not None and not check.ok:
                tally.fail(target.row, check.status.value, check.message)
                continue
            org_id = check.organization_id if check is not None else None
            if target.role_slugs:
                allowed: frozenset[str] | set[str] = environment_roles
                unknown = [slug for slug in target.role_slugs if slug not in allowed]
                if unknown and org_id is not None:
                    if org_id not in org_roles:
                        snapshot.requests += 1
                        org_roles[org_id] = await snapshot.read_organization_roles(client, org_id)
                    unknown = [slug for slug in unknown if slug not in org_roles[org_id]]
                if unknown:
                    tally.fail(target.row, "invalid_role", f"role {unknown[0]!r} is not a role of this environment")
                    continue
            known = snapshot.user(target.email)
            first = users.add(target.email)
            if known is not None and options.on_existing_user == "fail":
                tally.fail(target.row, "email_not_available",
                           "a user with this email already exists (--on-existing-user fail)")  # fmt: skip
                continue
            if first:
                if known is None:
                    tally.create += 1
                elif options.on_existing_user == "update":
                    tally.update += 1
                elif options.on_existing_user == "skip":
                    tally.skip += 1
                else:
                    tally.adopt += 1
            if check is None or (known is not None and options.on_existing_user == "skip"):
                continue
            present = snapshot.membership(known[0], org_id) if known is not None and org_id is not None else None
            if present is None or present[4] == "inactive":
                tally.m_create += 1
                continue
            if not target.role_slugs or set(present[3]) == set(target.role_slugs):
                tally.m_present += 1
            elif options.on_existing_membership == "fail":
                why = f"the membership exists with roles {list(present[3])} (--on-existing-membership fail)"
                tally.fail(target.row, "membership_roles_differ", why)
            elif options.on_existing_membership == "update":
                tally.m_update += 1
            else:
                tally.m_present += 1
                tally.m_kept += 1
    finally:
        users.close()
    return tally


def _result(
    options: MigrationOptions,
    made: MigrationPlan,
    snapshot: EnvironmentSnapshot,
    uses: dict[tuple[str, str], _OrgUse],
    roles: set[str],
    tally: _Tally,
    started: float,
    *,
    exact: bool,
) -> tuple[LiveCheck, ApiCalls]:
    checks = [use.check for use in uses.values() if use.check is not None]
    to_create = sum(1 for check in checks if check.status is OrgStatus.WILL_BE_CREATED)
    failing = sum(1 for check in checks if not check.ok)
    verdicts = sorted(
        (
            OrganizationVerdict(
                organization=use.key.describe(),
                status=use.check.status,
                organization_id=use.check.organization_id,
                rows=use.rows,
                first_rows=use.first_rows,
                message=use.check.message,
            )
            for use in uses.values()
            if use.check is not None
        ),
        key=lambda verdict: (verdict.status in (OrgStatus.EXISTS, OrgStatus.WILL_BE_CREATED), -verdict.rows),
    )[:_MAX_VERDICTS]
    writes = tally.create + tally.update + tally.m_create + tally.m_update + made.api_calls.totp_enrollments
    calls = ApiCalls(
        user_creates=tally.create,
        membership_creates=tally.m_create,
        totp_enrollments=made.api_calls.totp_enrollments,
        organization_lookups=0,
        organization_creates_max=to_create,
        writes=writes,
        total=writes + to_create,
    )
    issues = sorted(tally.issues.values(), key=lambda issue: -issue.count)
    errors = []
    if options.single_org and checks and not checks[0].ok:
        errors.append(f"{_option_flag(options)}: {checks[0].message}")
    elif tally.failing:
        detail = "; ".join(
            f"{issue.code} x{issue.count:,} (rows {rows_text(issue.rows, issue.count)})" for issue in issues
        )
        errors.append(f"{tally.failing:,} rows would fail in WorkOS: {detail}")
    return LiveCheck(
        key_valid=True,
        checked_at=started,
        users_counted="exact" if exact else "snapshot",
        organizations_existing=sum(1 for check in checks if check.status is OrgStatus.EXISTS),
        organizations_to_create=to_create,
        organizations_failing=failing,
        organizations=verdicts,
        roles=sorted(roles),
        users_to_create=tally.create,
        users_to_adopt=tally.adopt,
        users_to_update=tally.update,
        users_to_skip=tally.skip,
        memberships_to_create=tally.m_create,
        memberships_present=tally.m_present,
        memberships_kept_with_other_roles=tally.m_kept,
        memberships_to_update=tally.m_update,
        failing_rows=tally.failing,
        issues=issues,
        writes=writes + to_create,
        requests=snapshot.requests,
        errors=errors,
    ), calls


def _rejected_check(started: float) -> LiveCheck:
    return LiveCheck(
        key_valid=False, checked_at=started, users_counted="exact", organizations_existing=0,
        organizations_to_create=0, organizations_failing=0, organizations=[], roles=[], users_to_create=0,
        users_to_adopt=0, users_to_update=0, users_to_skip=0, memberships_to_create=0, memberships_present=0,
        memberships_kept_with_other_roles=0, memberships_to_update=0, failing_rows=0, issues=[], writes=0,
        requests=1, errors=[],
    )  # fmt: skip
