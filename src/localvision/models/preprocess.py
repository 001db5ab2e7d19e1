"""Turning a decoded image into the exact tensor a model's card asks for.

Resize (centre crop, letterbox or stretch, bilinear), channel order, value range, mean/std,
layout, and, for integer inputs, quantization from the tensor's own parameters. The output is
one item without the batch axis; tasks stack items into batches.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from ..errors import ModelCardError
from ..types import DecodedImage
from .card import InputRange, Layout, ModelCard, ResizeMode
from .runtime import TensorSpec

__all__ = [
    "LETTERBOX_FILL",
    "PREPROCESSING_FIELDS",
    "assumed_preprocessing",
    "crop_box",
    "input_affine",
    "input_pixels",
    "letterbox_geometry",
    "min_side_needed",
    "scale_pixels",
    "to_tensor",
]

LETTERBOX_FILL = (114, 114, 114)  # the grey YOLO-style exports are trained with
PREPROCESSING_FIELDS = ("input_range", "mean", "std", "resize", "channel_order")
"""The card fields that change what a model predicts for the same image."""


def assumed_preprocessing(card: ModelCard, spec: TensorSpec) -> list[str]:
    """The :data:`PREPROCESSING_FIELDS` that only a default set, when the scaling is a guess.

    A float input whose ``input_range`` nobody stated (not the model, a card or the user) is fed
    by convention (0..1 and ImageNet mean/std): a model trained otherwise gives wrong scores
    without any error. Then every preprocessing field left at its default is returned, in
    :data:`PREPROCESSING_FIELDS` order. An integer input takes raw pixels by its type, and a
    card that states the scaling has been looked at, so both return ``[]``.
    """
    if spec.is_integer or card.provenance.get("input_range", "default") != "default":
        return []
    return [name for name in PREPROCESSING_FIELDS if card.provenance.get(name) == "default"]


def min_side_needed(card: ModelCard) -> int:
    """Fewest pixels the short side of a decoded image may have without losing detail."""
    return max(card.input_size)


def crop_box(size: tuple[int, int], target: tuple[int, int]) -> tuple[float, float, float, float]:
    """The largest centred box of ``size`` (w, h) with the aspect ratio of ``target`` (w, h)."""
    width, height = size
    aspect = target[0] / target[1]
    if width / height > aspect:
        crop_w, crop_h = height * aspect, float(height)
    else:
        crop_w, crop_h = float(width), width / aspect
    left, top = (width - crop_w) / 2, (height - crop_h) / 2
    return (left, top, left + crop_w, top + crop_h)


def to_tensor(
    image: DecodedImage, card: ModelCard, spec: TensorSpec, channels: int = 3
) -> np.ndarray[Any, Any]:
    """The model input for ``image``: shape (C, H, W) or (H, W, C) per the card's layout."""
    return scale_pixels(input_pixels(image, card, channels), card, spec)


def input_pixels(image: DecodedImage, card: ModelCard, channels: int = 3) -> np.ndarray[Any, Any]:
    """``image`` resized for the model, in its channel order: uint8 (H, W, C).

    The first half of :func:`to_tensor`; training keeps these to augment before scaling.
    """
    pixels = image.pixels if channels == 3 else image.pixels.convert("L")
    height, width = card.input_size
    resized = _resize(pixels, (width, height), card.resize)
    array = np.asarray(resized)
    if array.ndim == 2:
        array = array[:, :, None]
    if card.channel_order == "BGR" and array.shape[2] == 3:
        array = array[:, :, ::-1]
    return array


def scale_pixels(
    pixels: np.ndarray[Any, Any], card: ModelCard, spec: TensorSpec
) -> np.ndarray[Any, Any]:
    """uint8 (..., H, W, C) pixels as the model's input: layout, range, mean/std, dtype.

    The second half of :func:`to_tensor`; works on one image or a batch.
    """
    if card.layout == Layout.NCHW:
        pixels = np.moveaxis(pixels, -1, -3)  # on bytes: cheaper than on floats
    return _scale(pixels, card, spec, channel_axis=-3 if card.layout == Layout.NCHW else -1)


def _resize(image: Image.Image, target: tuple[int, int], mode: ResizeMode) -> Image.Image:
    if image.size == target:  # every mode keeps an image that is already the input size
        return image
    if mode == ResizeMode.STRETCH:
        return image.resize(target, Image.Resampling.BILINEAR)
    if mode == ResizeMode.CENTER_CROP:
        return image.resize(target, Image.Resampling.BILINEAR, box=crop_box(image.size, target))
    _, inner, offset = letterbox_geometry(image.size, target)
    canvas = Image.new(image.mode, target, LETTERBOX_FILL if image.mode == "RGB" else 114)
    canvas.paste(image.resize(inner, Image.Resampling.BILINEAR), offset)
    return canvas


def letterbox_geometry(
    size: tuple[int, int], target: tuple[int, int]
) -> tuple[float, tuple[int, int], tuple[int, int]]:
    """How ``size`` (w, h) fits centred in ``target`` (w, h): scale, inner size, offset."""
    scale = min(target[0] / size[0], target[1] / size[1])
    inner = (max(1, round(size[0] * scale)), max(1, round(size[1] * scale)))
    offset = ((target[0] - inner[0]) // 2, (target[1] - inner[1]) // 2)
    return scale, inner, offset


def input_affine(
    card: ModelCard, channels: int
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Per-channel ``(a, b)`` such that the model's input is ``pixel * a + b``.

    Folding range scaling and mean/std into one multiply-add keeps pre-processing to two
    passes over the pixels.
    """
    if card.input_range == InputRange.UNIT:
        a, b = np.full(channels, 1 / 255), np.zeros(channels)
    elif card.input_range == InputRange.SYMMETRIC:
        a, b = np.full(channels, 1 / 127.5), np.full(channels, -1.0)
    else:
        a, b = np.ones(channels), np.zeros(channels)
    if card.mean is not None and card.std is not None:
        mean = np.asarray(card.mean[:channels], dtype=np.float64)
        std = np.asarray(card.std[:channels], dtype=np.float64)
        a, b = a / std, (b - mean) / std
    return a.astype(np.float32), b.astype(np.float32)


def _scale(
    array: np.ndarray[Any, Any], card: ModelCard, spec: TensorSpec, *, channel_axis: int
) -> np.ndarray[Any, Any]:
    plain = card.input_range == InputRange.RAW and card.mean is None
    if spec.is_integer and plain:
        # Raw pixels straight in: uint8 as they are, int8 shifted into its range.
        if spec.dtype == np.int8:
            return (array.astype(np.int16) - 128).astype(np.int8)
        return np.ascontiguousarray(array, dtype=spec.dtype)
    channels = array.shape[channel_axis]
    a, b = input_affine(card, channels)
    shape = [1] * array.ndim
    shape[channel_axis] = channels
    values = np.empty(array.shape, dtype=np.float32)
    np.multiply(array, a.reshape(shape), out=values)
    values += b.reshape(shape)
    if not spec.is_integer:
        return values if spec.dtype == np.float32 else values.astype(spec.dtype)
    if spec.quantization is None:
        raise ModelCardError(
            f"The model's input {spec.name!r} is {spec.dtype} without quantization parameters, "
            f"so it cannot take input_range {card.input_range.value} with mean/std.",
            hint='Set input_range = "0..255" and no mean/std in the model card.',
        )
    scale, zero_point = spec.quantization
    info = np.iinfo(spec.dtype)
    quantized = np.round(values / np.float32(scale)) + zero_point
    result: np.ndarray[Any, Any] = np.clip(quantized, info.min, info.max).astype(spec.dtype)
    return result
