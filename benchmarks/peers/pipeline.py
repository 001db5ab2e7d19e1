"""The image classifier every peer server wraps: what a user writes by hand around ONNX Runtime.

Pillow decode, the centre crop resized to 224x224 (bilinear), ImageNet scaling in NumPy, NCHW
float32, one ``session.run``, softmax and the top five labels. The same pre-processing as
localvision's card for the MobileNetV2 fixture, written the plain way (no reduced-scale JPEG
decoding, no fused multiply-add), so the comparison is between servers, not between models.

The peer servers run in their own virtual environments (only ``onnxruntime``, ``numpy``,
``pillow`` and the server framework), so this file imports nothing from localvision. They read
their settings from the environment: ``PEER_MODEL`` (the ``.onnx`` file), ``PEER_LABELS`` (one
label a line) and ``PEER_THREADS`` (ONNX Runtime's intra-op threads).
"""

from __future__ import annotations

import io
import os
from typing import Any

import numpy as np
import onnxruntime as ort
from PIL import Image

SIZE = 224
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32).reshape(3, 1, 1)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32).reshape(3, 1, 1)


class Classifier:
    """One ONNX Runtime session and its labels, built from the ``PEER_*`` environment."""

    def __init__(self) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(os.environ.get("PEER_THREADS", "0"))
        self.session = ort.InferenceSession(
            os.environ["PEER_MODEL"], options, providers=["CPUExecutionProvider"]
        )
        self.input_name = self.session.get_inputs()[0].name
        with open(os.environ["PEER_LABELS"], encoding="utf-8") as lines:
            self.labels = [line.strip() for line in lines]

    def tensor(self, data: bytes) -> np.ndarray[Any, Any]:
        """The (3, 224, 224) float32 input for one encoded image."""
        image = Image.open(io.BytesIO(data)).convert("RGB")
        width, height = image.size
        side = min(width, height)
        left, top = (width - side) / 2, (height - side) / 2
        image = image.resize(
            (SIZE, SIZE), Image.Resampling.BILINEAR, box=(left, top, left + side, top + side)
        )
        pixels = np.asarray(image, dtype=np.float32).transpose(2, 0, 1) / 255.0
        result: np.ndarray[Any, Any] = (pixels - MEAN) / STD
        return result

    def run(self, batch: np.ndarray[Any, Any]) -> list[list[dict[str, Any]]]:
        """The top five labels for each (3, 224, 224) tensor of ``batch``."""
        (logits,) = self.session.run(None, {self.input_name: batch})
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        probabilities = shifted / shifted.sum(axis=1, keepdims=True)
        answers = []
        for row in probabilities:
            best = np.argsort(row)[::-1][:5]
            answers.append([{"label": self.labels[i], "score": float(row[i])} for i in best])
        return answers

    def classify(self, data: bytes) -> list[dict[str, Any]]:
        """The top five labels for one encoded image."""
        return self.run(self.tensor(data)[None])[0]
