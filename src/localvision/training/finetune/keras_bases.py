"""Keras bases (``.keras``, ``.h5``), run on Keras' torch backend so PyTorch can train them.

The head is the last ``Dense`` layer. It is replaced by a new ``Dense`` with one unit per class
(zeros, the old activation), and the layers after it are re-applied on top, provided none of
them has weights: a trailing ``Activation("softmax")`` stays, so the model answers as the base
did. The parameters are grouped by layer through Keras-on-torch's own parameter names, head
last, for :func:`~.bases.unfreeze`.
"""

from __future__ import annotations

from typing import Any

from ...errors import ModelError
from ...models.keras import import_keras
from .network import Network

__all__ = ["KERAS_FORMATS", "keras_groups", "load_keras", "replace_keras_head"]

KERAS_FORMATS = ("keras", "keras_h5")


def load_keras(path: str, device: str) -> Network:
    """The Keras model at ``path``, its variables on ``device``, loaded in safe mode."""
    keras = import_keras()
    with keras.device(device):
        loaded = keras.models.load_model(path, compile=False, safe_mode=True)
    return Network(loaded, "keras", device)


def replace_keras_head(network: Network, classes: int) -> str:
    """Swap the last ``Dense`` layer for a zero-initialised one; the old layer's name."""
    layers = import_keras().layers
    dense = [layer for layer in network.module.layers if type(layer).__name__ == "Dense"]
    if not dense:
        raise ModelError("The Keras model has no Dense layer to replace with a new head.")
    old = dense[-1]
    after = network.module.layers[network.module.layers.index(old) + 1 :]
    if any(layer.weights for layer in after):
        raise ModelError(
            f"Layers with weights follow {old.name!r}, the last Dense layer; fine-tuning "
            "replaces the last Dense layer and keeps only weightless layers after it."
        )
    with network.scope():
        new = layers.Dense(
            classes,
            activation=old.activation,
            kernel_initializer="zeros",
            name=f"{old.name}_finetuned",
        )
        outputs = new(old.input)
        for layer in after:  # a trailing Activation("softmax") and the like stay
            outputs = layer(outputs)
        network.module = type(network.module)(network.module.inputs, outputs)
    network.groups = keras_groups(network.module, new.name)
    return str(old.name)


def keras_groups(model: Any, head: str) -> list[tuple[str, list[Any]]]:
    """Keras-on-torch parameters (``_torch_params.<layer>/<variable>``) grouped by layer."""
    groups: dict[str, list[Any]] = {}
    for param_name, param in model.named_parameters():
        layer = param_name.removeprefix("_torch_params.").split("/")[0]
        groups.setdefault(layer, []).append(param)
    groups[head] = groups.pop(head)  # last, whatever order the layers were tracked in
    return list(groups.items())
