"""Shared fixtures: the anyio backend, CSV builders and the loopback WorkOS sandbox."""

from __future__ import annotations

from collections.abc import Iterator

import httpx2
import pytest

from core.workos.sandbox import SandboxHandle, running_sandbox


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def _sandbox_server() -> Iterator[SandboxHandle]:
    with running_sandbox() as handle:
        yield handle


@pytest.fixture
def sandbox(_sandbox_server: SandboxHandle) -> Iterator[SandboxHandle]:
    """The session's loopback sandbox, reset to its empty seed and default configuration for this test."""
    _sandbox_server.reset()
    yield _sandbox_server


@pytest.fixture
def sandbox_api(sandbox: SandboxHandle) -> Iterator[httpx2.Client]:
    """A plain HTTP client on the sandbox, authenticated with its API key."""
    with httpx2.Client(base_url=sandbox.url, headers={"Authorization": f"Bearer {sandbox.api_key}"}) as client:
        yield client
