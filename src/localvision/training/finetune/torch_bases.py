"""PyTorch bases: TorchScript, ``torch.export`` programs and pickled modules.

Loading puts the network on the training device. The head is found by shape rather than by
name, since a TorchScript file or a program keeps no class names to go by: it is the last
parameter shaped ``[outputs, features]``, where ``outputs`` is the width of the base's output.
It is replaced by zeros with one row per new class, and the parameters are grouped by the
layer that owns them (head last), which is what :func:`~.bases.unfreeze` counts in.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from ...errors import ModelError
from .network import Network, import_torch, move_program

__all__ = ["TORCH_FORMATS", "load_torch", "replace_torch_head"]

TORCH_FORMATS = ("torchscript", "torch_export", "torch_pickle")


def load_torch(fmt: str, path: str, device: str) -> Network:
    """The network in the file at ``path`` (one of :data:`TORCH_FORMATS`) on ``device``."""
    torch = import_torch()
    if fmt == "torchscript":
        return Network(torch.jit.load(path, map_location=device), "module", device)
    if fmt == "torch_export":
        program = torch.export.load(path)
        if device != "cpu":
            program = move_program(program, device)
        return Network(program.module(), "program", device)
    # torch_pickle: resolve_model has already refused it unless pickles are allowed
    module = torch.load(path, map_location=device, weights_only=False)
    return Network(module, "module", device)


def replace_torch_head(network: Network, classes: int, sample: np.ndarray[Any, Any]) -> str:
    """Swap the last ``[outputs, features]`` weight (and its bias) for zeros; its layer's name."""
    torch = import_torch()
    network.inference_mode()
    with torch.no_grad():
        width = network(sample).shape[-1]
    named = list(network.module.named_parameters())
    candidates = [n for n, p in named if p.ndim == 2 and p.shape[0] == width]
    if not candidates:
        raise ModelError(
            f"Cannot find the classification layer (a [{width}, features] weight) to replace."
        )
    weight_name = candidates[-1]
    owner_path, _, attribute = weight_name.rpartition(".")
    owner = functools.reduce(getattr, owner_path.split(".") if owner_path else [], network.module)
    features = dict(named)[weight_name].shape[1]
    # Zeros: every class starts at the same score, so a softmax after the head starts
    # unsaturated and passes gradients (random weights on large features can saturate it).
    zeros = torch.zeros(classes, features, device=network.device)
    setattr(owner, attribute, torch.nn.Parameter(zeros))
    bias_name = f"{owner_path}.bias" if owner_path else "bias"
    if bias_name in dict(named):
        owner.bias = torch.nn.Parameter(torch.zeros(classes, device=network.device))
    groups: dict[str, list[Any]] = {}
    for param_name, param in network.module.named_parameters():
        groups.setdefault(param_name.rpartition(".")[0] or param_name, []).append(param)
    head_group = owner_path or weight_name
    order = [g for g in groups if g != head_group] + [head_group]
    network.groups = [(g, groups[g]) for g in order]
    return str(owner_path or weight_name)
