"""PyTorch models: TorchScript (``torch.jit.save``), ``torch.export`` programs (``.pt2``), and,
only on explicit opt-in, pickled modules (``torch.save(model)``).

All three are converted to ONNX once and cached (see :mod:`localvision.models.convert`).
TorchScript and pickled modules carry no input shape, so they are traced at the card's
``input_size`` (default 224x224, 3 channels, NCHW); a ``.pt2`` program carries its own example
inputs.

A pickle can run arbitrary code when loaded, so ``torch_pickle`` files are refused with
:class:`~localvision.errors.UnsafeModelError` unless ``allow_pickle`` is set. A file that holds
only weights (a state dict) is recognised safely and refused with an explanation.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelConversionError, UnsafeModelError
from ..optional import import_optional
from .card import DEFAULT_INPUT_SIZE
from .convert import ConversionResult, convert_cached
from .onnx import OnnxRuntime
from .runtime import RuntimeOptions
from .tracing import export_module, export_program, quiet, sample_input

__all__ = ["load"]


def load(path: Path, options: RuntimeOptions, format_name: str) -> OnnxRuntime:
    """Format-registry entry point for ``torchscript``, ``torch_export`` and ``torch_pickle``."""
    torch = import_optional("torch", extra="torch", purpose="load PyTorch models")
    if format_name == "torch_export":
        return convert_cached(
            path, options, format_name, lambda tmp: _convert_program(torch, path, tmp)
        )
    if format_name == "torch_pickle":
        _check_pickle_allowed(torch, path, options)
        loader = _load_pickle
    else:
        loader = _load_script
    size = options.input_size or (DEFAULT_INPUT_SIZE, DEFAULT_INPUT_SIZE)
    return convert_cached(
        path,
        options,
        format_name,
        lambda tmp: _convert_module(torch, loader(torch, path), tmp, size),
        key=f"{size[0]}x{size[1]}",
    )


def _load_script(torch: Any, path: Path) -> Any:
    return torch.jit.load(str(path), map_location="cpu")


def _load_pickle(torch: Any, path: Path) -> Any:
    with quiet():
        module = torch.load(str(path), map_location="cpu", weights_only=False)
    if not isinstance(module, torch.nn.Module):
        raise ModelConversionError(
            f"{path} unpickles to a {type(module).__name__}, not a torch.nn.Module."
        )
    return module


def _check_pickle_allowed(torch: Any, path: Path, options: RuntimeOptions) -> None:
    """Refuse pickles unless allowed; tell a weights-only file (a state dict) apart safely."""
    try:
        with quiet():
            content = torch.load(str(path), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, AttributeError, TypeError):
        content = None  # needs the full unpickler: a pickled module (or worse)
    if isinstance(content, dict):
        raise ModelConversionError(
            f"{path} holds only weights (a state dict), not a model localvision can run.",
            hint="Save the model with torch.jit.save or torch.export, or export it to ONNX.",
        )
    if not options.allow_pickle:
        raise UnsafeModelError(
            f"{path} is a pickled PyTorch model; loading a pickle runs whatever code it holds.",
            hint="Prefer torch.jit.save / torch.export. If you trust the file, pass "
            "--allow-pickle (allow_pickle = true in localvision.toml).",
        )


def _convert_module(
    torch: Any, module: Any, target: Path, size: tuple[int, int]
) -> ConversionResult:
    module.eval()
    sample = sample_input((3, size[0], size[1]))
    with torch.no_grad():
        expected = _first(module(torch.from_numpy(sample)))
    export_module(module, sample, target)
    return ConversionResult(sample=sample, expected=expected, hints={"layout": "NCHW"})


def _convert_program(torch: Any, path: Path, target: Path) -> ConversionResult:
    program = torch.export.load(str(path))
    args = _example_args(torch, program)
    with torch.no_grad():
        expected = _first(program.module()(*args))
    export_program(program, tuple(args), target)
    return ConversionResult(sample=args[0].numpy(), expected=expected, hints={})


def _example_args(torch: Any, program: Any) -> list[Any]:
    example = getattr(program, "example_inputs", None)
    if example and example[0]:
        return [a.detach().to(torch.float32) for a in example[0]]
    shapes = [
        node.meta["val"].shape
        for node in program.graph.nodes
        if node.op == "placeholder" and node.name in program.graph_signature.user_inputs
    ]
    if len(shapes) != 1:
        raise ModelConversionError(
            "The torch.export program has no example inputs and not exactly one input."
        )
    dims = tuple(int(d) if isinstance(d, int) else 2 for d in shapes[0])
    return [torch.from_numpy(sample_input(dims[1:]))]


def _first(output: Any) -> np.ndarray[Any, Any]:
    if isinstance(output, list | tuple):
        output = output[0]
    if isinstance(output, dict):
        output = next(iter(output.values()))
    return np.asarray(output.detach().cpu().numpy())
