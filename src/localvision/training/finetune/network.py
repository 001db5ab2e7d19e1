"""The network being fine-tuned, behind one interface whatever format it came from.

A TorchScript or pickled module, a ``torch.export`` program and a Keras model (on Keras' torch
backend) are called, put in inference mode and exported to ONNX in different ways;
:class:`Network` hides those differences so that the head replacement, the training loop and
the export need not care. This module also says which device training runs on.

PyTorch is imported only when something here runs (:func:`import_torch`, through
``import_optional``), so importing the fine-tuning package stays cheap.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import InvalidParameterError, LocalVisionError, ModelConversionError, ModelError
from ...models.keras import import_keras
from ...models.tracing import export_module, export_program
from ...optional import import_optional

__all__ = ["Network", "describe_device", "import_torch", "move_program", "resolve_device"]


def import_torch() -> Any:
    """PyTorch, or an error naming the ``torch`` extra."""
    return import_optional("torch", extra="torch", purpose="fine-tune models")


@dataclass
class Network:
    """A trainable module behind one interface, whatever format it came from.

    ``device`` is where its parameters live (``cpu``, ``cuda``, ...); inputs are moved there.
    """

    module: Any
    kind: str  # "module", "program" (a torch.export module) or "keras"
    device: str = "cpu"
    groups: list[tuple[str, list[Any]]] = field(default_factory=list)  # in order, head last

    def scope(self) -> Any:
        """Keras places new tensors on its own default device unless told; tell it."""
        if self.kind == "keras":
            return import_keras().device(self.device)
        return contextlib.nullcontext()

    def __call__(self, batch: Any) -> Any:
        torch = import_torch()
        if isinstance(batch, np.ndarray):
            batch = torch.from_numpy(batch)
        with self.scope():
            if self.kind == "keras":
                try:
                    output = self.module(batch.to(self.device))
                except Exception as exc:  # a layer Keras-on-torch cannot run: no traceback
                    raise ModelError(
                        f"The Keras model failed on a batch of shape {tuple(batch.shape)}: "
                        f"{type(exc).__name__}: {short_message(exc)}",
                        hint="Check the model runs under KERAS_BACKEND=torch, or use "
                        "--method head.",
                    ) from exc
            else:
                output = self.module(batch.to(self.device))
        if isinstance(output, list | tuple):
            output = output[0]
        if isinstance(output, dict):
            output = next(iter(output.values()))
        return output

    def inference_mode(self) -> None:
        if self.kind == "module":  # programs refuse train()/eval(); they stay as exported
            self.module.eval()

    def export(self, sample: np.ndarray[Any, Any], target: Path) -> None:
        """Write ONNX at ``target``; the exported model runs anywhere (traced on the CPU)."""
        try:
            self._export(sample, target)
        except LocalVisionError:
            raise
        except Exception as exc:  # an exporter's failure is one error line, not a traceback
            what = "Keras model" if self.kind == "keras" else "network"
            raise ModelConversionError(
                f"Exporting the fine-tuned {what} to ONNX failed: "
                f"{type(exc).__name__}: {short_message(exc)}",
                hint="Report the layer types the model uses, or use --method head.",
            ) from exc

    def _export(self, sample: np.ndarray[Any, Any], target: Path) -> None:
        torch = import_torch()
        if self.kind == "program":
            args = (torch.from_numpy(sample).to(self.device),)
            with torch.no_grad():
                program = torch.export.export(
                    self.module, args, dynamic_shapes=({0: torch.export.Dim.AUTO},)
                )
            if self.device != "cpu":
                program = move_program(program, "cpu")
            export_program(program, (torch.from_numpy(sample),), target)
            return
        if self.kind == "module":
            self.module.to("cpu")
            self.device = "cpu"
        with self.scope():
            export_module(self.module, sample, target)


def move_program(program: Any, device: str) -> Any:
    """An exported program with its parameters, buffers and constants on ``device``."""
    passes = import_optional("torch.export.passes", extra="torch", purpose="move programs")
    return passes.move_to_device_pass(program, device)


def resolve_device(requested: str) -> str:
    """``auto`` means the first CUDA GPU when PyTorch sees one, else the CPU."""
    torch = import_torch()
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        torch.zeros(1, device=requested)
    except (RuntimeError, AssertionError, ValueError) as exc:
        raise InvalidParameterError(
            f"PyTorch cannot use device {requested!r} here: {str(exc).splitlines()[0]}",
            hint="Use --device auto (a CUDA GPU when there is one) or --device cpu.",
        ) from exc
    return requested


def describe_device(device: str) -> str:
    """The device as the lineage records it: ``cuda (NVIDIA H100 80GB HBM3)`` or ``cpu``."""
    torch = import_torch()
    if device.startswith("cuda"):
        return f"{device} ({torch.cuda.get_device_name(torch.device(device))})"
    return device


def short_message(exc: BaseException) -> str:
    """The first line of an exception's message, at most 300 characters."""
    lines = str(exc).strip().splitlines()
    first = lines[0] if lines else type(exc).__name__
    return first if len(first) <= 300 else first[:297] + "..."
