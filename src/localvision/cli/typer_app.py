"""The Typer app class every localvision command group uses.

Two habits of the installed Typer do not suit a tool whose help names TOML tables and whose
users copy usage lines: rich markup in help texts (``[cloud.router]`` is read as a style tag
and vanishes) and usage lines that wrap required arguments in braces (``{data}``). Commands
built through :class:`CommandGroup` print help texts as written and usage the way Unix tools
do: ``DATA`` for a required argument, ``[DATA]`` for an optional one, ``IMAGES...`` for many.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import typer
import typer.core

__all__ = ["CommandGroup", "PlainUsageCommand"]

F = TypeVar("F", bound=Callable[..., Any])


class PlainUsageCommand(typer.core.TyperCommand):
    """A command whose usage line names arguments as click does (``DATA``, ``[DATA]``)."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                pieces.append(_usage_name(param))
        return pieces


def _usage_name(argument: Any) -> str:
    """``DATA``, ``[DATA]`` when optional, ``IMAGES...`` when it takes several."""
    name = argument.metavar or (argument.name or "").upper()
    if not argument.required:
        name = f"[{name}]"
    if argument.nargs != 1:
        name += "..."
    return str(name)


class CommandGroup(typer.Typer):
    """A Typer app whose commands use :class:`PlainUsageCommand` and plain help texts."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("rich_markup_mode", None)
        super().__init__(**kwargs)

    def command(self, name: str | None = None, **kwargs: Any) -> Callable[[F], F]:
        kwargs.setdefault("cls", PlainUsageCommand)
        register: Callable[[F], F] = super().command(name, **kwargs)
        return register
