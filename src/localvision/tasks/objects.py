"""Object localisation with a user-registered ONNX (or TFLite) detector.

Supported export layouts (``detection_format`` in the model card; ``auto`` picks by shape):

* ``yolov8`` — one output ``[1, 4 + classes, N]`` (Ultralytics YOLOv8/v11 ONNX export): boxes as
  centre x, centre y, width, height in input pixels, then one score per class;
* ``yolov5`` — one output ``[1, N, 5 + classes]``: the same boxes, an objectness score, then class
  scores (multiplied by objectness);
* ``boxes_scores_classes`` — SSD-style exports with separate outputs: boxes ``[1, N, 4]`` as
  ``[ymin, xmin, ymax, xmax]`` (TensorFlow Object Detection API order; normalised 0..1, or input
  pixels when any value exceeds 1.5), scores ``[1, N]`` and class indices ``[1, N]`` (an optional
  ``num_detections`` output is honoured). Class indices index the card's labels directly.

Pre-processing is the card's (detectors default to letterbox and plain 0..1 values); boxes are
mapped back through the letterbox to pixels of the original, scored, thresholded at
``score_threshold`` (or the request's ``min_score``), and suppressed class by class with
``iou_threshold``. Results are sorted by score, best first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import InferenceError, ModelCardError
from ..models.card import ResizeMode
from ..models.model import Model
from ..models.preprocess import crop_box, letterbox_geometry, min_side_needed, to_tensor
from ..types import AnnotateResult, DecodedImage, DetectedObject, Feature, FeatureRequest
from .nms import non_max_suppression  # class-wise here; re-exported for callers

__all__ = ["DEFAULT_MAX_OBJECTS", "ObjectsTask", "decode", "non_max_suppression"]

DEFAULT_MAX_OBJECTS = 100
FORMATS = ("yolov8", "yolov5", "boxes_scores_classes")


class ObjectsTask:
    """Objects from a detection model."""

    feature = Feature.OBJECTS
    runs_batches = True

    def __init__(self, model: Model) -> None:
        self.model = model
        self.format = detection_format(model)

    @property
    def min_side(self) -> int | None:
        return min_side_needed(self.model.card)

    def pre_process(self, image: DecodedImage) -> np.ndarray[Any, Any]:
        return to_tensor(image, self.model.card, self.model.input, self.model.channels)

    def forward(self, items: Sequence[np.ndarray[Any, Any]]) -> list[list[np.ndarray[Any, Any]]]:
        step = self.model.max_batch or max(1, len(items))
        per_image: list[list[np.ndarray[Any, Any]]] = []
        for start in range(0, len(items), step):
            chunk = list(items[start : start + step])
            pad = step - len(chunk) if self.model.max_batch else 0
            outputs = self.model.predict(np.stack(chunk + [chunk[-1]] * pad))
            for row in range(len(chunk)):
                per_image.append([output[row] if output.ndim else output for output in outputs])
        return per_image

    def post_process(
        self,
        raw: list[np.ndarray[Any, Any]],
        image_size: tuple[int, int],
        request: FeatureRequest,
        result: AnnotateResult,
    ) -> None:
        card = self.model.card
        boxes, scores, classes = decode(raw, self.format, card.input_size, len(card.labels or ()))
        threshold = card.score_threshold if request.min_score is None else request.min_score
        keep = scores >= threshold
        boxes, scores, classes = boxes[keep], scores[keep], classes[keep]
        kept = non_max_suppression(boxes, scores, classes, card.iou_threshold)
        limit = request.max_results or DEFAULT_MAX_OBJECTS
        mapped = _to_original(boxes[kept], image_size, card.input_size, card.resize)
        result.objects = [
            DetectedObject(
                name=card.label(int(cls)),
                score=float(score),
                left=float(box[0]),
                top=float(box[1]),
                right=float(box[2]),
                bottom=float(box[3]),
                index=int(cls),
            )
            for box, score, cls in zip(mapped, scores[kept], classes[kept], strict=True)
        ][:limit]


def detection_format(model: Model) -> str:
    """The card's ``detection_format``, or the one the outputs' shapes imply."""
    chosen = model.card.detection_format
    if chosen != "auto":
        return chosen
    outputs = model.runtime.outputs
    if len(outputs) >= 3:
        return "boxes_scores_classes"
    if len(outputs) == 1 and len(outputs[0].shape) == 3:
        _, a, b = outputs[0].shape
        classes = len(model.card.labels or ())
        if classes and a == 4 + classes:
            return "yolov8"
        if classes and b == 5 + classes:
            return "yolov5"
        if classes and b == 4 + classes:
            return "yolov8"  # transposed: [1, N, 4+C]
        # Channel-major [1, 4+C, N] is how YOLOv8 exports; [1, N, 5+C] how YOLOv5 does.
        if a is not None and (b is None or a < b):
            return "yolov8"
        return "yolov5"
    raise ModelCardError(
        f"Cannot tell the detection output layout of {model.name!r} "
        f"(outputs {[list(o.shape) for o in outputs]}).",
        hint=f"Set detection_format to one of {', '.join(FORMATS)} in its card.",
    )


def decode(
    outputs: list[np.ndarray[Any, Any]], fmt: str, input_size: tuple[int, int], classes: int
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Boxes ``[N, 4]`` (x0, y0, x1, y1 in input pixels), scores ``[N]``, class indices ``[N]``."""
    if fmt == "boxes_scores_classes":
        return _decode_separate(outputs, input_size)
    table = np.asarray(outputs[0], dtype=np.float32)
    if table.ndim != 2:
        raise InferenceError(f"A {fmt} output must be 2-D per image; got {table.shape}.")
    if fmt == "yolov8":
        rows, columns = table.shape
        transposed = columns == 4 + classes and rows != 4 + classes if classes else rows > columns
        if transposed:  # [N, 4+C] instead of [4+C, N]
            table = table.T
        xywh, class_scores = table[:4].T, table[4:].T
    else:
        if table.shape[1] < 6:
            table = table.T
        xywh = table[:, :4]
        class_scores = table[:, 5:] * table[:, 4:5]
    if class_scores.shape[1] == 0:
        raise InferenceError("The detector's output holds no class scores.")
    classes_out = class_scores.argmax(axis=1)
    scores = class_scores[np.arange(len(class_scores)), classes_out]
    boxes = np.stack(
        [
            xywh[:, 0] - xywh[:, 2] / 2,
            xywh[:, 1] - xywh[:, 3] / 2,
            xywh[:, 0] + xywh[:, 2] / 2,
            xywh[:, 1] + xywh[:, 3] / 2,
        ],
        axis=1,
    )
    return boxes, scores, classes_out


