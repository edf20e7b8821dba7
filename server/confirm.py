"""Confirmations for writes: the CLI's questions, asked through elicitation or answered with ``yes=true``.

Two situations need a person's word before a write, as in the CLI: a file without organization columns and
no organization option (which organization, or explicitly none?), and an import of more than 10,000 rows
or any write with a live key (row count, target environment, duration estimate). ``Question`` holds what
is asked, derived only from the plan or job and the arguments, so its text is the same on every round of
a 2026-07-28 call. ``ask`` is the body of the tools' resolvers: no question -> proceed; ``yes=true`` ->
proceed (unless the operator forced elicitation); a client that declared elicitation -> a form (bounded in
time on handshake-era connections, where the server waits for the answer); otherwise a ``ToolError`` that
tells the assistant to ask in chat and call again with ``yes=true``. ``settle`` turns the answer into a
``Confirmation``, which the tool records with the job. Starting jobs is ``server.jobs``'s business.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

import anyio
from mcp.server.mcpserver import AcceptedElicitation, Context, Elicit, ElicitationResult
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types.version import is_version_at_least
from pydantic import BaseModel, Field

from core.options import MigrationOptions
from server.settings import ConfirmMode

__all__ = [
    "INPUT_REQUIRED_VERSION",
    "LARGE_IMPORT_ROWS",
    "Answer",
    "Confirmation",
    "OrganizationAnswer",
    "Question",
    "ask",
    "settle",
]

logger = logging.getLogger(__name__)

LARGE_IMPORT_ROWS = 10_000
"""Above this many rows a write needs confirming, as the CLI's prompt does."""

# The first protocol revision where a question rides back to the client inside the tool's result
# (InputRequiredResult), so the server never waits for the answer itself.
INPUT_REQUIRED_VERSION = "2026-07-28"

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

    how: Literal["yes", "elicitation", "not needed"]
    mode: ConfirmMode = "auto"
    org_id: str | None = None
    org_external_id: str | None = None

    @property
    def record(self) -> str:
        """What the job store keeps: the path, and the forced mode when the operator set one."""
        return self.how if self.mode == "auto" else f"{self.how} (MIGRATION_CONFIRM_MODE={self.mode})"

    def apply(self, options: MigrationOptions) -> MigrationOptions:
        """``options`` with the organization chosen in the form."""
        if self.org_id or self.org_external_id:
            return MigrationOptions.build(
                **options.model_dump(exclude_none=True), org_id=self.org_id, org_external_id=self.org_external_id
            )
        return options


@dataclass(frozen=True, slots=True)
class Question:
    """What a write needs confirmed, and the call that repeats it with ``yes=true``."""

    verb: str  # "Import" or "Resume"
    rows: int
    csv_name: str
    base_url: str
    live: bool
    estimate: str | None
    choose_organization: bool
    retry_call: str

    @property
    def large(self) -> bool:
        return self.rows > LARGE_IMPORT_ROWS

    @property
    def needed(self) -> bool:
        return self.choose_organization or self.large or self.live

    def message(self) -> str:
        """The question, from the plan or job and the arguments only (the same text on every round)."""
        environment = "LIVE (production)" if self.live else "test"
        duration = f" Estimated duration: {self.estimate}." if self.estimate else ""
        text = (
            f"{self.verb} {self.rows:,} rows from {self.csv_name} into the {environment} WorkOS environment at "
            f"{self.base_url}?{duration}"
        )
        if self.choose_organization:
            text += (
                f" {self.csv_name} has no organization columns and no organization was given: choose the "
                "organization every user joins, or 'no organization' to import the users without memberships."
            )
        return text

    def form(self) -> type[Answer]:
        return OrganizationAnswer if self.choose_organization else Answer

    def chat_instructions(self) -> str:
        """How the assistant gets the user's word without a form."""
        if self.choose_organization:
            return (
                "Ask the user in chat which organization every user should join. If they name one, call "
                "plan_migration again with org_id or org_external_id and show the new plan; if they want no "
                f"organization and confirm, call {self.retry_call}."
            )
        return f"Ask the user in chat; if they confirm, call {self.retry_call}."


