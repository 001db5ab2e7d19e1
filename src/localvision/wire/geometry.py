"""Boxes, rectangles and quadrilaterals as the wire adapters convert them.

Inside localvision a region is in pixels of the original image: a box is its corners
``(left, top, right, bottom)`` and text has a :data:`~localvision.types.Quad` of four points.
The protocols say the same things other ways: Google writes four vertices (in pixels, or
``normalizedVertices`` in 0..1 of the image), Rekognition a ``BoundingBox`` of left, top, width
and height as ratios of the image plus a ``Polygon``, Azure a pixel ``{x, y, w, h}`` and
polygons of any length. These pure functions are the arithmetic those translations share, so
each adapter keeps only its field names and its rounding.

The order of operations is part of each adapter's output (``(right - left) / width`` is not
always ``right / width - left / width`` in floating point), so every function here computes
exactly one documented formula and the adapters compose them in the order they always did.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from ..types import Quad

__all__ = [
    "Box",
    "Point",
    "Rect",
    "bounds",
    "box_to_rect",
    "corners",
    "from_ratios",
    "points_from_ratios",
    "points_to_ratios",
    "rect_to_box",
    "round_box",
    "round_points",
    "to_quad",
    "to_ratios",
]

Point = tuple[float, float]
"""``(x, y)``."""

Box = tuple[float, float, float, float]
"""``(left, top, right, bottom)``: a region by its corners."""

Rect = tuple[float, float, float, float]
"""``(left, top, width, height)``: a region by its origin and size."""

N = TypeVar("N", int, float)

_ORIGIN: Point = (0.0, 0.0)


def corners(
    left: N, top: N, right: N, bottom: N
) -> tuple[tuple[N, N], tuple[N, N], tuple[N, N], tuple[N, N]]:
    """The four corners of a box, clockwise from top-left (the order every protocol uses)."""
    return (left, top), (right, top), (right, bottom), (left, bottom)


def bounds(points: Sequence[tuple[N, N]]) -> tuple[N, N, N, N]:
    """The smallest box around ``points``: ``(min x, min y, max x, max y)``.

    Raises :class:`ValueError` for no points, as :func:`min` does; callers choose what an
    empty polygon means in their protocol.
    """
    if not points:
        raise ValueError("bounds() of no points")
    xs = [x for x, _ in points]
    ys = [y for _, y in points]
    return min(xs), min(ys), max(xs), max(ys)


def rect_to_box(rect: Rect) -> Box:
    """``(left, top, width, height)`` → ``(left, top, left + width, top + height)``."""
    left, top, width, height = rect
    return left, top, left + width, top + height


def box_to_rect(box: Box) -> Rect:
    """``(left, top, right, bottom)`` → ``(left, top, right - left, bottom - top)``."""
    left, top, right, bottom = box
    return left, top, right - left, bottom - top


def to_ratios(values: Box | Rect, width: float, height: float) -> tuple[float, float, float, float]:
    """An ``(x, y, x, y)`` tuple (a box or a rect) divided by the image size: pixels → 0..1.

    Each value is divided (``x / width``), never multiplied by a reciprocal, so the result is
    the correctly rounded ratio. Nothing is clamped: a region past the edge stays past it.
    """
    x1, y1, x2, y2 = values
    return x1 / width, y1 / height, x2 / width, y2 / height


def from_ratios(
    values: Box | Rect, width: float, height: float
) -> tuple[float, float, float, float]:
    """An ``(x, y, x, y)`` tuple (a box or a rect) in 0..1 of the image → pixels."""
    x1, y1, x2, y2 = values
    return x1 * width, y1 * height, x2 * width, y2 * height


def points_to_ratios(points: Sequence[Point], width: float, height: float) -> list[Point]:
    """Each point divided by the image size: pixels → 0..1."""
    return [(x / width, y / height) for x, y in points]


def points_from_ratios(points: Sequence[Point], width: float, height: float) -> list[Point]:
    """Each point multiplied by the image size: 0..1 → pixels."""
    return [(x * width, y * height) for x, y in points]


def round_box(box: Box) -> tuple[int, int, int, int]:
    """A box rounded to whole pixels (Python's :func:`round`: halves go to the even pixel)."""
    left, top, right, bottom = box
    return round(left), round(top), round(right), round(bottom)


def round_points(points: Sequence[Point]) -> list[tuple[int, int]]:
    """Points rounded to whole pixels, as :func:`round_box` rounds."""
    return [(round(x), round(y)) for x, y in points]


def to_quad(points: Sequence[Point], *, repeat_last: bool = False) -> Quad:
    """The first four points as a :data:`~localvision.types.Quad`.

    A polygon with more than four points is cut to its first four; one with fewer is padded
    with the origin, or with its own last point when ``repeat_last`` (the origin if it has
    none), so a short polygon stays where it was instead of reaching to the corner.
    """
    quad = list(points[:4])
    while len(quad) < 4:
        quad.append(quad[-1] if repeat_last and quad else _ORIGIN)
    return quad[0], quad[1], quad[2], quad[3]
