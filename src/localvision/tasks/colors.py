"""Image properties: dominant colours and whole-image quality, with no model.

Dominant colours are k-means clusters in CIELAB of a downsampled copy of the image (about
9,000 pixels, so the cost does not grow with the photo), seeded deterministically so the same
image always gives the same answer; clusters closer than a just-noticeable difference merge.
Each colour is the mean sRGB of its pixels (0..255, as Google returns them), its
``pixel_fraction`` the share of pixels it covers, and its ``score`` that share too: what makes a
colour "dominant" here is how much of the image it covers.

Quality: brightness is mean luminance; contrast the RMS contrast of luminance (its standard
deviation, scaled so 0.5 is 1.0); sharpness is a monotonic map of the variance of the Laplacian
of luminance, the usual blur measure, to 0..1.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from ..types import AnnotateResult, Color, DecodedImage, Feature, FeatureRequest, ImageQuality
from .palette import nearest_name, srgb_to_lab

__all__ = ["DEFAULT_MAX_COLORS", "ColorsTask", "dominant_colors", "image_quality"]

DEFAULT_MAX_COLORS = 10
_SAMPLE_SIDE = 96  # colours are clustered on at most 96x96 pixels
_QUALITY_SIDE = 512  # sharpness and contrast are measured at most this size
_MERGE_DISTANCE = 6.0  # CIE76: about what people notice side by side
_ITERATIONS = 20
_LUMA = np.array([0.2126, 0.7152, 0.0722])
_SHARPNESS_SCALE = 0.002  # Laplacian variance (luminance in 0..1) that maps to 1 - 1/e


class ColorsTask:
    """Dominant colours and quality of every image; needs no model."""

    feature = Feature.COLORS
    runs_batches = False

    @property
    def min_side(self) -> int | None:
        return _QUALITY_SIDE

    def pre_process(self, image: DecodedImage) -> tuple[np.ndarray[Any, Any], ImageQuality]:
        pixels = image.pixels
        sample = pixels.copy()
        sample.thumbnail((_SAMPLE_SIDE, _SAMPLE_SIDE), Image.Resampling.BOX)
        return np.asarray(sample).reshape(-1, 3), image_quality(pixels)

    def forward(self, items: Sequence[Any]) -> list[Any]:
        return [(dominant_colors(rgb), quality) for rgb, quality in items]

    def post_process(
        self, raw: Any, image_size: tuple[int, int], request: FeatureRequest, result: AnnotateResult
    ) -> None:
        colors, quality = raw
        limit = request.max_results or DEFAULT_MAX_COLORS
        minimum = request.min_score or 0.0
        result.colors = [c for c in colors if c.score >= minimum][:limit]
        result.quality = quality


def dominant_colors(rgb: np.ndarray[Any, Any], k: int = DEFAULT_MAX_COLORS) -> list[Color]:
    """Dominant colours of an ``(N, 3)`` uint8 pixel array, most covering first."""
    pixels = np.asarray(rgb, dtype=np.uint8).reshape(-1, 3)
    if len(pixels) == 0:
        return []
    lab = srgb_to_lab(pixels)
    packed = pixels.astype(np.int32) @ np.array([1 << 16, 1 << 8, 1], dtype=np.int32)
    centres = _initial_centres(lab, min(k, len(np.unique(packed))))
    assignment = _kmeans(lab, centres)
    groups = [np.flatnonzero(assignment == j) for j in range(assignment.max() + 1)]
    groups = _merge_close([g for g in groups if len(g)], lab)
    total = len(pixels)
    colors = []
    for members in groups:
        mean = pixels[members].mean(axis=0)
        red, green, blue = (round(float(v)) for v in mean)
        fraction = len(members) / total
        colors.append(
            Color(
                red,
                green,
                blue,
                score=fraction,
                pixel_fraction=fraction,
                name=nearest_name((red, green, blue)),
                simple_name=nearest_name((red, green, blue), basic=True),
            )
        )
    colors.sort(key=lambda c: (-c.pixel_fraction, c.red, c.green, c.blue))
    return colors


def _kmeans(lab: np.ndarray[Any, Any], centres: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Lloyd's iterations; distances as |x|^2 - 2 x.c + |c|^2, means by bincount."""
    k = len(centres)
    squared = (lab**2).sum(axis=1)[:, None]
    assignment = np.full(len(lab), -1)
    for _ in range(_ITERATIONS):
        distances = squared - 2 * lab @ centres.T + (centres**2).sum(axis=1)[None, :]
        new_assignment = distances.argmin(axis=1)
        if np.array_equal(new_assignment, assignment):
            break
        assignment = new_assignment
        counts = np.bincount(assignment, minlength=k)
        sums = np.stack(
            [np.bincount(assignment, weights=lab[:, c], minlength=k) for c in range(3)], axis=1
        )
        filled = counts > 0
        centres = centres.copy()
        centres[filled] = sums[filled] / counts[filled, None]
    return assignment


def _initial_centres(lab: np.ndarray[Any, Any], k: int) -> np.ndarray[Any, Any]:
    """k-means++ seeding with a fixed generator: spread-out starting points, reproducibly."""
    rng = np.random.default_rng(0)
    centres = [lab[int(rng.integers(len(lab)))]]
    nearest = ((lab - centres[0]) ** 2).sum(axis=1)
    for _ in range(1, k):
        if nearest.sum() <= 0:
            break
        index = int(rng.choice(len(lab), p=nearest / nearest.sum()))
        centres.append(lab[index])
        nearest = np.minimum(nearest, ((lab - lab[index]) ** 2).sum(axis=1))
    return np.array(centres)


def _merge_close(groups: list[np.ndarray[Any, Any]], lab: np.ndarray[Any, Any]) -> list[Any]:
    while len(groups) > 1:
        means = np.array([lab[g].mean(axis=0) for g in groups])
        gaps = np.linalg.norm(means[:, None, :] - means[None, :, :], axis=2)
        np.fill_diagonal(gaps, np.inf)
        i, j = np.unravel_index(int(gaps.argmin()), gaps.shape)
        if gaps[i, j] >= _MERGE_DISTANCE:
            break
        groups[i] = np.concatenate([groups[i], groups[j]])
        del groups[j]
    return groups


def image_quality(image: Image.Image) -> ImageQuality:
    """Brightness, sharpness and contrast of ``image`` in 0..1."""
    small = image.copy()
    small.thumbnail((_QUALITY_SIDE, _QUALITY_SIDE), Image.Resampling.BOX)
    rgb = np.asarray(small, dtype=np.float64) / 255.0
    luminance = rgb @ _LUMA
    brightness = float(luminance.mean())
    contrast = float(min(1.0, luminance.std() / 0.5))
    if min(luminance.shape) >= 3:
        laplacian = (
            luminance[1:-1, :-2]
            + luminance[1:-1, 2:]
            + luminance[:-2, 1:-1]
            + luminance[2:, 1:-1]
            - 4 * luminance[1:-1, 1:-1]
        )
        sharpness = float(1.0 - np.exp(-laplacian.var() / _SHARPNESS_SCALE))
    else:
        sharpness = 0.0
    return ImageQuality(brightness=brightness, sharpness=sharpness, contrast=contrast)
