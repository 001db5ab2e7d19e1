"""BentoML serving the same classifier: JSON ``{"image": "<base64>"}`` in, the top five out.

A BentoML 1.2+ service (a class with ``@bentoml.api`` methods) with one worker. Run in the
peers' virtual environment, from this folder::

    PEER_MODEL=m.onnx PEER_LABELS=labels.txt PEER_THREADS=2 \
        bentoml serve bentoml_service:ImageClassifier --port PORT --host 127.0.0.1
"""

from __future__ import annotations

import base64
from typing import Any

import bentoml
from pipeline import Classifier


@bentoml.service(workers=1, traffic={"timeout": 60})
class ImageClassifier:
    """The classifier behind ``POST /classify``."""

    def __init__(self) -> None:
        self.classifier = Classifier()

    @bentoml.api
    def classify(self, image: str) -> dict[str, Any]:
        """The top five labels for one base64-encoded image."""
        return {"labels": self.classifier.classify(base64.b64decode(image))}
