"""A loaded model: its runtime, its card and where it came from."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..files import sha256_file
from .card import Layout, ModelCard
from .formats import ModelFormat
from .runtime import ACCELERATOR_DEVICES, Runtime, TensorSpec

__all__ = ["Model"]


@dataclass(eq=False)
class Model:
    """What tasks run: a :class:`Runtime` plus the :class:`ModelCard` that says how to feed it.

    ``name`` is how the user refers to it (a registered name, or the file's stem).
    """

    name: str
    path: Path
    format: ModelFormat
    runtime: Runtime
    card: ModelCard

    @property
    def input(self) -> TensorSpec:
        """The image input tensor (the first input)."""
        return self.runtime.inputs[0]

    @property
    def channels(self) -> int:
        """Colour channels the input takes (1 or 3), read from its shape and layout."""
        shape = self.input.shape
        axis = 1 if self.card.layout == Layout.NCHW else 3
        value = shape[axis] if len(shape) == 4 else None
        return value if value == 1 else 3

    @property
    def max_batch(self) -> int | None:
        """Largest batch one run accepts; None when any size works."""
        return self.runtime.max_batch

    @property
    def on_accelerator(self) -> bool:
        """Whether its runtime's first device is a GPU or another accelerator (not the CPU)."""
        return self.runtime.device in ACCELERATOR_DEVICES

    @functools.cached_property
    def sha256(self) -> str:
        """SHA-256 of the model file, computed on first use."""
        return sha256_file(self.path)

    def predict(self, batch: np.ndarray[Any, Any]) -> list[np.ndarray[Any, Any]]:
        """Run a pre-processed batch through the model; float outputs in output order."""
        return self.runtime.run({self.input.name: batch})

    def close(self) -> None:
        """Release the runtime."""
        self.runtime.close()
