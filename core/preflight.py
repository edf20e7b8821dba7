"""The live preflight: what WorkOS already holds, checked read-only before any write.

``check_org_option`` refuses an organization option (``--org-id``, ``--org-external-id``, ``--org-name``)
that cannot work, before a job is created: both front doors call it on the way to a job. Every request
here is a read (``get`` and ``list``), paced by the same limiter classes a job uses.
"""

from __future__ import annotations

import anyio

from core.errors import AuthenticationError, OptionsError
from core.options import MigrationOptions
from core.orgs import OrgCheck, classify_org, find_org, option_org_key
from core.workos.client import WorkOSClient
from core.workos.limits import RateLimiter

__all__ = ["check_org_option", "preflight_client", "verify_org_option"]


def preflight_client(options: MigrationOptions, api_key: str) -> WorkOSClient:
    """A client for read-only checks, paced at the job's rates."""
    limiter = RateLimiter(
        write_rate=options.rate_limit, read_rate=options.read_rate_limit, general_rate=options.global_rate_limit
    )
    return WorkOSClient(api_key=api_key, base_url=options.base_url, limiter=limiter, concurrency=4)


def _option_flag(options: MigrationOptions) -> str:
    if options.org_id:
        return f"--org-id {options.org_id}"
    if options.org_external_id:
        return f"--org-external-id {options.org_external_id}"
    return f"--org-name {options.org_name}"


async def check_org_option(options: MigrationOptions, *, api_key: str) -> OrgCheck | None:
    """Resolve the organization option read-only; None when there is none.

    Raises ``OptionsError`` naming the option when the organization does not exist (and will not be
    created), has no name to be created with, or its name is ambiguous; ``AuthenticationError`` saying the
    key was rejected; other ``WorkOSError``s when WorkOS cannot answer.
    """
    key = option_org_key(options.org_id, options.org_external_id, options.org_name)
    if key is None:
        return None
    async with preflight_client(options, api_key) as client:
        try:
            matches = await find_org(client, key)
        except AuthenticationError as exc:
            raise AuthenticationError(exc.rejection, status=exc.status, request_id=exc.request_id) from None
    check = classify_org(key, matches, create_if_missing=options.create_org_if_missing)
    if not check.ok:
        raise OptionsError(f"{_option_flag(options)}: {check.message}")
    return check


def verify_org_option(options: MigrationOptions, *, api_key: str) -> OrgCheck | None:
    """``check_org_option`` for synchronous callers (the CLI)."""
    return anyio.run(lambda: check_org_option(options, api_key=api_key))
