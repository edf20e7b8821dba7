"""workos-migrate's engine: plan, validate, run migrations into WorkOS and analyse their failures.

A library with no knowledge of terminals or MCP: the CLI and the MCP server in ``server`` call what is
exported here.

Names are imported on first use (PEP 562), so ``import core.planner`` does not also load the engine, the
HTTP client and the analyzer: planning a large file stays small.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.analyze import ErrorAnalysis, ErrorGroup, analyze_errors
    from core.csvsource import Columns, CsvSource, sha256_file
    from core.errors import (
        AuthenticationError,
        Conflict,
        InvalidRequest,
        JobStateError,
        MigrationError,
        NotFound,
        OptionsError,
        RateLimited,
        ServerError,
        SourceError,
        StoreError,
        TransportError,
        WorkOSError,
    )
    from core.options import MigrationOptions, check_paths
    from core.orchestrator import MigrationOrchestrator
    from core.planner import MigrationPlan, plan
    from core.records import Issue, RowValidator, UserRecord, to_record
    from core.rules import RULES
    from core.steps import Action, NextAction
    from core.validation import ValidationReport, validate_csv

_EXPORTS = {
    "ErrorAnalysis": "core.analyze",
    "ErrorGroup": "core.analyze",
    "analyze_errors": "core.analyze",
    "Columns": "core.csvsource",
    "CsvSource": "core.csvsource",
    "sha256_file": "core.csvsource",
    "AuthenticationError": "core.errors",
    "Conflict": "core.errors",
    "InvalidRequest": "core.errors",
    "JobStateError": "core.errors",
    "MigrationError": "core.errors",
    "NotFound": "core.errors",
    "OptionsError": "core.errors",
    "RateLimited": "core.errors",
    "ServerError": "core.errors",
    "SourceError": "core.errors",
    "StoreError": "core.errors",
    "TransportError": "core.errors",
    "WorkOSError": "core.errors",
    "MigrationOptions": "core.options",
    "check_paths": "core.options",
    "MigrationOrchestrator": "core.orchestrator",
    "MigrationPlan": "core.planner",
    "plan": "core.planner",
    "Issue": "core.records",
    "RowValidator": "core.records",
    "UserRecord": "core.records",
    "to_record": "core.records",
    "RULES": "core.rules",
    "Action": "core.steps",
    "NextAction": "core.steps",
    "ValidationReport": "core.validation",
    "validate_csv": "core.validation",
}

__all__ = [
    "RULES",
    "Action",
    "AuthenticationError",
    "Columns",
    "Conflict",
    "CsvSource",
    "ErrorAnalysis",
    "ErrorGroup",
    "InvalidRequest",
    "Issue",
    "JobStateError",
    "MigrationError",
    "MigrationOptions",
    "MigrationOrchestrator",
    "MigrationPlan",
    "NextAction",
    "NotFound",
    "OptionsError",
    "RateLimited",
    "RowValidator",
    "ServerError",
    "SourceError",
    "StoreError",
    "TransportError",
    "UserRecord",
    "ValidationReport",
    "WorkOSError",
    "analyze_errors",
    "check_paths",
    "plan",
    "sha256_file",
    "to_record",
    "validate_csv",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'core' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
