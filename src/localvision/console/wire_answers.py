"""One result in the JSON of each protocol the server speaks, as the *Try* page shows it.

The same wire adapters the server's routes use render it, so what the page shows is what a
client of that protocol would have received: ``native`` is ``POST /v1/annotate``'s body, ``google``
is ``images:annotate``'s, and ``aws`` holds one body per Rekognition operation the features
need (``DetectLabels`` for labels, objects and colours; ``DetectFaces``; ``DetectText``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import ImageTooLargeError, LocalVisionError
from ..types import AnnotateResult, Feature
from ..wire import google_vision
from ..wire import rekognition as rekognition_wire

__all__ = ["AWS_OPERATIONS", "answers"]

AWS_OPERATIONS: dict[Feature, str] = {
    Feature.LABELS: "DetectLabels",
    Feature.OBJECTS: "DetectLabels",
    Feature.COLORS: "DetectLabels",
    Feature.FACES: "DetectFaces",
    Feature.TEXT: "DetectText",
}
"""The Rekognition operation answering each feature; the others have none."""


def answers(result: AnnotateResult, features: Sequence[Feature], image: bytes) -> dict[str, Any]:
    """``{"native": ..., "google": ..., "aws": ...}`` for ``result``, the answer to ``image``."""
    return {
        "native": {"results": [result.to_dict()]},
        "google": google_vision.batch_response([google_vision.image_response(result)]),
        "aws": _aws(result, features, image),
    }


def _aws(result: AnnotateResult, features: Sequence[Feature], image: bytes) -> dict[str, Any]:
    """One Rekognition response body per operation, or the error the route would answer: the
    image's own failure, or Rekognition's limits (PNG or JPEG, at most 5 MB), which the
    other protocols do not have."""
    refusal: LocalVisionError | None = result.error if result.width is None else None
    try:
        rekognition_wire.check_image(image)
        if len(image) > rekognition_wire.MAX_IMAGE_BYTES:
            raise ImageTooLargeError(
                f"Image size is {len(image):,} bytes; the maximum is "
                f"{rekognition_wire.MAX_IMAGE_BYTES:,}."
            )
    except LocalVisionError as exc:
        refusal = refusal or exc
    if refusal is not None:
        _, _, payload = rekognition_wire.error_response(refusal)
        return {"error": payload}
    out: dict[str, Any] = {}
    for feature in features:
        operation = AWS_OPERATIONS.get(feature)
        if operation is None:
            out.setdefault("not_in_rekognition", []).append(feature.value)
        elif operation == "DetectLabels" and operation not in out:
            request = rekognition_wire.DetectLabelsRequest(image=b"", features=())
            out[operation] = rekognition_wire.detect_labels_response(
                result, request, model_version="localvision"
            )
        elif operation == "DetectFaces":
            out[operation] = rekognition_wire.detect_faces_response(result)
        elif operation == "DetectText":
            out[operation] = rekognition_wire.detect_text_response(
                result, rekognition_wire.WordFilter()
            )
    return out