def _decode_separate(
    outputs: list[np.ndarray[Any, Any]], input_size: tuple[int, int]
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    arrays = [np.asarray(o) for o in outputs]
    boxes = next((a for a in arrays if a.ndim == 2 and a.shape[-1] == 4), None)
    vectors = [a for a in arrays if a.ndim == 1]
    if boxes is None or len(vectors) < 2:
        raise InferenceError(
            "boxes_scores_classes needs a [N, 4] boxes output and [N] scores and classes outputs."
        )
    count = len(boxes)
    scalars = [a for a in arrays if a.size == 1]
    if scalars:
        count = min(count, int(scalars[0].ravel()[0]))
    per_box = [v for v in vectors if len(v) == len(boxes)]
    # Scores are fractions; class indices are whole numbers.
    integral = [v for v in per_box if np.all(np.equal(np.mod(v, 1), 0))]
    fractional = [v for v in per_box if not any(v is w for w in integral)]
    if not fractional or not integral:
        scores_out, classes_out = per_box[0], per_box[1]
    else:
        scores_out, classes_out = fractional[0], integral[0]
    boxes = boxes[:count].astype(np.float32)
    height, width = input_size
    scale = np.array([width, height, width, height], np.float32) if boxes.max() <= 1.5 else 1.0
    xyxy = boxes[:, [1, 0, 3, 2]] * scale
    return xyxy, scores_out[:count].astype(np.float32), classes_out[:count].astype(np.int64)


def _to_original(
    boxes: np.ndarray[Any, Any],
    size: tuple[int, int],
    input_size: tuple[int, int],
    resize: ResizeMode,
) -> np.ndarray[Any, Any]:
    """Boxes in input pixels to pixels of the original image (undoing the card's resize)."""
    width, height = size
    target = (input_size[1], input_size[0])
    if resize == ResizeMode.LETTERBOX:
        scale, _, (dx, dy) = letterbox_geometry(size, target)
        mapped = (boxes - np.array([dx, dy, dx, dy])) / scale
    elif resize == ResizeMode.STRETCH:
        mapped = boxes * np.array([width / target[0], height / target[1]] * 2)
    else:
        left, top, right, bottom = crop_box(size, target)
        sx, sy = (right - left) / target[0], (bottom - top) / target[1]
        mapped = boxes * np.array([sx, sy, sx, sy]) + np.array([left, top, left, top])
    limits = np.array([width, height, width, height], dtype=np.float64)
    out: np.ndarray[Any, Any] = np.clip(mapped, 0, limits)
    return out
