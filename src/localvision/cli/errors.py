"""How the CLI reports errors: one line saying what went wrong and what to do, then exit.

Exit codes: 0 everything succeeded; 1 some images failed (the others were still answered);
2 nothing could run (bad usage, configuration, or a model that does not load).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

import typer

from ..errors import LocalVisionError

__all__ = ["EXIT_FAILED_IMAGES", "EXIT_OK", "EXIT_UNUSABLE", "reported"]

EXIT_OK = 0
EXIT_FAILED_IMAGES = 1
EXIT_UNUSABLE = 2


def message(error: LocalVisionError) -> str:
    """The one line printed for ``error``."""
    text = f"error: {error.message}"
    if error.hint:
        text += f" {error.hint}"
    return text


@contextlib.contextmanager
def reported() -> Iterator[None]:
    """Turn a :class:`LocalVisionError` escaping the block into one line and exit code 2."""
    try:
        yield
    except LocalVisionError as exc:
        print(message(exc), file=sys.stderr)
        raise typer.Exit(EXIT_UNUSABLE) from None
