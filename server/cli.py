"""The ``workos-migrate`` command line: a thin shell over ``core``.

Each command builds options, calls one core function and prints its result; ``--json`` prints the
same pydantic object the MCP tool returns. Exit codes: 0 success, 1 invalid plan or failed rows,
2 fatal (unusable options or file, no key).
"""

from __future__ import annotations

import sys

import click

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="workos-migrate")
def main() -> None:
    """Plan, validate, run, resume and analyse migrations of users into WorkOS User Management."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on (loopback by default).")
@click.option("--port", default=4100, show_default=True, type=click.IntRange(0, 65535), help="0 picks a free port.")
@click.option("--latency-ms", default=0.0, type=click.FloatRange(min=0), help="Fixed delay added to every API call.")
@click.option("--jitter-ms", default=0.0, type=click.FloatRange(min=0), help="Extra uniform random delay, 0..N ms.")
@click.option("--write-limit", type=click.IntRange(min=0), help="User-management writes per 10 s [500]; 0 = none.")
@click.option("--read-limit", type=click.IntRange(min=0), help="User-management reads per 10 s [1000]; 0 = none.")
@click.option("--global-limit", type=click.IntRange(min=0), help="All API requests per 60 s per key [6000]; 0 = none.")
@click.option(
    "--fault",
    "faults",
    multiple=True,
    metavar="ROUTE:KIND:RATE",
    help="e.g. 'POST /user_management/users:fail_after:0.05'. Kinds: fail_before, fail_after, drop_after, "
    "slow, burst_429. Repeatable.",
)
@click.option("--fault-seed", type=int, help="Seed of the fault and jitter RNG, for reproducible runs.")
@click.option("--slow-ms", default=30_000.0, show_default=True, type=click.FloatRange(min=0), help="Delay of 'slow'.")
@click.option("--seed", "seed_file", type=click.Path(dir_okay=False), help="Seed file (JSON; YAML with PyYAML).")
@click.option(
    "--multiple-roles/--no-multiple-roles", default=False, show_default=True, help="Allow more than one role slug."
)
@click.option(
    "--duplicate-membership-status",
    type=click.Choice(["400", "409", "422"]),
    default="409",
    show_default=True,
    help="Status of organization_membership_already_exists.",
)
@click.option("--api-key", "api_keys", multiple=True, help="Accept only these keys (default: any sk_test_ key).")
def sandbox(
    host: str,
    port: int,
    latency_ms: float,
    jitter_ms: float,
    write_limit: int | None,
    read_limit: int | None,
    global_limit: int | None,
    faults: tuple[str, ...],
    fault_seed: int | None,
    slow_ms: float,
    seed_file: str | None,
    multiple_roles: bool,
    duplicate_membership_status: str,
    api_keys: tuple[str, ...],
) -> None:
    """Run a local WorkOS stand-in to rehearse a migration (limits are N per the real 10 s/10 s/60 s windows)."""
    from core.errors import OptionsError
    from core.workos.sandbox import Sandbox, SandboxConfig, load_seed, parse_fault, ready_message, serve

    limits = {"write_limit": write_limit, "read_limit": read_limit, "global_limit": global_limit}
    try:
        config = SandboxConfig(
            **{name: value for name, value in limits.items() if value is not None},
            latency_ms=latency_ms,
            jitter_ms=jitter_ms,
            faults=tuple(parse_fault(spec) for spec in faults),
            fault_seed=fault_seed,
            slow_ms=slow_ms,
            multiple_roles_enabled=multiple_roles,
            duplicate_membership_status=int(duplicate_membership_status),
        )
        box = Sandbox(config, seed=load_seed(seed_file) if seed_file else None, api_keys=api_keys)
        serve(box, host=host, port=port, on_ready=lambda url: click.echo(ready_message(url, box.api_key)))
    except OptionsError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
