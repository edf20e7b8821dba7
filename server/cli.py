"""The ``workos-migrate`` command line: a thin shell over ``core``.

Each command builds options, calls one core function and prints its result; ``--json`` prints the
same pydantic object the MCP tool returns. Exit codes: 0 success, 1 invalid plan or failed rows,
2 fatal (unusable options or file, no key).
"""

from __future__ import annotations

import click

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="workos-migrate")
def main() -> None:
    """Plan, validate, run, resume and analyse migrations of users into WorkOS User Management."""
