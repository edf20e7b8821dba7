"""Confirmations for writes, held by the server: a form when the client can show one, else a confirmation code.

Why a write needs a person's word is ``core.app.confirmation_reasons``'s decision; how it is asked is this
module's. The model never confirms for the user:
- on a client that declared elicitation (Claude Code, VS Code, Cursor), every write that needs a word asks
  through the form, whatever the arguments say (bounded in time on handshake-era connections, where the
  server waits for the answer; on 2026-07-28 the question rides back with the result);
- on a chat-only client (Claude Desktop), the refusal carries a short confirmation code bound to the plan's
  hash and the question's text, and tells the assistant to show the question and the code to the user and
  wait for their answer; only a call that comes back with that code proceeds. A changed plan or question
  changes the code. The code is an HMAC under a key kept in the state directory (0600), so it is the same in
  every server process and cannot be worked out from the question.
``MIGRATION_CONFIRM_MODE`` forces one path (``elicit``: form only; ``code``: never a form, for hosts that
declare forms but never show them). ``Question`` holds what is asked, derived only from the plan or job and
the arguments, so its text is the same on every round of a 2026-07-28 call. Starting jobs is
``server.jobs``'s business.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import anyio
from mcp.server.mcpserver import AcceptedElicitation, Context, Elicit, ElicitationResult
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types.version import is_version_at_least
from pydantic import BaseModel, Field

from core.app import ConfirmReason
from core.options import MigrationOptions
from core.outfile import PRIVATE_MODE
from server.settings import ConfirmMode
from server.untrusted import fence

__all__ = [
    "INPUT_REQUIRED_VERSION",
    "Answer",
    "Confirmation",
    "OrganizationAnswer",
    "Question",
    "ask",
    "confirmation_key",
    "settle",
]

logger = logging.getLogger(__name__)

INPUT_REQUIRED_VERSION = "2026-07-28"
"""The first protocol revision where a question rides back to the client inside the tool's result
(InputRequiredResult), so the server never waits for the answer itself."""

_KEY_FILE = "confirmation.key"

OrganizationChoice = Literal["organization id", "organization external id", "no organization"]


class Answer(BaseModel):
    """The confirmation form: one checkbox."""

    confirm: bool = Field(description="Tick to start the import.")


class OrganizationAnswer(Answer):
    """The confirmation form when the organization is still open."""

    organization: OrganizationChoice = Field(description="How every user joins an organization, or none.")
    value: str = Field(default="", description="The organization id (org_...) or external id; empty for none.")


class Confirmation(BaseModel):
    """How a write was confirmed, and the organization chosen in the form, if one was asked for."""

    how: Literal["code", "elicitation", "not needed"]
    mode: ConfirmMode = "auto"
    org_id: str | None = None
    org_external_id: str | None = None

    @property
    def record(self) -> str:
        """What the job store keeps: the path, and the forced mode when the operator set one."""
        return self.how if self.mode == "auto" else f"{self.how} (MIGRATION_CONFIRM_MODE={self.mode})"

    def apply(self, options: MigrationOptions) -> MigrationOptions:
        """``options`` with the organization chosen in the form.

        The form is offered only for files without organization columns, where creating organizations has
        no effect: that option is dropped, so the chosen organization never meets a rule the form cannot
        satisfy (an id cannot be created; an external id to create would need a name).
        """
        if self.org_id or self.org_external_id:
            values = options.model_dump(exclude_none=True, exclude={"create_org_if_missing", "org_name"})
            return MigrationOptions.build(**values, org_id=self.org_id, org_external_id=self.org_external_id)
        return options


def confirmation_key(state_dir: Path) -> bytes:
    """The key confirmation codes are made with, created once (0600) in the state directory."""
    path = state_dir / _KEY_FILE
    try:
        return bytes.fromhex(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        pass
    state_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), PRIVATE_MODE)
    except FileExistsError:  # another server process made it meanwhile
        return bytes.fromhex(path.read_text().strip())
    with os.fdopen(descriptor, "w") as handle:
        handle.write(key.hex() + "\n")
    return key


_REASON_TEXT = {
    ConfirmReason.LIVE_KEY: "the key is a live (production) key",
    ConfirmReason.LARGE_IMPORT: "more than 10,000 rows",
    ConfirmReason.NO_ORGANIZATION: "no organization",
    ConfirmReason.UNSHOWN_PLAN: "a plan made in this call, not shown to the user",
    ConfirmReason.DELETES: "it deletes objects from WorkOS",
}


@dataclass(frozen=True, slots=True)
class Question:
    """What a write needs confirmed, what the confirmation is bound to, and the call that repeats it."""

    verb: str  # "Import" or "Resume job ...: send"
    rows: int
    csv_name: str
    base_url: str
    reasons: tuple[ConfirmReason, ...]
    estimate: str | None
    bound_to: str  # the plan hash (or the job's, with what the resume sends): a code confirms only this
    retry_call: str  # the tool call to repeat, without the code: execute_migration(plan_id="...")
    subject: str | None = None  # what is done, when it is not an import of rows (undo): replaces "Import N rows"

    @property
    def needed(self) -> bool:
        return bool(self.reasons)

    @property
    def live(self) -> bool:
        return ConfirmReason.LIVE_KEY in self.reasons

    @property
    def choose_organization(self) -> bool:
        return ConfirmReason.NO_ORGANIZATION in self.reasons

    def message(self) -> str:
        """The question, from the plan or job and the arguments only (the same text on every round)."""
        environment = "LIVE (production)" if self.live else "test"
        duration = f" Estimated duration: {self.estimate}." if self.estimate else ""
        why = ", ".join(_REASON_TEXT[reason] for reason in self.reasons)
        if self.subject is not None:
            return f"{self.subject} in the {environment} WorkOS environment at {self.base_url}? (Asked because: {why}.)"
        text = (
            f"{self.verb} {self.rows:,} rows from {fence(self.csv_name)} into the {environment} WorkOS environment "
            f"at {self.base_url}?{duration} (Asked because: {why}.)"
        )
        if self.choose_organization:
            text += (
                " The file has no organization columns and no organization was given: choose the organization every "
                "user joins, or 'no organization' to import the users without memberships."
            )
        return text

    def form(self) -> type[Answer]:
        return OrganizationAnswer if self.choose_organization else Answer

    def code(self, key: bytes) -> str:
        """The confirmation code of this question: 6 letters and digits, bound to ``bound_to`` and the text."""
        digest = hmac.new(key, f"{self.bound_to}\n{self.message()}".encode(), hashlib.sha256).digest()
        letters = base64.b32encode(digest).decode()[:6]
        return f"{letters[:3]}-{letters[3:]}"

    def with_code(self, code: str) -> str:
        return self.retry_call[:-1] + f', confirmation_code="{code}")'

    def chat_instructions(self, code: str) -> str:
        """How the assistant gets the user's word without a form: show the question and the code, then wait."""
        organization = (
            " If they name an organization instead, call plan_migration again with org_id or org_external_id and "
            "show them the new plan."
            if self.choose_organization
            else ""
        )
        return (
            f"Show the user this question and the confirmation code {code}, then wait for their answer: never "
            f"answer it yourself. Only if the user confirms in their own message, call {self.with_code(code)}."
            + organization
        )


