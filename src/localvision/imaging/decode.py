"""Decoding images safely and cheaply.

Everything an image passes through before a model sees it:

* size limits checked before the bytes are read whole (files) and before pixels are decoded
  (the header gives width and height), so decompression bombs fail fast;
* formats limited to JPEG, PNG, BMP, GIF (first frame), WebP and TIFF;
* EXIF orientation applied, so coordinates refer to the image as a person sees it;
* JPEG decoded at reduced scale (Pillow's draft mode, i.e. DCT scaling) when the caller says
  how many pixels it needs: a 12 MP photo for a 224 px model costs a fraction of a full decode.

Example::

    image = decode_image("photo.jpg", min_side=224)
    image.width, image.height   # the original's size, orientation applied
    image.pixels.size           # what was decoded: at least 224 px on the short side
"""

from __future__ import annotations

import io
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import (
    ImageDecodeError,
    ImageNotFoundError,
    ImageTooLargeError,
    InvalidInputError,
    LocalVisionError,
    UnsupportedImageFormatError,
)
from ..types import DecodedImage, ImageInput

__all__ = ["ACCEPTED_FORMATS", "ImageLimits", "decode_image", "describe_source", "read_source"]

# Pillow format names. The JPEG plugin also opens MPO, what phones write: a JPEG with extra
# frames appended.
ACCEPTED_FORMATS = ("JPEG", "PNG", "BMP", "GIF", "WEBP", "TIFF")
_DRAFT_FORMATS = ("JPEG", "MPO")
# EXIF orientations 5..8 rotate by 90 or 270 degrees, swapping width and height.
_EXIF_ORIENTATION = 0x0112
_SWAPPING_ORIENTATIONS = (5, 6, 7, 8)


@dataclass(frozen=True, slots=True)
class ImageLimits:
    """The largest image accepted, in encoded bytes and in decoded pixels."""

    max_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 50_000_000


DEFAULT_LIMITS = ImageLimits()


def describe_source(source: ImageInput) -> str:
    """A short human name for an image source, for messages and results (never the bytes)."""
    if isinstance(source, str | os.PathLike):
        return os.fspath(source)
    if isinstance(source, bytes | bytearray | memoryview):
        return f"<{len(source)} bytes>"
    if isinstance(source, np.ndarray):
        return f"<array {'x'.join(map(str, source.shape))}>"
    return "<image>"


def read_source(source: ImageInput, limits: ImageLimits = DEFAULT_LIMITS) -> bytes | None:
    """Return encoded bytes for paths and byte-likes (None for arrays and PIL images).

    Files are checked against ``limits.max_bytes`` by their size before being read.
    """
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        _check_byte_size(len(data), limits, describe_source(source))
        return data
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        try:
            stat = path.stat()
        except FileNotFoundError:
            raise ImageNotFoundError(
                f"Image file {path} does not exist.", hint="Check the path."
            ) from None
        except OSError as exc:
            raise ImageNotFoundError(f"Image file {path} cannot be read: {exc}.") from exc
        if not path.is_file():
            raise ImageNotFoundError(f"{path} is not a file.", hint="Pass an image file.")
        _check_byte_size(stat.st_size, limits, str(path))
        try:
            return path.read_bytes()
        except OSError as exc:
            raise ImageNotFoundError(f"Image file {path} cannot be read: {exc}.") from exc
    return None


def decode_image(
    source: ImageInput,
    *,
    limits: ImageLimits = DEFAULT_LIMITS,
    min_side: int | None = None,
    name: str | None = None,
) -> DecodedImage:
    """Decode ``source`` to an RGB image, applying EXIF orientation and the limits.

    ``min_side``: the decoded short side may be reduced down to (not below) this many pixels
    where the format allows it cheaply (JPEG). ``None`` decodes at full resolution.

    Raises :class:`ImageNotFoundError`, :class:`ImageTooLargeError`,
    :class:`ImageDecodeError`, :class:`UnsupportedImageFormatError` or (for objects that are
    no image) :class:`InvalidInputError`, each naming the image, and nothing else: whatever a
    decoder raises on hostile bytes (Pillow raised ``TypeError`` on some truncated interlaced
    PNGs, for one) becomes this image's :class:`ImageDecodeError`, so a caller holding many
    images can put the failure on this one and go on with the rest.
    """
    label = name or describe_source(source)
    try:
        if isinstance(source, Image.Image):
            return _from_pil(source, limits, label)
        if isinstance(source, np.ndarray):
            return _from_array(source, limits, label)
        data = read_source(source, limits)
        if data is None:
            raise InvalidInputError(
                f"Cannot use an object of type {type(source).__name__} as an image.",
                hint="Pass bytes, a path, a numpy array or a PIL image.",
            )
        return _from_bytes(data, limits, min_side, label)
    except LocalVisionError:
        raise
    except Exception as exc:  # a decoder's own bug on hostile input is still this image's fault
        raise _unexpected(exc, label) from exc


def _unexpected(exc: Exception, label: str) -> LocalVisionError:
    """The error for an exception no decoding step expected, naming the image."""
    if isinstance(exc, MemoryError):
        return ImageTooLargeError(f"Image {label} needs more memory to decode than is free.")
    return ImageDecodeError(
        f"Image {label} is corrupt or truncated: the decoder failed ({type(exc).__name__}: {exc}).",
        hint="Re-export the image or check that the upload completed.",
    )


