"""The interface every model format implements once loaded: named tensors in, tensors out.

A :class:`Runtime` knows nothing about images or labels; the model card and the tasks do.
Formats that localvision converts (Keras, PyTorch) come back as the ONNX runtime.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .card import CardFields

__all__ = ["ACCELERATOR_DEVICES", "Runtime", "RuntimeOptions", "TensorSpec"]

ACCELERATOR_DEVICES = (
    "TensorrtExecutionProvider",
    "CUDAExecutionProvider",
    "ROCMExecutionProvider",
    "MIGraphXExecutionProvider",
    "CoreMLExecutionProvider",
    "DmlExecutionProvider",
)
"""What :attr:`Runtime.device` says for a model on a GPU or another accelerator: ONNX
Runtime's provider names, fastest first (the order in which
:data:`localvision.models.onnx.AUTO_ORDER` picks them); every other runtime here runs on the CPU.
A session names only its first provider: nodes that provider has no kernel for (the QLinear
operators of QOperator int8 models, under CUDA) still run on the CPU."""


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """A named tensor: its shape (None for a dynamic axis), dtype and quantization.

    ``quantization`` is ``(scale, zero_point)`` for quantized integer tensors:
    ``real = (q - zero_point) * scale``.
    """

    name: str
    shape: tuple[int | None, ...]
    dtype: np.dtype[Any]
    quantization: tuple[float, int] | None = None

    @property
    def is_integer(self) -> bool:
        """True for integer tensors (quantized or raw uint8 images)."""
        return bool(np.issubdtype(self.dtype, np.integer))


@dataclass(frozen=True, slots=True)
class RuntimeOptions:
    """How to load and run a model; filled from :class:`~localvision.config.Settings`.

    ``input_size`` is ``(height, width)`` from the card, used when a format carries no input
    shape of its own (TorchScript, pickled modules) and must be traced to convert it.
    ``spin`` lets ONNX Runtime's worker threads busy-wait between runs (lower latency); turn it
    off where other threads need the same cores, as when training decodes images alongside.
    ``io_binding`` runs ONNX models through ONNX Runtime's I/O binding (outputs allocated on
    the model's device and copied back in one step); off by default, as no gain has been
    measured (see :mod:`localvision.models.onnx`).
    """

    cache_dir: Path
    providers: Sequence[str] | None = None
    threads: int | None = None
    allow_pickle: bool = False
    input_size: tuple[int, int] | None = None
    spin: bool = True
    io_binding: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class Runtime(Protocol):
    """A loaded model, ready to run. Implementations must be safe to call from many threads."""

    @property
    def format(self) -> str:
        """The format name from the format registry (``onnx``, ``tflite``, ...)."""
        ...

    @property
    def inputs(self) -> Sequence[TensorSpec]:
        """The input tensors, in order."""
        ...

    @property
    def outputs(self) -> Sequence[TensorSpec]:
        """The output tensors, in order."""
        ...

    @property
    def max_batch(self) -> int | None:
        """Largest batch one call accepts; None when the batch axis is dynamic."""
        ...

    @property
    def device(self) -> str:
        """Where it runs, e.g. ``CPUExecutionProvider``."""
        ...

    def hints(self) -> CardFields:
        """Card fields the model file itself states (labels, activation, input range...)."""
        ...

    def run(self, feeds: Mapping[str, np.ndarray[Any, Any]]) -> list[np.ndarray[Any, Any]]:
        """Run one batch; outputs in :attr:`outputs` order, quantized ones dequantized."""
        ...

    def close(self) -> None:
        """Release the session; later calls to :meth:`run` are invalid."""
        ...
