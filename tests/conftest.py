"""Shared fixtures: the anyio backend, CSV builders and the loopback WorkOS sandbox."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"
