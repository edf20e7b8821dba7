"""One running sandbox: its state, configuration, limiter, hooks, fault injector and counters.

``Sandbox`` is what the routes act on. ``reset()`` returns everything to the start-up configuration and
seed (state, hooks, rate windows, RNG and counters); ``configure()`` changes the configuration in place and
restarts the rate windows and the fault RNG under the new settings.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from core.workos.sandbox.config import SandboxConfig
from core.workos.sandbox.faults import ErrorHooks, FaultInjector
from core.workos.sandbox.ratelimit import RateLimiter
from core.workos.sandbox.seed import Seed, apply_seed
from core.workos.sandbox.state import SandboxState
from core.workos.sandbox.stats import Stats

__all__ = ["DEFAULT_API_KEY", "Sandbox"]

DEFAULT_API_KEY = "sk_test_sandbox"


class Sandbox:
    """Everything one sandbox holds. Raises ``OptionsError`` at construction when the seed is invalid."""

    def __init__(
        self, config: SandboxConfig | None = None, *, seed: Seed | None = None, api_keys: Iterable[str] = ()
    ) -> None:
        self._initial_config = config or SandboxConfig()
        self._seed = seed or Seed()
        self.api_keys = frozenset(api_keys) | frozenset(self._seed.api_keys)
        self.reset()

    @property
    def api_key(self) -> str:
        """A key the sandbox accepts: the first configured one, else ``sk_test_sandbox``."""
        return min(self.api_keys) if self.api_keys else DEFAULT_API_KEY

    def reset(self) -> None:
        """Back to the start-up configuration and seed, with fresh counters."""
        self.config = self._initial_config
        self.state = SandboxState()
        self.hooks = ErrorHooks()
        apply_seed(self._seed, self.state, self.hooks)
        self.stats = Stats()
        self._rebuild()

    def configure(self, changes: dict[str, Any]) -> SandboxConfig:
        """Apply configuration changes; raises ``pydantic.ValidationError`` and changes nothing when invalid."""
        self.config = self.config.updated(changes)
        self._rebuild()
        return self.config

    def _rebuild(self) -> None:
        self.limiter = RateLimiter(self.config)
        self.faults = FaultInjector(self.config)

    def authorized(self, key: str) -> bool:
        """Configured keys only when there are any; otherwise any ``sk_test_`` key."""
        return key in self.api_keys if self.api_keys else key.startswith("sk_test_")
