"""Keras bases (``.keras``, ``.h5``), run on Keras' torch backend so PyTorch can train them.

Sequential and functional models are supported (a subclassed model has no graph to rebuild
around a new head, and is refused with a :class:`~localvision.errors.ModelError`). The head is
the last top-level ``Dense`` layer. The model is cloned with Keras' ``clone_model`` with every
layer shared (weights included) except the head, which becomes a new ``Dense`` with one unit per
class (zeros, the old activation); the layers after it must have no weights, so a trailing
``Activation("softmax")`` stays and the model answers as the base did. A Sequential model stays
Sequential and a functional one functional.

The parameters are grouped by the layer that owns them, following the layers in order (inside
nested models too, such as a pretrained base inside a Sequential), head last, for
:func:`~.bases.unfreeze`. Only trainable variables are grouped: batch-norm statistics never
receive gradients.

Whatever Keras raises while loading or rebuilding becomes a :class:`ModelError` that names the
file and what to do, never a traceback.
"""

from __future__ import annotations

from typing import Any

from ...errors import LocalVisionError, ModelError
from ...models.keras import import_keras
from .network import Network, short_message

__all__ = ["KERAS_FORMATS", "keras_groups", "load_keras", "replace_keras_head"]

KERAS_FORMATS = ("keras", "keras_h5")

_HINT = (
    "Fine-tuning rebuilds Sequential and functional Keras models; rebuild this one with "
    "keras.Sequential or the functional API, or use --method head."
)


def load_keras(path: str, device: str) -> Network:
    """The Keras model at ``path``, its variables on ``device``, loaded in safe mode."""
    keras = import_keras()
    try:
        with keras.device(device):
            loaded = keras.models.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises ValueError, TypeError, OSError... for bad files
        raise ModelError(
            f"Keras cannot load {path} for fine-tuning: {short_message(exc)}", hint=_HINT
        ) from exc
    require_graph(loaded, path)
    return Network(loaded, "keras", device)


def require_graph(model: Any, where: str) -> None:
    """Refuse a model that is neither Sequential nor functional (a subclassed ``Model``)."""
    kinds = {cls.__name__ for cls in type(model).__mro__}
    if not kinds & {"Sequential", "Functional"}:
        raise ModelError(
            f"{where} is a subclassed Keras model (class {type(model).__name__}); it has no "
            "layer graph to put a new head on.",
            hint=_HINT,
        )


def replace_keras_head(network: Network, classes: int) -> str:
    """Swap the last ``Dense`` layer for a zero-initialised one; the old layer's name."""
    keras = import_keras()
    model = network.module
    require_graph(model, "The base")
    dense = [layer for layer in model.layers if type(layer).__name__ == "Dense"]
    if not dense:
        raise ModelError(
            "The Keras model has no top-level Dense layer to replace with a new head.",
            hint="Fine-tuning replaces the last Dense layer of the model; use --method head.",
        )
    old = dense[-1]
    after = model.layers[model.layers.index(old) + 1 :]
    if any(layer.weights for layer in after):
        raise ModelError(
            f"Layers with weights follow {old.name!r}, the last Dense layer; fine-tuning "
            "replaces the last Dense layer and keeps only weightless layers after it.",
            hint="Use --method head, which trains on the base's features.",
        )
    try:
        with network.scope():
            new = keras.layers.Dense(
                classes,
                activation=old.activation,
                kernel_initializer="zeros",
                name=f"{old.name}_finetuned",
            )
            rebuilt = keras.models.clone_model(
                model, clone_function=lambda layer: new if layer is old else layer
            )
    except LocalVisionError:
        raise
    except Exception as exc:
        raise ModelError(
            f"Cannot rebuild the Keras model around a new head: {short_message(exc)}", hint=_HINT
        ) from exc
    network.module = rebuilt
    network.groups = keras_groups(rebuilt, new.name)
    return str(old.name)


def keras_groups(model: Any, head: str) -> list[tuple[str, list[Any]]]:
    """The trainable torch parameters of each layer with weights, in layer order, head last.

    Nested models are walked into, so their layers count one by one; a name used twice (two
    nested models with a ``dense`` each) is prefixed with its model's name. Statistics such as
    batch norm's moving mean are not trainable variables and never join a group.
    """
    weighted = []
    for path, layer in _leaf_layers(model, ""):
        layer.trainable = True  # a base saved frozen still unfreezes; requires_grad decides
        params = [variable.value for variable in layer.trainable_weights]
        if params:
            weighted.append((path, str(layer.name), params))
    names = [name for _, name, _ in weighted]
    flat = [(name if names.count(name) == 1 else path, params) for path, name, params in weighted]
    head_group = [item for item in flat if item[0] == head]
    if not head_group:
        raise ModelError(f"The new head {head!r} has no trainable weights.")
    return [item for item in flat if item[0] != head] + head_group


def _leaf_layers(model: Any, prefix: str) -> list[tuple[str, Any]]:
    leaves: list[tuple[str, Any]] = []
    for layer in model.layers:
        path = f"{prefix}{layer.name}"
        if hasattr(layer, "layers") and layer.layers:  # a nested model: its layers, in order
            leaves.extend(_leaf_layers(layer, f"{path}/"))
        else:
            leaves.append((path, layer))
    return leaves
