"""The docs keep up with the code: every rule code, CLI command and flag is documented."""

from __future__ import annotations

from pathlib import Path

import click

from core.rules import RULES
from server.cli import main

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_every_rule_code_is_in_the_csv_format_page() -> None:
    page = (DOCS / "csv-format.md").read_text()
    missing = [code for code in RULES if f"`{code}`" not in page]
    assert missing == []


def test_every_cli_command_has_help_text_and_a_section() -> None:
    page = (DOCS / "cli.md").read_text()
    for name, command in main.commands.items():
        assert command.help and command.help.strip()
        if name != "analyze-errors":
            assert f"\n## {name}\n" in page, name


def test_every_plan_flag_is_in_the_cli_page_with_help_text() -> None:
    page = (DOCS / "cli.md").read_text()
    for param in main.commands["plan"].params:
        if isinstance(param, click.Option) and param.name != "help":
            assert param.help
            assert f"`{param.opts[0]}" in page, param.opts[0]
