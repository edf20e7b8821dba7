"""Helpers for the MCP server tests: settings on the sandbox, tool calls, elicitation answers, worker clean-up."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
from mcp import Client
from mcp.client import ClientRequestContext
from mcp.types import CallToolResult, ElicitRequestParams, ElicitResult

from core.store import JobStore
from core.workos.sandbox import SandboxHandle
from server import jobs
from server.settings import ServerSettings
from server.untrusted import CLOSE, OPEN

ElicitationCallback = Callable[[ClientRequestContext, ElicitRequestParams], Awaitable[ElicitResult]]

FAST_SERVER_RATES = {"read_rate_limit": 5000.0, "global_rate_limit": 10000.0}
"""Server-side rates for runs against the unlimited sandbox; tools take ``rate_limit`` themselves."""


def server_settings(workspace: Path, sandbox: SandboxHandle, **overrides: Any) -> ServerSettings:
    """Settings for a server whose workspace is ``workspace``, state in ``workspace/state``, target the sandbox."""
    values: dict[str, Any] = {
        "state_dir": workspace / "state",
        "workspace": workspace,
        "api_key": sandbox.api_key,
        "base_url": sandbox.url,
        **FAST_SERVER_RATES,
        **overrides,
    }
    return ServerSettings(**values)


def text(result: CallToolResult) -> str:
    """All text content of a tool result."""
    return "\n".join(block.text for block in result.content if block.type == "text")


async def call(client: Client, name: str, arguments: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Call a tool that must succeed and return its structured content."""
    result = await client.call_tool(name, arguments, **kwargs)
    assert not result.is_error, text(result)
    assert result.structured_content is not None
    return result.structured_content


async def refused(client: Client, name: str, arguments: dict[str, Any]) -> str:
    """Call a tool that must refuse and return the message the model reads."""
    result = await client.call_tool(name, arguments)
    assert result.is_error, text(result)
    return text(result)


def unfenced(value: str | None) -> str | None:
    """A fenced untrusted string of a result, without its fence."""
    if value is None:
        return None
    assert value.startswith(OPEN) and value.endswith(CLOSE), value
    return value[len(OPEN) : -len(CLOSE)]


_CODE = re.compile(r"confirmation code ([A-Z2-7]{3}-[A-Z2-7]{3})")


def confirmation_code(message: str) -> str:
    """The confirmation code a refusal on a chat-only client carries."""
    found = _CODE.search(message)
    assert found, message
    return found.group(1)


async def confirmed(client: Client, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """Call a write that needs a code on a chat-only client: refused with a code, then called with it."""
    code = confirmation_code(await refused(client, name, arguments))
    return await call(client, name, {**arguments, "confirmation_code": code})


class Answering:
    """An elicitation callback that records each question and answers with ``action`` (after ``delay`` s)."""

    def __init__(self, action: str, content: dict[str, Any] | None = None, *, delay: float = 0.0) -> None:
        self.action = action
        self.content = content
        self.delay = delay
        self.messages: list[str] = []
        self.schemas: list[dict[str, Any]] = []

    async def __call__(self, context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        self.messages.append(params.message)
        self.schemas.append(params.requested_schema)
        if self.delay:
            await anyio.sleep(self.delay)
        return ElicitResult(action=self.action, content=self.content)  # type: ignore[arg-type]


async def finished(client: Client, job_id: str, *, limit: float = 60.0) -> dict[str, Any]:
    """Follow a job through get_migration_status until no worker runs it."""
    deadline = time.monotonic() + limit
    while True:
        status = await call(client, "get_migration_status", {"job_id": job_id, "wait_seconds": 5})
        if not status["worker_running"]:
            return status
        assert time.monotonic() < deadline, f"job {job_id} still running: {status}"


def wait_for_workers(state_dir: Path, *, limit: float = 30.0) -> None:
    """Wait for every worker of every job in ``state_dir`` to exit, then kill any left (test clean-up)."""
    if not (state_dir / "jobs.sqlite3").exists():
        return
    store = JobStore.open(state_dir)
    try:
        deadline = time.monotonic() + limit
        for job in store.list_jobs(limit=1000):
            while jobs.worker_running(store, job.id) and time.monotonic() < deadline:
                time.sleep(0.1)
            pid_file = store.job_dir(job.id) / "runner.pid"
            if jobs.worker_running(store, job.id) and pid_file.exists():
                os.killpg(int(pid_file.read_text()), signal.SIGKILL)
    finally:
        store.close()
