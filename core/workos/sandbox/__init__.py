"""A faithful local stand-in of the WorkOS User Management API, for tests, benchmarks and rehearsals.

A Starlette app served by uvicorn on loopback, with the real API's shapes, rules, rate limits and error
answers, plus latency and fault injection and admin endpoints. It shares no code with the client.
"""

from __future__ import annotations

from core.workos.sandbox.app import ConnectionDropped, SandboxApp, create_app
from core.workos.sandbox.config import FAULT_KINDS, Fault, SandboxConfig, parse_fault
from core.workos.sandbox.runtime import DEFAULT_API_KEY, Sandbox
from core.workos.sandbox.seed import Seed, load_seed
from core.workos.sandbox.server import SandboxHandle, ready_message, running_sandbox, serve, spawned_sandbox

__all__ = [
    "DEFAULT_API_KEY",
    "FAULT_KINDS",
    "ConnectionDropped",
    "Fault",
    "Sandbox",
    "SandboxApp",
    "SandboxConfig",
    "SandboxHandle",
    "Seed",
    "create_app",
    "load_seed",
    "parse_fault",
    "ready_message",
    "running_sandbox",
    "serve",
    "spawned_sandbox",
]
