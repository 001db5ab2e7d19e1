"""``--ray [ADDRESS]``: an option that may be given alone or with a value.

``--ray`` alone means "on Ray, wherever ``[ray] address`` says, else a local Ray";
``--ray auto`` or ``--ray ray://head:10001`` name the cluster. Click can express an option
whose value is optional, but the installed Typer does not pass that through, so commands
taking ``--ray`` use :class:`RayOptionCommand`, which gives a bare ``--ray`` (last, or followed
by another option) the empty value before parsing. As with any such option, a bare ``--ray``
directly before an argument would take it as the address: put ``--ray`` after the inputs, or
write ``--ray=ADDRESS``.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from .typer_app import PlainUsageCommand

__all__ = ["RAY_FLAG", "RayAddress", "RayOptionCommand", "with_bare_value"]

RAY_FLAG = "--ray"

RayAddress = Annotated[
    str | None,
    typer.Option(
        RAY_FLAG,
        metavar="[ADDRESS]",
        help="Run on Ray: alone, [ray] address or a local Ray; or 'auto', 'ray://HOST:10001', "
        "'HOST:6379'. Put it after the inputs, or write --ray=ADDRESS.",
    ),
]
"""The ``--ray`` option: None when absent, ``""`` when given alone, else the address."""


def with_bare_value(args: list[str], flag: str = RAY_FLAG) -> list[str]:
    """``args`` with ``""`` inserted after each ``flag`` that has no value of its own."""
    out: list[str] = []
    for index, arg in enumerate(args):
        out.append(arg)
        if arg != flag:
            continue
        following = args[index + 1] if index + 1 < len(args) else None
        if following is None or following.startswith("-"):
            out.append("")
    return out


class RayOptionCommand(PlainUsageCommand):
    """A command whose ``--ray`` option may be given without a value."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        parsed: list[str] = super().parse_args(ctx, with_bare_value(args))
        return parsed
