"""``BoundingPoly`` vertices ⇄ pixel regions, and proto3's omitted zeros.

Google writes a region as a polygon: ``vertices`` in whole pixels, or ``normalizedVertices`` in
0..1 of the image rounded to six digits, four of them clockwise from top-left for a box. proto3
JSON leaves out fields at their default, so a coordinate of 0 is not written. The arithmetic is
:mod:`localvision.wire.geometry`'s; this module only names Google's fields.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ...types import Quad
from .. import geometry

__all__ = [
    "bounds_vertices",
    "int_bounds",
    "normalized_vertices",
    "omit_zero",
    "quad_from_vertices",
    "quad_vertices",
    "vertices",
]


def omit_zero(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` without the entries equal to 0, as proto3 JSON leaves out defaults."""
    return {key: value for key, value in values.items() if value != 0}


def vertices(left: int, top: int, right: int, bottom: int) -> list[dict[str, int]]:
    """Four pixel vertices, clockwise from top-left; zero coordinates omitted as proto3 does."""
    return [omit_zero({"x": x, "y": y}) for x, y in geometry.corners(left, top, right, bottom)]


def bounds_vertices(points: Sequence[geometry.Point]) -> list[dict[str, int]]:
    """The vertices of the pixel box around ``points`` (none for no points)."""
    if not points:
        return []
    return vertices(*geometry.round_box(geometry.bounds(points)))


def quad_vertices(quad: Sequence[geometry.Point]) -> list[dict[str, int]]:
    """A quadrilateral's own corners, rounded to whole pixels."""
    return [omit_zero({"x": x, "y": y}) for x, y in geometry.round_points(quad)]


def normalized_vertices(box: Any, width: int, height: int) -> list[dict[str, float]]:
    """A box (anything with ``left``/``top``/``right``/``bottom`` in pixels) as four vertices
    in 0..1 of the image, clockwise from top-left."""
    ratios = geometry.to_ratios((box.left, box.top, box.right, box.bottom), width, height)
    return [omit_zero({"x": round(x, 6), "y": round(y, 6)}) for x, y in geometry.corners(*ratios)]


def int_bounds(vertices: Sequence[Mapping[str, Any]]) -> tuple[int, int, int, int]:
    """The pixel box ``(left, top, right, bottom)`` around vertices read back (all zero for
    none); a missing coordinate is 0, as proto3 omitted it."""
    xs = [int(v.get("x", 0)) for v in vertices]
    ys = [int(v.get("y", 0)) for v in vertices]
    return geometry.bounds(list(zip(xs, ys, strict=True))) if vertices else (0, 0, 0, 0)


def quad_from_vertices(vertices: Sequence[Mapping[str, Any]]) -> Quad:
    """A quadrilateral from vertices read back: the first four, padded with the origin."""
    return geometry.to_quad([(float(v.get("x", 0)), float(v.get("y", 0))) for v in vertices])
