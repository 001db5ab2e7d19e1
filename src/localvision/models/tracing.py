"""Exporting a PyTorch module (or a Keras model on the torch backend) to ONNX.

Shared by the Keras and PyTorch loaders: the module is traced with the TorchScript-based
exporter, which handles ``ScriptModule``s and Keras-on-torch models alike, with a dynamic batch
axis so the ONNX model can run batches of any size.
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..optional import import_optional

__all__ = ["OPSET", "export_module", "export_program", "quiet", "sample_input"]

OPSET = 17
SAMPLE_BATCH = 2  # >1 so that no exporter specialises the batch axis to 1


def sample_input(
    dims: tuple[int, ...], *, raw: bool = False, seed: int = 0
) -> np.ndarray[Any, Any]:
    """A reproducible random float32 batch of ``SAMPLE_BATCH`` inputs of shape ``dims``."""
    rng = np.random.default_rng(seed)
    sample = rng.random((SAMPLE_BATCH, *dims), dtype=np.float32)
    return sample * np.float32(255.0) if raw else sample


@contextlib.contextmanager
def quiet() -> Any:
    """Keep exporters' progress prints and warnings off stdout (which may carry --json)."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr):
        warnings.simplefilter("ignore")
        yield


def export_module(module: Any, sample: np.ndarray[Any, Any], target: Path) -> None:
    """Export ``module`` traced on ``sample`` to ONNX at ``target``, batch axis dynamic."""
    torch = import_optional("torch", extra="torch", purpose="convert models to ONNX")
    with quiet(), torch.no_grad():
        torch.onnx.export(
            module,
            (torch.from_numpy(sample),),
            str(target),
            dynamo=False,
            opset_version=OPSET,
            input_names=["input"],
            output_names=["output"],
            dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
        )


def export_program(program: Any, args: tuple[Any, ...], target: Path) -> None:
    """Export a ``torch.export`` program to ONNX at ``target`` with the dynamo exporter.

    Programs cannot be traced by the TorchScript exporter (their modules refuse ``train()`` and
    ``eval()``), so they take this path; their batch axis stays as the program declares it.
    """
    torch = import_optional("torch", extra="torch", purpose="convert models to ONNX")
    with quiet():
        torch.onnx.export(
            program,
            args,
            str(target),
            dynamo=True,
            input_names=["input"],
            output_names=["output"],
            external_data=False,
            verbose=False,
        )
