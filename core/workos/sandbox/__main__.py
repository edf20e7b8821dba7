"""``python -m core.workos.sandbox``: run the sandbox in the foreground and print its URL on the first line.

For benchmarks and scripts that want the sandbox in its own process (``server.spawned_sandbox`` starts it
so). The user-facing command with every flag is ``workos-migrate sandbox``; here the run-time behaviour is
given as one JSON object of ``SandboxConfig`` fields (``--config``), or changed later via ``/_sandbox/config``.
"""

from __future__ import annotations

import argparse
import json
import sys

from pydantic import ValidationError

from core.errors import OptionsError
from core.workos.sandbox.config import SandboxConfig
from core.workos.sandbox.runtime import Sandbox
from core.workos.sandbox.seed import load_seed
from core.workos.sandbox.server import ready_message, serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.workos.sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4100, help="0 picks a free port")
    parser.add_argument("--seed", help="seed file (JSON, or YAML with PyYAML)")
    parser.add_argument("--api-key", action="append", default=[], help="accept only these keys (repeatable)")
    parser.add_argument("--config", default="{}", help="JSON object of SandboxConfig fields")
    args = parser.parse_args(argv)
    try:
        config = SandboxConfig.model_validate(json.loads(args.config))
        sandbox = Sandbox(config, seed=load_seed(args.seed) if args.seed else None, api_keys=args.api_key)
    except (ValueError, ValidationError, OptionsError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2

    def announce(url: str) -> None:
        sys.stdout.write(ready_message(url, sandbox.api_key) + "\n")
        sys.stdout.flush()

    try:
        serve(sandbox, host=args.host, port=args.port, on_ready=announce)
    except OptionsError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
