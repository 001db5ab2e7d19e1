"""The training images in memory: decoded once at the input size, augmented batch by batch.

Fine-tuning runs the whole network on every image every epoch, so images are decoded and
resized once, up front and on a few threads, and kept as uint8 arrays (150 KB each at 224 px).
Unreadable images are skipped with their reason, never fatal. Training batches are lightly
augmented (flip, crop and resize back, brightness) from a seed per batch, so a run is the same
whichever thread prepares which batch.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ...errors import LocalVisionError
from ...imaging.decode import ImageLimits, decode_image
from ...models.model import Model
from ...models.preprocess import input_pixels, min_side_needed
from ..dataset import Dataset

__all__ = ["augment_batch", "labelled_arrays", "prepare"]


def prepare(
    model: Model,
    paths: list[Path],
    limits: ImageLimits,
    advance: Callable[[int], None] | None,
) -> tuple[dict[Path, np.ndarray[Any, Any]], list[tuple[str, str]]]:
    """Decoded, resized uint8 pixels for every readable image; (path, reason) for the rest."""

    def one(path: Path) -> np.ndarray[Any, Any] | str:
        try:
            image = decode_image(path, limits=limits, min_side=min_side_needed(model.card))
            return input_pixels(image, model.card, model.channels)
        except LocalVisionError as exc:
            return exc.message

    pixels: dict[Path, np.ndarray[Any, Any]] = {}
    skipped: list[tuple[str, str]] = []
    with ThreadPoolExecutor(4) as pool:
        for path, result in zip(paths, pool.map(one, paths), strict=True):
            if isinstance(result, str):
                skipped.append((str(path), result))
            else:
                pixels[path] = result
            if advance:
                advance(1)
    return pixels, skipped


def labelled_arrays(
    part: Dataset, pixels: dict[Path, np.ndarray[Any, Any]], index: dict[str, int]
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """The readable images of ``part`` stacked ``[N, H, W, C]``, and their class numbers."""
    kept = [s for s in part.samples if s.path in pixels]
    if not kept:
        return np.zeros((0, 0, 0, 0), np.uint8), np.zeros(0, np.int64)
    x = np.stack([pixels[s.path] for s in kept])
    return x, np.array([index[s.label] for s in kept], np.int64)


def augment_batch(pixels: np.ndarray[Any, Any], rng: np.random.Generator) -> np.ndarray[Any, Any]:
    """Flip, crop 80-100 % of the side and resize back, brightness ±10 %: per image."""
    out = np.empty_like(pixels)
    height, width = pixels.shape[1:3]
    for i, image in enumerate(pixels):
        if rng.random() < 0.5:
            image = image[:, ::-1]
        side = rng.uniform(0.8, 1.0)
        crop_h, crop_w = max(1, int(height * side)), max(1, int(width * side))
        top = int(rng.integers(0, height - crop_h + 1))
        left = int(rng.integers(0, width - crop_w + 1))
        patch = np.ascontiguousarray(image[top : top + crop_h, left : left + crop_w])
        resized = Image.fromarray(patch.squeeze(-1) if patch.shape[-1] == 1 else patch).resize(
            (width, height), Image.Resampling.BILINEAR
        )
        array = np.asarray(resized, dtype=np.float32).reshape(height, width, -1)
        out[i] = np.clip(array * rng.uniform(0.9, 1.1), 0, 255).astype(np.uint8)
    return out
