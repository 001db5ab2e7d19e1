"""Preparing a base for fine-tuning, whatever its format: load it, look at what it outputs,
give it a new head and choose what trains.

The format-specific work lives in :mod:`.torch_bases` and :mod:`.keras_bases`; this module
refuses the formats that cannot be fine-tuned (ONNX and TFLite keep no trainable network),
dispatches on the rest, and does the steps that only need the common :class:`.Network`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...errors import ModelError
from ...models.card import OutputActivation
from ...models.model import Model
from ...models.tracing import quiet
from .keras_bases import KERAS_FORMATS, load_keras, replace_keras_head
from .network import Network, import_torch
from .torch_bases import TORCH_FORMATS, load_torch, replace_torch_head

__all__ = ["FORMATS", "ends_in_probabilities", "load_network", "replace_head", "unfreeze"]

FORMATS = TORCH_FORMATS + KERAS_FORMATS


def load_network(model: Model, base: str, device: str) -> Network:
    """The trainable network behind ``model`` on ``device``; an error for other formats."""
    import_torch()
    fmt = model.format.name
    path = str(model.path)
    if fmt not in FORMATS:
        raise ModelError(
            f"--method finetune needs a PyTorch or Keras base; {base} is {model.format.name}.",
            hint="Use --method head, which trains on ONNX, TFLite, Keras and PyTorch bases.",
        )
    with quiet():
        if fmt in TORCH_FORMATS:
            return load_torch(fmt, path, device)
        return load_keras(path, device)


def ends_in_probabilities(network: Network, model: Model, sample: np.ndarray[Any, Any]) -> bool:
    """Does the base's output already pass through a softmax? The card says, or we look."""
    activation = model.card.output_activation
    if activation == OutputActivation.NONE:
        return True
    if activation != OutputActivation.AUTO:
        return False
    torch = import_torch()
    network.inference_mode()
    with torch.no_grad():
        output = network(sample).cpu().numpy()
    rows = output.sum(axis=-1)
    return bool((output >= 0).all() and (output <= 1).all() and np.allclose(rows, 1, atol=1e-3))


def replace_head(network: Network, classes: int, sample: np.ndarray[Any, Any]) -> str:
    """Swap the last dense layer for a fresh one with ``classes`` outputs; its name."""
    if network.kind == "keras":
        return replace_keras_head(network, classes)
    return replace_torch_head(network, classes, sample)


def unfreeze(network: Network, layers: int) -> list[str]:
    """Freeze every group but the head and the ``layers`` groups before it; their names."""
    trainable = network.groups[-(layers + 1) :]
    names = {name for name, _ in trainable}
    for name, params in network.groups:
        for param in params:
            param.requires_grad_(name in names)
    return [name for name, _ in trainable]
