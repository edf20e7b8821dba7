"""What a recorded row failure means: is a re-run going to fix it, why, and what to change if not.

``classify`` reads a failure as the engine recorded it (phase, HTTP status, code, sub-codes and the
engine's own retryable flag) and answers a ``Verdict``: retryable or not, a category, a severity, the
reason in one sentence and a concrete suggestion. The rules follow what the engine does on a re-run of
the same row: it looks a user up by email before creating it and adopts it, treats an existing membership
as done, and reconciles every write whose outcome was unknown, so 429s, 5xx, timeouts and unknown
outcomes are retryable; an existing email refused by ``--on-existing-user fail`` is a policy outcome;
validation failures and WorkOS's 4xx answers need a change first. ``normalise_message`` masks emails,
ids, quoted values and numbers so that failures group by cause. Reading failures and writing files are
left to ``analyze`` and ``retrycsv``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Literal

from core.rules import RULES

__all__ = ["KNOWN_CODES", "RERUN_SUGGESTION", "Category", "Severity", "Verdict", "classify", "normalise_message"]

Category = Literal["transient", "data", "configuration", "policy"]
"""How to act: re-run as is (transient), fix the row (data), change an option or the WorkOS environment
(configuration), or nothing, since the chosen option did what it says (policy)."""

Severity = Literal["error", "warning", "info"]
"""error: the rows stay out until something changes; warning: a re-run imports them; info: policy."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a failure means for a re-run of its row."""

    retryable: bool
    category: Category
    reason: str
    suggestion: str

    @property
    def severity(self) -> Severity:
        if self.retryable:
            return "warning"
        return "info" if self.category == "policy" else "error"


RERUN_SUGGESTION = "Re-run these rows: analyze --retry-csv writes them to a retry file and prints the command."
_ADOPTS = "a re-run looks the user up by email first and adopts it, so it is never created twice"

# What a re-run does after a transient failure in each phase.
_RERUN_BY_PHASE = {
    "organization": "a re-run resolves the organization again, by external id first, so it is never created twice",
    "user": _ADOPTS,
    "membership": "the user exists (this run created or adopted it); a re-run adopts it and adds only the missing "
    "membership",
    "role": "the user exists; a re-run adopts it and adds the membership with its roles",
    "totp": "the user and membership exist; a re-run enrols the TOTP factor only if it is still missing",
}
_RERUN_DEFAULT = "a re-run sends the request again after looking up what already exists"

_POLICY = Verdict(
    False,
    "policy",
    "a user with this email existed before the run and --on-existing-user fail refused it: the policy chosen, "
    "not an error",
    "To import these rows anyway, re-run them with --on-existing-user adopt (keep the existing user, add the "
    "membership) or update (also overwrite its name, password hash and metadata); analyze with "
    "--include-non-retryable puts them in the retry file.",
)

_FIX_IN_RETRY_FILE = (
    "then analyze with --include-non-retryable and fix these rows in the retry file before re-running it (the source "
    "CSV must stay as the job ran it)"
)
_FIX_THEN_RERUN = "then analyze with --include-non-retryable and re-run the retry file unchanged"


def _data(reason: str, action: str) -> Verdict:
    """A failure the row's own values cause: fix the row."""
    return Verdict(False, "data", reason, f"{action}; {_FIX_IN_RETRY_FILE}.")


def _configuration(reason: str, action: str) -> Verdict:
    """A failure an option or the WorkOS environment causes: change it, then re-run the same rows."""
    return Verdict(False, "configuration", reason, f"{action}; {_FIX_THEN_RERUN}.")


