"""MigrationOrchestrator: the library's front object, mirroring the orchestrator document's usage.

``MigrationOrchestrator(options).plan()`` returns the ``MigrationPlan``; running the migration is added
by the import engine. The CLI and the MCP server call this object, never the modules behind it.
"""

from __future__ import annotations

from core.options import MigrationOptions
from core.planner import MigrationPlan, plan

__all__ = ["MigrationOrchestrator"]


class MigrationOrchestrator:
    """Plan (and later run) one migration described by ``options``.

    Example::

        orchestrator = MigrationOrchestrator(MigrationOptions.build(csv_path="users.csv", org_id="org_123"))
        result = orchestrator.plan()
        if not result.valid:
            print(result.errors)
    """

    def __init__(self, options: MigrationOptions, *, api_key: str | None = None) -> None:
        self.options = options
        self._api_key = api_key

    def plan(self) -> MigrationPlan:
        """Plan the migration (no API call, no write). Raises ``SourceError`` or ``OptionsError`` when unusable."""
        return plan(self.options, api_key=self._api_key)
