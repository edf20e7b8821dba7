"""Observers of row outcomes that tell a failure of the environment from a failure of rows.

When the same environment-level answer comes back for row after row (the organization the job resolved is
gone, a role missing everywhere), the rows are not at fault: the WorkOS environment changed behind the job.
``EnvironmentWatch.observe`` sees every recorded outcome. After ``threshold`` consecutive failed rows with
the same environment-level cause it asks the run loop to drop its caches and look again (``RECHECK``); if
the cause comes back ``confirm`` more times in a row after that, it asks it to stop the job (``STOP``), with
``reason`` to show and ``suspects`` (the rows that failed for it, to give back as pending). A row that
succeeds in between resets the count: one bad row is not an environment. A row that succeeds after a
re-check means the fresh look fixed it (say, the organization was created again): the rows that failed for
the cause are then ``resolved``, for the run loop to send once more.
"""

from __future__ import annotations

from enum import StrEnum

from core.store import RowOutcome, RowState

__all__ = ["ENVIRONMENT_CAUSES", "EnvironmentWatch", "WatchVerdict"]

# (phase, code) of answers about the environment rather than the row, by the cause they show: a 404 for the
# organization (or user) a membership names, which the job had resolved (deleted behind the job), and a role
# missing. An organization that does not resolve counts only once its resolved one went missing: a file that
# names an organization WorkOS never had is the rows' problem, row by row.
ENVIRONMENT_CAUSES = {
    ("membership", "not_found"): "organization_gone",
    ("membership", "entity_not_found"): "organization_gone",
    ("role", "invalid_role"): "role_missing",
}
_CONFIRMING = {("organization", "organization_not_found"): "organization_gone"}
_REASONS = {
    "organization_gone": "the organization (or user) the job resolved is gone from WorkOS",
    "role_missing": "a role the rows name does not exist in this WorkOS environment",
}


class WatchVerdict(StrEnum):
    """What the run loop should do after an outcome."""

    GO_ON = "go_on"
    RECHECK = "recheck"  # drop caches: the next rows look the environment up again
    STOP = "stop"  # the environment changed: stop the job interrupted, its suspect rows pending


class EnvironmentWatch:
    """Counts consecutive failed rows with one environment-level cause; see the module docstring."""

    def __init__(self, *, threshold: int = 10, confirm: int = 3) -> None:
        self._threshold = threshold
        self._confirm = confirm
        self._cause: str | None = None
        self._count = 0
        self._rechecked = False
        self.suspects: list[int] = []
        self.resolved: list[int] = []
        self.reason: str | None = None

    def observe(self, outcome: RowOutcome) -> WatchVerdict:
        if outcome.state is not RowState.FAILED:
            if outcome.state is RowState.DONE:
                if self._rechecked:
                    self.resolved += self.suspects
                self._reset()
            return WatchVerdict.GO_ON
        answer = (outcome.error_phase or "", outcome.error_code or "")
        cause = ENVIRONMENT_CAUSES.get(answer)
        if cause is None and self._cause is not None and _CONFIRMING.get(answer) == self._cause:
            cause = self._cause
        if cause is None:
            return WatchVerdict.GO_ON
        if cause != self._cause:
            self._reset()
            self._cause = cause
        self._count += 1
        self.suspects.append(outcome.row)
        if not self._rechecked and self._count >= self._threshold:
            self._rechecked = True
            self._count = 0
            return WatchVerdict.RECHECK
        if self._rechecked and self._count >= self._confirm:
            self.reason = (
                f"{_REASONS[cause]} ({answer[1]} for {len(self.suspects):,} rows in a row, again after a fresh "
                f"look): fix the environment (or the job's options), then resume; those rows are pending again"
            )
            return WatchVerdict.STOP
        return WatchVerdict.GO_ON

    def take_resolved(self) -> list[int]:
        """The rows to send again (their cause went away after a fresh look), once."""
        rows, self.resolved = self.resolved, []
        return rows

    def _reset(self) -> None:
        self._cause = None
        self._count = 0
        self._rechecked = False
        self.suspects = []
