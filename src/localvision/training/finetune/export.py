"""The fine-tuned network as one ONNX file, checked against the network before it is registered.

The network is exported with its card stored inside, then the ONNX model is run with ONNX
Runtime on validation images and compared with the network itself; a model that disagrees
beyond the tolerance of :func:`~localvision.models.convert.outputs_agree` is refused, so a bad
export is never registered.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ...config import Settings
from ...errors import ModelConversionError
from ...models.convert import outputs_agree, store_card
from ...models.onnx import OnnxRuntime
from ...models.runtime import RuntimeOptions
from .network import Network, import_torch

__all__ = ["export_checked"]


def export_checked(
    network: Network,
    check: np.ndarray[Any, Any],
    target: Path,
    card: dict[str, Any],
    settings: Settings,
) -> None:
    """Export to ONNX with the card inside; refuse a model that disagrees with the network."""
    torch = import_torch()
    network.inference_mode()
    sample = check[:2] if len(check) >= 2 else np.concatenate([check, check])
    network.export(sample, target)
    store_card(target, card)
    runtime = OnnxRuntime(target, RuntimeOptions(cache_dir=settings.cache_dir))
    try:
        actual = runtime.run({runtime.inputs[0].name: check})[0]
    finally:
        runtime.close()
    with torch.no_grad():
        expected = network(check).cpu().numpy()
    worst = outputs_agree(actual, expected)
    if worst is not None:
        raise ModelConversionError(
            f"The exported model disagrees with the fine-tuned network (largest difference "
            f"{worst:.3g}); not registered."
        )
