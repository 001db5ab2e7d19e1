"""Crop hints: the crop of each requested aspect ratio that keeps what matters, with no model.

Importance is local detail: the gradient magnitude of luminance on a copy of the image at most
256 px across, smoothed so that textured regions (faces, text, objects against a plain
background) outweigh single edges, plus a small uniform floor so a flat image gets a centred
crop. For each aspect ratio, the largest crop of that shape that fits is slid over the map (an
integral image makes every position one subtraction) and the one holding the most importance
wins, ties going to the most central.

``importance_fraction`` is the share of the image's importance inside the crop; ``confidence``
is the same share (this estimator has no separate notion of certainty).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from ..errors import InvalidParameterError
from ..types import AnnotateResult, CropHint, DecodedImage, Feature, FeatureRequest

__all__ = [
    "MAX_ASPECT_RATIOS",
    "CropHintsTask",
    "best_crop",
    "check_aspect_ratios",
    "importance_map",
]

MAX_ASPECT_RATIOS = 16
DEFAULT_ASPECT_RATIOS = (1.0,)
_MAP_SIDE = 256
_SMOOTHING = 4  # box radius in map pixels
_FLOOR = 0.05  # share of the mean importance every pixel gets


def check_aspect_ratios(ratios: Sequence[float]) -> tuple[float, ...]:
    """Validate requested aspect ratios (width / height): at most 16, each in [0.1, 10]."""
    if len(ratios) > MAX_ASPECT_RATIOS:
        raise InvalidParameterError(
            f"At most {MAX_ASPECT_RATIOS} crop aspect ratios may be requested; got {len(ratios)}."
        )
    out = []
    for ratio in ratios:
        number = isinstance(ratio, int | float) and not isinstance(ratio, bool)
        if not number or not math.isfinite(ratio):
            raise InvalidParameterError(f"Crop aspect ratios must be numbers; got {ratio!r}.")
        if not 0.1 <= ratio <= 10:
            raise InvalidParameterError(
                f"Crop aspect ratios (width / height) must be between 0.1 and 10; got {ratio}."
            )
        out.append(float(ratio))
    return tuple(out)


class CropHintsTask:
    """Crop hints for every requested aspect ratio; needs no model.

    With a face detector at hand (the ``faces`` extra), faces carry half the importance, so
    crops keep people's faces before anything else.
    """

    feature = Feature.CROP_HINTS
    runs_batches = False

    def __init__(self, faces: Any = None) -> None:
        self.faces = faces

    @property
    def min_side(self) -> int | None:
        return int(self.faces.min_side) if self.faces is not None else _MAP_SIDE

    def pre_process(self, image: DecodedImage) -> np.ndarray[Any, Any]:
        importance = importance_map(image.pixels)
        if self.faces is None:
            return importance
        boxes = [(f.left, f.top, f.right, f.bottom) for f in self.faces.detect(image)]
        return with_faces(importance, boxes, (image.width, image.height))

    def forward(self, items: Sequence[Any]) -> list[Any]:
        return list(items)

    def post_process(
        self, raw: Any, image_size: tuple[int, int], request: FeatureRequest, result: AnnotateResult
    ) -> None:
        ratios = check_aspect_ratios(request.aspect_ratios) or DEFAULT_ASPECT_RATIOS
        result.crop_hints = [best_crop(raw, image_size, ratio) for ratio in ratios]


def importance_map(image: Image.Image) -> np.ndarray[Any, Any]:
    """Smoothed luminance gradient magnitude, at most 256 px across, summing to 1."""
    small = image.convert("L")
    small.thumbnail((_MAP_SIDE, _MAP_SIDE), Image.Resampling.BOX)
    gray = np.asarray(small, dtype=np.float64) / 255.0
    gradient = np.zeros_like(gray)
    gradient[:, :-1] += np.abs(np.diff(gray, axis=1))
    gradient[:-1, :] += np.abs(np.diff(gray, axis=0))
    smooth = _box_blur(gradient, _SMOOTHING)
    smooth += _FLOOR * (smooth.mean() or 1.0)
    total = smooth.sum()
    return smooth / total if total > 0 else np.full_like(smooth, 1.0 / smooth.size)


FACE_SHARE = 0.5


def with_faces(
    importance: np.ndarray[Any, Any],
    boxes: Sequence[tuple[float, float, float, float]],
    size: tuple[int, int],
) -> np.ndarray[Any, Any]:
    """The map with ``FACE_SHARE`` of the importance moved into the face boxes (by area)."""
    if not boxes:
        return importance
    height, width = importance.shape
    sx, sy = width / size[0], height / size[1]
    faces = np.zeros_like(importance)
    for left, top, right, bottom in boxes:
        x0, y0 = int(left * sx), int(top * sy)
        x1, y1 = max(x0 + 1, int(np.ceil(right * sx))), max(y0 + 1, int(np.ceil(bottom * sy)))
        faces[y0:y1, x0:x1] = 1.0
    total = faces.sum()
    if total == 0:
        return importance
    blended: np.ndarray[Any, Any] = (1 - FACE_SHARE) * importance + FACE_SHARE * faces / total
    return blended


def _box_blur(values: np.ndarray[Any, Any], radius: int) -> np.ndarray[Any, Any]:
    height, width = values.shape
    padded = np.pad(values, radius, mode="edge")
    table = np.pad(padded.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    size = 2 * radius + 1
    window = (
        table[size : size + height, size : size + width]
        - table[:height, size : size + width]
        - table[size : size + height, :width]
        + table[:height, :width]
    )
    blurred: np.ndarray[Any, Any] = window / (size * size)
    return blurred


def best_crop(importance: np.ndarray[Any, Any], size: tuple[int, int], ratio: float) -> CropHint:
    """The crop of aspect ``ratio`` in an image of ``size`` (w, h) holding the most importance."""
    width, height = size
    crop_w, crop_h = (
        (width, max(1, round(width / ratio)))
        if width / height <= ratio
        else (max(1, round(height * ratio)), height)
    )
    crop_w, crop_h = min(crop_w, width), min(crop_h, height)
    map_h, map_w = importance.shape
    scale_x, scale_y = map_w / width, map_h / height
    box_w = min(map_w, max(1, round(crop_w * scale_x)))
    box_h = min(map_h, max(1, round(crop_h * scale_y)))
    table = np.pad(importance.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    sums = (
        table[box_h:, box_w:]
        - table[:-box_h, box_w:]
        - table[box_h:, :-box_w]
        + table[:-box_h, :-box_w]
    )
    rows, cols = np.indices(sums.shape)
    centre_y, centre_x = (map_h - box_h) / 2, (map_w - box_w) / 2
    distance = np.hypot(rows - centre_y, cols - centre_x)
    # Round so that numerically equal sums tie, then prefer the most central position.
    order = np.lexsort((distance.ravel(), -np.round(sums.ravel(), 9)))
    top, left = np.unravel_index(int(order[0]), sums.shape)
    fraction = float(min(1.0, sums[top, left]))
    x0 = min(width - crop_w, round(left / scale_x))
    y0 = min(height - crop_h, round(top / scale_y))
    return CropHint(
        left=int(x0),
        top=int(y0),
        right=int(x0 + crop_w - 1),
        bottom=int(y0 + crop_h - 1),
        confidence=fraction,
        importance_fraction=fraction,
        aspect_ratio=ratio,
    )