async def ask(
    ctx: Context, question: Question, *, yes: bool, mode: ConfirmMode, timeout: float
) -> Confirmation | Elicit[Any]:
    """Decide how this write is confirmed: proceed, ask through a form, or refuse with what to do instead.

    On handshake-era connections the form is awaited here, at most ``timeout`` seconds; on 2026-07-28
    connections the ``Elicit`` goes back to the client with the result and the answer comes on the retry.
    Raises ``ToolError`` when the write may not proceed now.
    """
    if not question.needed:
        return Confirmation(how="not needed", mode=mode)
    if yes and mode != "elicit":
        return Confirmation(how="yes", mode=mode)
    capabilities = ctx.client_capabilities
    elicitation = capabilities.elicitation if capabilities is not None else None
    can_ask = elicitation is not None and (elicitation.form is not None or elicitation.url is None)
    if mode == "yes-arg" or not can_ask:
        raise ToolError(_refusal(question, mode, can_ask))
    if ctx.protocol_version is not None and is_version_at_least(ctx.protocol_version, INPUT_REQUIRED_VERSION):
        return Elicit(question.message(), question.form())
    with anyio.move_on_after(timeout):
        return settle(await ctx.elicit(question.message(), question.form()), question, mode=mode)
    raise ToolError(
        f"Confirmation needed: {question.message()} No answer came from the confirmation form within "
        f"{timeout:g} s, so nothing was started. {question.chat_instructions()}"
    )


def _refusal(question: Question, mode: ConfirmMode, can_ask: bool) -> str:
    if mode == "elicit":
        return (
            f"Confirmation needed: {question.message()} This server accepts confirmations only through the "
            "client's confirmation form (MIGRATION_CONFIRM_MODE=elicit) and this client cannot show one, so "
            "yes=true is not accepted. Run the migration from the workos-migrate CLI, or from a client that "
            "supports elicitation."
        )
    reason = (
        "this server is set to take confirmations as yes=true (MIGRATION_CONFIRM_MODE=yes-arg)"
        if can_ask
        else "this client cannot show a confirmation form"
    )
    return f"Confirmation needed: {question.message()} Nothing was started: {reason}. {question.chat_instructions()}"


def settle(outcome: ElicitationResult[Any], question: Question, *, mode: ConfirmMode) -> Confirmation:
    """The confirmation in a resolver's outcome: a decision ``ask`` made, or the user's answer to the form.

    Raises ``ToolError`` on decline, cancel, an unticked box or an organization choice without a value.
    """
    if not isinstance(outcome, AcceptedElicitation):
        logger.info("confirmation form %s", outcome.action)
        verb = "declined" if outcome.action == "decline" else "dismissed"
        raise ToolError(
            f"The user {verb} the confirmation form ({question.message()}); nothing was started. Do not call "
            f"again unless the user asks for it in chat; if they then confirm, call {question.retry_call}."
        )
    answer = outcome.data
    if isinstance(answer, Confirmation):
        return answer
    if not answer.confirm:
        raise ToolError(
            f"The user did not tick 'confirm' in the form ({question.message()}); nothing was started. If the "
            f"user confirms in chat, call {question.retry_call}."
        )
    if not isinstance(answer, OrganizationAnswer) or answer.organization == "no organization":
        return Confirmation(how="elicitation", mode=mode)
    value = answer.value.strip()
    if not value:
        raise ToolError(
            f"The form chose '{answer.organization}' but gave no value; nothing was started. Ask the user for it, "
            "then call plan_migration again with org_id or org_external_id."
        )
    if answer.organization == "organization id":
        return Confirmation(how="elicitation", mode=mode, org_id=value)
    return Confirmation(how="elicitation", mode=mode, org_external_id=value)