# Codes whose meaning does not depend on the HTTP status (which is absent for the engine's own codes).
_CODES: dict[str, Verdict] = {
    "organization_not_found": _configuration(
        "the organization the row names does not exist in WorkOS",
        "Create it in WorkOS, or add --create-org-if-missing to the re-run command (the rows need org_name), or "
        "correct org_id / org_external_id in the retry file",
    ),
    "organization_name_missing": _data(
        "the organization does not exist and the row has no org_name to create it with",
        "Fill in org_name (the name --create-org-if-missing creates the organization with)",
    ),
    "organization_name_ambiguous": _data(
        "several WorkOS organizations have this exact name, so the name alone cannot say which one",
        "Name the organization by org_id or org_external_id instead",
    ),
    "organization_missing": _data(
        "the row has no organization and --require-membership is set",
        "Add org_id, org_external_id or org_name, or drop --require-membership from the re-run command to import "
        "these users without a membership",
    ),
    "organization_create_failed": Verdict(
        True,
        "transient",
        "creating the organization kept ending with an unknown outcome; " + _RERUN_BY_PHASE["organization"],
        RERUN_SUGGESTION,
    ),
    "external_id_already_used": _data(
        "another WorkOS user (or organization) already has this external_id; WorkOS keeps it unique",
        "Clear or change external_id (the WorkOS dashboard shows which user holds it)",
    ),
    "invalid_password_hash": _data(
        "WorkOS could not parse password_hash for its password_hash_type",
        "Check that password_hash_type matches the hash (bcrypt hashes start with $2a$, $2b$ or $2y$; "
        "firebase-scrypt needs the project's signer key and salt separator in the hash)",
    ),
    "password_strength_error": _data(
        "WorkOS rejected the plaintext password as too weak",
        "Give these users a stronger password, import their password hash instead, or leave password empty (they "
        "reset it on first sign-in)",
    ),
    "invalid_metadata": _data(
        "WorkOS rejected the metadata (at most 50 keys, keys up to 40 characters, string values up to 600)",
        "Trim the metadata column (workos-migrate validate names the broken key)",
    ),
    "invalid_role": _configuration(
        "a role slug on the row does not exist in this WorkOS environment; the user exists, only the membership "
        "is missing, and a re-run adopts the user and adds it",
        "Create the role in the WorkOS dashboard (Roles), or correct role_slugs in the retry file",
    ),
    "multiple_roles_not_enabled": _configuration(
        "the row has several role slugs and this WorkOS environment allows one role per membership",
        "Enable multiple roles for the environment in the WorkOS dashboard, or keep one slug per row in the retry file",
    ),
    "cannot_reactivate_pending_organization_membership": _configuration(
        "the user has a pending invitation to this organization, which WorkOS cannot turn into a membership",
        "Accept or revoke the pending invitation in WorkOS",
    ),
    "unexpected_error": _data(
        "the row raised an error nothing expected (the message names the phase and the exception's class); the "
        "rest of the job went on",
        "Look at the row's values in the phase named (and report the message if the row looks right)",
    ),
    "invalid_request_parameters": _data(
        "WorkOS rejected the request's fields (422)", "Fix the fields the message and sub-codes name"
    ),
}

KNOWN_CODES = frozenset(_CODES) | {"email_not_available", "user_already_exists"}
"""The codes with a meaning of their own (the rest are read by status); docs/errors.md documents each."""

_NOT_FOUND = _configuration(
    "WorkOS answered 404: the user or organization was not found when it was used (deleted during the run?)",
    "Check that the organization and the user exist in WorkOS",
)
_RATE_LIMITED = Verdict(
    True,
    "transient",
    "WorkOS kept answering 429 after every retry and pause",
    "Re-run these rows with a lower --rate-limit (for example half the value used) or fewer --workers.",
)
_REJECTED = _data(
    "WorkOS rejected the request (4xx): the same request fails the same way", "Fix what the message names"
)
_UNSENDABLE = _configuration(
    "the request could not be sent at all (an unusable URL or request)", "Check WORKOS_BASE_URL and the network"
)
_UNKNOWN = _data(
    "the failure carries no status or code this tool knows",
    "Read the message and quote the request id to WorkOS support",
)


