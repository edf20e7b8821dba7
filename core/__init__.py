"""workos-migrate's engine: plan, validate, run migrations into WorkOS and analyse their failures.

A library with no knowledge of terminals or MCP: the CLI and the MCP server in ``server`` call what is
exported here.
"""

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
from core.validation import ValidationReport, validate_csv

__all__ = [
    "RULES",
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
