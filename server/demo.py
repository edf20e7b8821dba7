"""``make demo``: the tool on the bundled example files, step by step, as a user would type it.

Each step prints the command, runs it and checks its exit code (a demo that exits 0 worked). Today it
validates and plans the files in ``examples/``; later steps add a local sandbox and a real import.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = Path("examples")


def step(title: str, args: list[str], *, expect: int) -> None:
    """Print ``title`` and the command, run it, and stop the demo if it exits other than ``expect``."""
    print(f"\n━━ {title}\n$ workos-migrate {' '.join(args)}\n", flush=True)
    code = subprocess.run([sys.executable, "-m", "server.cli", *args], cwd=ROOT).returncode
    if code != expect:
        sys.exit(f"demo step failed: exit {code}, expected {expect}")
    print(f"(exit {code}, as expected)")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="workos-migrate-demo-") as scratch:
        out = Path(scratch)
        step(
            "A multi-org file: five users, seven memberships in three organizations",
            ["validate", "--csv", str(EXAMPLES / "multi-org.csv")],
            expect=0,
        )
        step(
            "Its plan: counts, API calls, the estimate and what limits it (no API call, no key needed)",
            ["plan", "--csv", str(EXAMPLES / "multi-org.csv"), "--create-org-if-missing", "--dry-run"],
            expect=0,
        )
        step(
            "A single-org file: every user joins one organization, created if missing",
            [
                "plan", "--csv", str(EXAMPLES / "single-org.csv"), "--org-external-id", "analytical",
                "--org-name", "Analytical Engines", "--create-org-if-missing", "--errors-out",
                str(out / "errors.jsonl"), "--dry-run",
            ],
            expect=0,
        )  # fmt: skip
        step(
            "A file with mistakes: each issue names its row, column and rule; fixable ones are fixed in a copy",
            [
                "validate", "--csv", str(EXAMPLES / "with-errors.csv"), "--auto-fix",
                "--fixed-csv", str(out / "fixed.csv"), "--report", str(out / "report.json"),
            ],
            expect=1,
        )  # fmt: skip
        step(
            "Planning it refuses: the plan is invalid until the rows are fixed (exit 1)",
            ["plan", "--csv", str(EXAMPLES / "with-errors.csv"), "--dry-run"],
            expect=1,
        )
        step(
            "Options are checked before anything runs (exit 2)",
            [
                "plan",
                "--csv",
                str(EXAMPLES / "multi-org.csv"),
                "--org-id",
                "org_1",
                "--org-name",
                "x",
                "--workers",
                "0",
            ],
            expect=2,
        )
    print("\nDemo finished: every step behaved as expected.")


if __name__ == "__main__":
    main()
