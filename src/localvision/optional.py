"""Importing optional dependencies, with an error that names the extra to install.

Heavy dependencies (LiteRT, Keras, PyTorch) are imported only inside the module that needs
them, through :func:`import_optional`, so ``import localvision`` stays fast and a missing one
says exactly which ``pip install`` brings it.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import MissingDependencyError

__all__ = ["import_optional"]


def import_optional(module: str, *, extra: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` naming ``extra``.

    Example: ``import_optional("ai_edge_litert.interpreter", extra="litert",
    purpose="run .tflite models")``.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{module.split('.')[0]} is needed to {purpose} but is not installed ({exc}).",
            hint=f"Install it with: pip install 'localvision[{extra}]'",
        ) from exc
