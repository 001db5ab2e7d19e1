"""The shared non-maximum suppression used by the faces and objects tasks."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from localvision.tasks import faces, objects
from localvision.tasks.nms import box_areas, box_iou, non_max_suppression


def nms(
    boxes: Sequence[Sequence[float]],
    scores: Sequence[float],
    threshold: float,
    classes: Sequence[int] | None = None,
) -> list[int]:
    kept = non_max_suppression(
        np.array(boxes, dtype=np.float64).reshape(-1, 4),
        np.array(scores, dtype=np.float64),
        None if classes is None else np.array(classes),
        threshold,
    )
    assert kept.dtype == np.int64
    return [int(i) for i in kept]


def test_overlapping_boxes_are_suppressed_and_disjoint_ones_kept() -> None:
    boxes = [[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]]
    assert nms(boxes, [0.9, 0.8, 0.7], 0.5) == [0, 2]


def test_kept_boxes_come_best_score_first() -> None:
    boxes = [[0, 0, 10, 10], [20, 20, 30, 30], [40, 40, 50, 50]]
    assert nms(boxes, [0.2, 0.9, 0.5], 0.5) == [1, 2, 0]


def test_the_best_of_an_overlapping_pair_wins_whatever_its_position() -> None:
    boxes = [[0, 0, 10, 10], [1, 1, 11, 11]]
    assert nms(boxes, [0.3, 0.8], 0.5) == [1]


def test_equal_scores_keep_input_order() -> None:
    boxes = [[0, 0, 10, 10], [20, 20, 30, 30], [0, 0, 10, 10]]
    assert nms(boxes, [0.5, 0.5, 0.5], 0.5) == [0, 1]
    assert nms(boxes[::-1], [0.5, 0.5, 0.5], 0.5) == [0, 1]


def test_only_kept_boxes_suppress() -> None:
    # B overlaps A and C; A beats B, and C, which overlaps only B, survives.
    boxes = [[0, 0, 10, 10], [5, 0, 15, 10], [10, 0, 20, 10]]
    assert nms(boxes, [0.9, 0.8, 0.7], 0.3) == [0, 2]


def test_classes_make_it_class_wise() -> None:
    boxes = [[0, 0, 10, 10], [0, 0, 10, 10], [1, 0, 10, 10]]
    scores = [0.9, 0.8, 0.7]
    assert nms(boxes, scores, 0.5, classes=[0, 1, 0]) == [0, 1]
    assert nms(boxes, scores, 0.5, classes=[0, 1, 2]) == [0, 1, 2]
    assert nms(boxes, scores, 0.5) == [0]  # without classes every box competes


def test_the_threshold_is_strict() -> None:
    # Overlap 2, union 4: IoU exactly 0.5.
    boxes = [[0, 0, 3, 1], [1, 0, 4, 1]]
    assert nms(boxes, [0.9, 0.8], 0.5) == [0, 1]
    assert nms(boxes, [0.9, 0.8], 0.49) == [0]
    assert nms(boxes, [0.9, 0.8], 1.0) == [0, 1]
    # Touching boxes (IoU 0) survive even a zero threshold; overlapping ones do not.
    assert nms([[0, 0, 1, 1], [1, 0, 2, 1]], [0.9, 0.8], 0.0) == [0, 1]
    assert nms([[0, 0, 2, 1], [1, 0, 3, 1]], [0.9, 0.8], 0.0) == [0]


def test_empty_input_keeps_nothing() -> None:
    assert nms([], [], 0.5) == []
    assert nms([], [], 0.5, classes=[]) == []


def test_iou_and_areas() -> None:
    boxes = np.array([[0, 0, 3, 1], [1, 0, 4, 1], [5, 5, 6, 6], [2, 2, 1, 1]], dtype=np.float64)
    assert box_areas(boxes).tolist() == [3.0, 3.0, 1.0, 0.0]  # a reversed box has area 0
    assert box_iou(boxes[0], boxes).tolist() == pytest.approx([1.0, 0.5, 0.0, 0.0])
    empty = np.zeros((2, 4))
    assert box_iou(empty[0], empty).tolist() == [0.0, 0.0]  # no union: IoU 0, not NaN


def test_float32_boxes_are_compared_in_float32() -> None:
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10.5]], dtype=np.float32)
    scores = np.array([0.9, 0.8], dtype=np.float32)
    assert box_iou(boxes[0], boxes).dtype == np.float32
    assert non_max_suppression(boxes, scores, None, 0.9).tolist() == [0]


def test_objects_uses_the_shared_nms() -> None:
    assert objects.non_max_suppression is non_max_suppression


def test_faces_merge_keeps_the_strongest_of_overlapping_hits() -> None:
    # (x, y, w, h, score): the first two overlap by IoU 81/119 > 0.3; the third stands alone.
    found = [(0.0, 0.0, 10.0, 10.0, 0.6), (1.0, 1.0, 10.0, 10.0, 0.9), (40.0, 0.0, 8.0, 8.0, 0.5)]
    assert faces._merge(found) == [found[1], found[2]]
    assert faces._merge([]) == []
    # IoU 0.3 exactly (overlap 3, union 10) is not merged: the threshold is strict.
    pair = [(0.0, 0.0, 6.5, 1.0, 0.9), (3.5, 0.0, 6.5, 1.0, 0.8)]
    assert faces._merge(pair) == pair