def _from_bytes(data: bytes, limits: ImageLimits, min_side: int | None, label: str) -> DecodedImage:
    if not data:
        raise ImageDecodeError(f"Image {label} is empty (0 bytes).")
    image = _open(data, label)
    width, height = image.size
    _check_pixels(width, height, limits, label)
    if min_side and image.format in _DRAFT_FORMATS:
        _draft(image, min_side)
    try:
        # Pixels first, EXIF after: for a PNG, getexif() loads the pixels itself and
        # _orientation() must swallow what it raises, so a truncated file would come back as
        # a half-decoded image, or break the next load() with a TypeError.
        image.load()
        orientation = _orientation(image)
        if orientation in _SWAPPING_ORIENTATIONS:
            width, height = height, width
        rgb = _to_rgb(image)
        if orientation not in (None, 1):
            rgb = _transpose(rgb, orientation)
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(f"Image {label} is too large to decode: {exc}.") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageDecodeError(
            f"Image {label} is corrupt or truncated: {exc}.",
            hint="Re-export the image or check that the upload completed.",
        ) from exc
    return DecodedImage(pixels=rgb, width=width, height=height, format=image.format, name=label)


def _open(data: bytes, label: str) -> Image.Image:
    with warnings.catch_warnings():
        # Our own pixel limit applies; Pillow's warning threshold is not ours.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            return Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
        except Image.DecompressionBombError as exc:
            raise ImageTooLargeError(f"Image {label} has too many pixels: {exc}.") from exc
        except UnidentifiedImageError:
            other = _identify_any(data)
            if other is not None:
                raise UnsupportedImageFormatError(
                    f"Image {label} is {other}, which is not accepted.",
                    hint=f"Convert it to one of: {', '.join(ACCEPTED_FORMATS)}.",
                ) from None
            raise ImageDecodeError(
                f"Image {label} is not a recognisable image "
                f"(accepted: {', '.join(ACCEPTED_FORMATS)}).",
            ) from None
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise ImageDecodeError(f"Image {label} cannot be read: {exc}.") from exc


def _identify_any(data: bytes) -> str | None:
    """The format name Pillow gives ``data`` among all its plugins, if any."""
    try:
        with Image.open(io.BytesIO(data)) as other:
            return other.format
    except Exception:
        return None


def _orientation(image: Image.Image) -> int | None:
    try:
        value = image.getexif().get(_EXIF_ORIENTATION)
    except Exception:  # broken EXIF blocks must not make a good image unreadable
        return None
    return int(value) if isinstance(value, int) and 1 <= value <= 8 else None


def _draft(image: Image.Image, min_side: int) -> None:
    """Ask the JPEG decoder for the smallest DCT scale keeping the short side >= min_side."""
    width, height = image.size
    short = min(width, height)
    if short < 2 * min_side:
        return  # DCT scaling halves at least; nothing to gain
    factor = min_side / short
    image.draft("RGB", (math.ceil(width * factor), math.ceil(height * factor)))


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        # Transparent pixels become white, as they look in a viewer on a white page.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.float32)
        peak = float(array.max()) or 1.0
        scaled = np.clip(array * (255.0 / max(peak, 255.0)), 0, 255).astype(np.uint8)
        return Image.fromarray(scaled).convert("RGB")
    return image.convert("RGB")


def _transpose(image: Image.Image, orientation: int) -> Image.Image:
    method = {
        2: Image.Transpose.FLIP_LEFT_RIGHT,
        3: Image.Transpose.ROTATE_180,
        4: Image.Transpose.FLIP_TOP_BOTTOM,
        5: Image.Transpose.TRANSPOSE,
        6: Image.Transpose.ROTATE_270,
        7: Image.Transpose.TRANSVERSE,
        8: Image.Transpose.ROTATE_90,
    }[orientation]
    return image.transpose(method)


def _from_pil(image: Image.Image, limits: ImageLimits, label: str) -> DecodedImage:
    _check_pixels(image.width, image.height, limits, label)
    rgb = _to_rgb(image)
    return DecodedImage(rgb, rgb.width, rgb.height, format=image.format, name=label)


def _from_array(array: np.ndarray[Any, Any], limits: ImageLimits, label: str) -> DecodedImage:
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise InvalidInputError(
            f"Image array {label} must be HxW, HxWx3 or HxWx4; got shape {array.shape}."
        )
    if array.dtype != np.uint8:
        raise InvalidInputError(
            f"Image array {label} must have dtype uint8 (0..255); got {array.dtype}.",
            hint="Scale float images with (array * 255).round().astype('uint8').",
        )
    height, width = array.shape[:2]
    if width == 0 or height == 0:
        raise ImageDecodeError(f"Image array {label} has no pixels.")
    _check_pixels(width, height, limits, label)
    return _from_pil(Image.fromarray(np.ascontiguousarray(array)), limits, label)


def _check_byte_size(size: int, limits: ImageLimits, label: str) -> None:
    if size > limits.max_bytes:
        raise ImageTooLargeError(
            f"Image {label} is {size:,} bytes; the limit is {limits.max_bytes:,}.",
            hint="Send a smaller image or raise max_image_bytes in localvision.toml.",
        )


def _check_pixels(width: int, height: int, limits: ImageLimits, label: str) -> None:
    if width <= 0 or height <= 0:
        raise ImageDecodeError(f"Image {label} has no pixels ({width}x{height}).")
    if width * height > limits.max_pixels:
        raise ImageTooLargeError(
            f"Image {label} is {width}x{height} = {width * height:,} pixels; "
            f"the limit is {limits.max_pixels:,}.",
            hint="Downscale it or raise max_image_pixels in localvision.toml.",
        )