def resent_by_default(
    phase: str | None, status: int | None, code: str | None, sub_codes: str | None, retryable: bool | None
) -> bool:
    """Whether a failed row is sent again without being asked: it failed for a transient cause (a 5xx, a
    timeout, an unknown outcome, a refused connection, a 429), never for its data or a validation rule."""
    if phase == "validation":
        return False
    subs = tuple(filter(None, (sub_codes or "").split(",")))
    return classify(phase or "unknown", status, code or "unknown", subs, retryable).category == "transient"


def classify(
    phase: str, status: int | None, code: str, sub_codes: tuple[str, ...], recorded_retryable: bool | None
) -> Verdict:
    """What a re-run does with a row that failed this way (see the module docstring for the rules).

    ``recorded_retryable`` is the engine's own flag; it only decides the cases the other fields leave open
    (a transport error without status, an unknown code).
    """
    if phase == "validation":
        return _validation(code)
    codes = (code, *sub_codes)
    if "email_not_available" in codes or "user_already_exists" in codes:
        if status is None:
            return _POLICY
        return Verdict(True, "transient", f"the user already exists in WorkOS; {_ADOPTS}", RERUN_SUGGESTION)
    if code == "outcome_unknown":
        return _transient(phase, "WorkOS never confirmed the write, attempt after attempt (timeouts, dropped "
                          "connections or 5xx)")  # fmt: skip
    if status == 429:
        return _RATE_LIMITED
    if status is not None and (status >= 500 or status == 408):
        return _transient(phase, f"WorkOS answered {status}")
    for candidate in codes:
        if candidate in _CODES:
            return _CODES[candidate]
    if status == 404:
        return _NOT_FOUND
    if status is not None and 400 <= status < 500:
        return _REJECTED
    if status is None and code == "request_failed":
        if recorded_retryable is False:
            return _UNSENDABLE
        return _transient(phase, "no usable answer arrived (connection refused or reset, timeout)")
    if recorded_retryable:
        return _transient(phase, "the engine recorded the failure as transient")
    return _UNKNOWN


def _transient(phase: str, cause: str) -> Verdict:
    return Verdict(True, "transient", f"{cause}; {_RERUN_BY_PHASE.get(phase, _RERUN_DEFAULT)}", RERUN_SUGGESTION)


@cache
def _validation(code: str) -> Verdict:
    rule = RULES.get(code)
    if rule is None:
        return _data(f"the row broke validation rule {code} and was never sent", "Fix the row as the message says")
    column = f"column {rule.column}" if rule.column else "the row"
    auto = " (workos-migrate validate --auto-fix fixes it)" if rule.fixable else ""
    example = f"for example {rule.example_fix}" if "->" in rule.example_fix else rule.example_fix.rstrip(".")
    return _data(
        f"{rule.summary} The row was never sent, and the same row fails the same way", f"Fix {column}{auto}: {example}"
    )


_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_ID = re.compile(
    r"\b(?:[a-z]+(?:_[a-z]+)*_[0-9A-Z]{26}|[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}|[0-9a-fA-F]{16,})\b"
)
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_NUMBER = re.compile(r"\b\d+(?:[.,]\d+)*\b")


def _mask_quoted(match: re.Match[str]) -> str:
    text = match.group()
    return text if text[1:-1] == "<email>" else f"{text[0]}<value>{text[0]}"


def normalise_message(message: str) -> str:
    """``message`` with emails, WorkOS ids, uuids, long hex, quoted values and numbers masked.

    >>> normalise_message("Row 12, column email: 'ada@@x.io' is not valid (first on row 3)")
    "Row <number>, column email: '<value>' is not valid (first on row <number>)"
    """
    text = _EMAIL.sub("<email>", message) if "@" in message else message
    text = _ID.sub("<id>", text)
    if "'" in text or '"' in text:
        text = _QUOTED.sub(_mask_quoted, text)
    return _NUMBER.sub("<number>", text)