def _can_show_form(ctx: Context) -> bool:
    capabilities = ctx.client_capabilities
    elicitation = capabilities.elicitation if capabilities is not None else None
    return elicitation is not None and (elicitation.form is not None or elicitation.url is None)


async def ask(
    ctx: Context, question: Question, *, code: str | None, mode: ConfirmMode, timeout: float, key: bytes
) -> Confirmation | Elicit[Any]:
    """Decide how this write is confirmed: proceed, ask through a form, or refuse with what to do instead.

    On handshake-era connections the form is awaited here, at most ``timeout`` seconds; on 2026-07-28
    connections the ``Elicit`` goes back to the client with the result and the answer comes on the retry.
    Raises ``ToolError`` when the write may not proceed now.
    """
    if not question.needed:
        return Confirmation(how="not needed", mode=mode)
    can_ask = _can_show_form(ctx)
    if mode == "code" or (mode == "auto" and not can_ask):
        expected = question.code(key)
        if code is not None and hmac.compare_digest(code.strip().upper(), expected):
            return Confirmation(how="code", mode=mode)
        raise ToolError(_code_refusal(question, expected, given=code, mode=mode))
    if not can_ask:
        raise ToolError(
            f"Confirmation needed: {question.message()} This server accepts confirmations only through the "
            "client's confirmation form (MIGRATION_CONFIRM_MODE=elicit) and this client cannot show one, so nothing "
            "was started. Run the migration from the workos-migrate command line, or from a client with forms."
        )
    version = ctx.protocol_version
    if version is not None and is_version_at_least(version, INPUT_REQUIRED_VERSION):
        return Elicit(question.message(), question.form())
    with anyio.move_on_after(timeout):
        return settle(await ctx.elicit(question.message(), question.form()), question, mode=mode)
    raise ToolError(
        f"Confirmation needed: {question.message()} No answer came from the confirmation form within "
        f"{timeout:g} s, so nothing was started. Ask the user whether they saw the form. If this client never "
        "shows forms, the server's operator can set MIGRATION_CONFIRM_MODE=code to confirm in chat instead."
    )


def _code_refusal(question: Question, expected: str, *, given: str | None, mode: ConfirmMode) -> str:
    if given is not None:
        head = (
            "The confirmation code given is not the code of this question (the plan, the question or the target "
            "changed, or the code was mistyped); nothing was started."
        )
    else:
        why = (
            "this server takes confirmations in chat (MIGRATION_CONFIRM_MODE=code)"
            if mode == "code"
            else "this client cannot show a confirmation form"
        )
        head = f"Nothing was started: {why}."
    return f"Confirmation needed: {question.message()} {head} {question.chat_instructions(expected)}"


def settle(outcome: ElicitationResult[Any], question: Question, *, mode: ConfirmMode) -> Confirmation:
    """The confirmation in a resolver's outcome: a decision ``ask`` made, or the user's answer to the form.

    Raises ``ToolError`` on decline, cancel, an unticked box or an organization choice without a value.
    """
    if not isinstance(outcome, AcceptedElicitation):
        logger.info("confirmation form %s", outcome.action)
        verb = "declined" if outcome.action == "decline" else "dismissed"
        raise ToolError(
            f"The user {verb} the confirmation form ({question.message()}); nothing was started. Do not call "
            f"again unless the user asks for it in chat; then call {question.retry_call} and the form is shown again."
        )
    answer = outcome.data
    if isinstance(answer, Confirmation):
        return answer
    if not answer.confirm:
        raise ToolError(
            f"The user did not tick 'confirm' in the form ({question.message()}); nothing was started. If the "
            f"user asks for it in chat, call {question.retry_call} and the form is shown again."
        )
    if not isinstance(answer, OrganizationAnswer) or answer.organization == "no organization":
        return Confirmation(how="elicitation", mode=mode)
    value = answer.value.strip()
    if not value:
        raise ToolError(
            f"The form chose '{answer.organization}' but gave no value; nothing was started. Call "
            f"{question.retry_call} again and the form is shown again."
        )
    if answer.organization == "organization id":
        return Confirmation(how="elicitation", mode=mode, org_id=value)
    return Confirmation(how="elicitation", mode=mode, org_external_id=value)
