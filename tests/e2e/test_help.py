"""Every command's --help, as a user reads it: usage lines name their arguments in capitals,
and help texts that mention TOML tables keep the brackets."""

from __future__ import annotations

from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from localvision.cli.app import app

runner = CliRunner()


def _commands(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command path below ``group`` (Typer builds its own click objects: duck-typed)."""
    found: list[tuple[str, ...]] = []
    for name, command in group.commands.items():
        path = (*prefix, name)
        found.append(path)
        if hasattr(command, "commands"):
            found += _commands(command, path)
    return found


COMMANDS = _commands(typer.main.get_command(app))


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_usage_names_arguments_plainly(path: tuple[str, ...]) -> None:
    result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    usage = next(line for line in result.output.splitlines() if "Usage:" in line)
    assert "{" not in usage and "}" not in usage, usage
    assert all(part.isupper() for part in usage.split()[2 + len(path) :] if part[0].isalpha())


def test_toml_tables_in_help_survive() -> None:
    result = runner.invoke(app, ["serve", "--help"], env={"COLUMNS": "200"})
    assert "ignore [cloud.router]" in result.output


def test_the_commands_are_all_found() -> None:
    assert {("serve",), ("models", "pull"), ("keys", "hash")} <= set(COMMANDS)
