"""The sandbox's run-time behaviour: rate limits, latency, faults, 429 style and API switches.

``SandboxConfig`` is what ``GET/PUT /_sandbox/config`` show and change, what the CLI flags build, and what
``POST /_sandbox/reset`` restores. API keys and seed data are fixed at start-up and live elsewhere.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.errors import OptionsError

__all__ = ["FAULT_KINDS", "Fault", "SandboxConfig", "parse_fault"]

FaultKind = Literal["fail_before", "fail_after", "drop_after", "slow", "burst_429"]
FAULT_KINDS: tuple[str, ...] = ("fail_before", "fail_after", "drop_after", "slow", "burst_429")


class Fault(BaseModel):
    """One probabilistic fault: on requests matching ``route``, ``kind`` happens with probability ``rate``.

    ``route`` is ``"METHOD PATH"`` or just ``PATH`` (any method); the method may be ``*`` and the path
    may be ``*`` or end in ``/*`` (the prefix and everything below it), as in the emulator's error hooks.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    route: str = Field(min_length=1, description="e.g. 'POST /user_management/users' or '/organizations/*'")
    kind: FaultKind
    rate: float = Field(ge=0.0, le=1.0)


class SandboxConfig(BaseModel):
    """Everything a test or benchmark may change while the sandbox runs. A limit of 0 disables that bucket."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    write_limit: int = Field(500, ge=0, description="user_management writes per write_window_s (per environment)")
    write_window_s: float = Field(10.0, gt=0)
    read_limit: int = Field(1000, ge=0, description="user_management reads per read_window_s (per environment)")
    read_window_s: float = Field(10.0, gt=0)
    global_limit: int = Field(6000, ge=0, description="all API requests per global_window_s (per API key)")
    global_window_s: float = Field(60.0, gt=0)
    auth_limit: int = Field(10, ge=0, description="sign-ins (POST /user_management/authenticate) per email per window")
    auth_window_s: float = Field(60.0, gt=0)
    retry_after_style: Literal["seconds", "http_date", "omit"] = "seconds"
    rate_limit_body: Literal["json", "string", "text"] = Field(
        "json", description='429 body: a JSON object, the bare JSON string "Ratelimited", or plain text'
    )
    latency_ms: float = Field(0.0, ge=0, description="fixed delay added to every API request")
    jitter_ms: float = Field(0.0, ge=0, description="uniform random extra delay, 0..jitter_ms")
    faults: tuple[Fault, ...] = ()
    fault_seed: int | None = Field(None, description="seed of the fault and jitter RNG; None draws a random one")
    fault_status: int = Field(500, ge=500, le=599, description="status of fail_before and fail_after answers")
    slow_ms: float = Field(30_000.0, ge=0, description="how long a 'slow' fault holds the response")
    burst_retry_after_s: int = Field(1, ge=0, description="Retry-After of a burst_429 answer")
    multiple_roles_enabled: bool = False
    duplicate_membership_status: Literal[400, 409, 422] = 409

    def updated(self, changes: dict[str, Any]) -> SandboxConfig:
        """Return a copy with ``changes`` applied and validated; raises ``pydantic.ValidationError``."""
        return SandboxConfig.model_validate({**self.model_dump(), **changes})


def parse_fault(spec: str) -> Fault:
    """Parse the CLI form ``ROUTE:KIND:RATE``, e.g. ``POST /user_management/users:fail_after:0.05``.

    Raises ``OptionsError`` naming the rule that failed.
    """
    parts = spec.rsplit(":", 2)
    if len(parts) != 3:
        raise OptionsError(f"--fault {spec!r}: expected ROUTE:KIND:RATE")
    route, kind, rate = (part.strip() for part in parts)
    try:
        return Fault.model_validate({"route": route, "kind": kind, "rate": rate})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise OptionsError(f"--fault {spec!r}: {problems} (kinds: {', '.join(FAULT_KINDS)})") from exc
