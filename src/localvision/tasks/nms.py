"""Greedy non-maximum suppression (NMS): of boxes that overlap, keep the best-scoring one.

Detectors (object models, the face cascades) report the same thing several times with
slightly shifted boxes. Greedy NMS visits boxes best score first and keeps a box unless a box
already kept overlaps it by more than ``iou_threshold``; the comparison is strict, so a pair
overlapping by exactly the threshold both stay. Equal scores keep their input order (a stable
sort), so results never depend on the sorting algorithm.

With ``classes`` given, only boxes of the same class suppress each other (a person does not
hide the bicycle under them); without, every box competes with every other.

Boxes are ``[N, 4]`` arrays of ``x0, y0, x1, y1``; arithmetic stays in the caller's dtype so
the results are exactly what the caller's own numbers give.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["box_areas", "box_iou", "non_max_suppression"]


def box_areas(boxes: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Area of each ``x0, y0, x1, y1`` box; boxes with a negative side have area 0."""
    widths = np.clip(boxes[:, 2] - boxes[:, 0], 0, None)
    heights = np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
    areas: np.ndarray[Any, Any] = widths * heights
    return areas


def box_iou(
    box: np.ndarray[Any, Any],
    others: np.ndarray[Any, Any],
    *,
    area: Any = None,
    other_areas: np.ndarray[Any, Any] | None = None,
) -> np.ndarray[Any, Any]:
    """Intersection over union of one box ``[4]`` with each of ``others`` ``[M, 4]``.

    A pair whose union is empty (two boxes of zero area) has IoU 0. ``area`` and
    ``other_areas`` may be passed when the caller has them already (see :func:`box_areas`).
    """
    if area is None:
        area = box_areas(box[None, :])[0]
    if other_areas is None:
        other_areas = box_areas(others)
    x0 = np.maximum(box[0], others[:, 0])
    y0 = np.maximum(box[1], others[:, 1])
    x1 = np.minimum(box[2], others[:, 2])
    y1 = np.minimum(box[3], others[:, 3])
    overlap = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    union = area + other_areas - overlap
    iou: np.ndarray[Any, Any] = np.divide(
        overlap, union, out=np.zeros_like(overlap), where=union > 0
    )
    return iou


def non_max_suppression(
    boxes: np.ndarray[Any, Any],
    scores: np.ndarray[Any, Any],
    classes: np.ndarray[Any, Any] | None,
    iou_threshold: float,
) -> np.ndarray[Any, Any]:
    """Indices of the boxes kept by greedy NMS, best score first (ties in input order).

    ``boxes`` is ``[N, 4]`` (``x0, y0, x1, y1``), ``scores`` ``[N]``. A box is dropped when a
    kept box of higher rank overlaps it by IoU strictly greater than ``iou_threshold``.
    ``classes`` (``[N]``) makes it class-wise: only boxes of equal class suppress each other;
    ``None`` lets every box suppress every other.
    """
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    suppressed = np.zeros(len(scores), dtype=bool)
    areas = box_areas(boxes)
    for position, i in enumerate(order):
        if suppressed[i]:
            continue
        keep.append(int(i))
        rest = order[position + 1 :]
        rivals = ~suppressed[rest]
        if classes is not None:
            rivals &= classes[rest] == classes[i]
        rest = rest[rivals]
        if not len(rest):
            continue
        iou = box_iou(boxes[i], boxes[rest], area=areas[i], other_areas=areas[rest])
        suppressed[rest[iou > iou_threshold]] = True
    return np.array(keep, dtype=np.int64)
