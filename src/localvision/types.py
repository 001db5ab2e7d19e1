"""Canonical types: what every wire protocol, engine and provider translates to and from.

Conventions that hold everywhere:

* Coordinates are pixels of the orientation-corrected original image (EXIF applied), even when
  the pixels were decoded at reduced scale.
* Scores are floats in 0..1. Wire adapters convert (Rekognition speaks 0..100).
* An :class:`AnnotateResult` with ``error`` set may still carry the annotations that succeeded.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias, Union

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image as PILImage

    from .errors import LocalVisionError

__all__ = [
    "AnnotateRequest",
    "AnnotateResult",
    "Color",
    "CropHint",
    "DecodedImage",
    "DetectedObject",
    "Face",
    "Feature",
    "FeatureRequest",
    "ImageInput",
    "ImageQuality",
    "Label",
    "TextLine",
    "TextWord",
]

ImageInput: TypeAlias = Union[
    bytes, bytearray, memoryview, str, "os.PathLike[str]", "np.ndarray[Any, Any]", "PILImage.Image"
]
"""What localvision accepts as an image: encoded bytes, a path, an HxWxC array, a PIL image."""


class Feature(enum.StrEnum):
    """What to find in an image. The values are the names used on the CLI and in config."""

    LABELS = "labels"
    TEXT = "text"
    DOCUMENT_TEXT = "document_text"
    FACES = "faces"
    COLORS = "colors"
    CROP_HINTS = "crop_hints"
    OBJECTS = "objects"

    @classmethod
    def parse(cls, value: str | Feature) -> Feature:
        """Read a feature from its name or a common alias (``crop``, ``colours``, ``ocr``)."""
        if isinstance(value, Feature):
            return value
        key = value.strip().lower().replace("-", "_")
        key = _FEATURE_ALIASES.get(key, key)
        try:
            return cls(key)
        except ValueError:
            valid = ", ".join(f.value for f in cls)
            raise ValueError(f"Unknown feature {value!r}. Valid features are: {valid}.") from None


_FEATURE_ALIASES = {
    "label": "labels",
    "classify": "labels",
    "ocr": "text",
    "document": "document_text",
    "face": "faces",
    "colours": "colors",
    "color": "colors",
    "image_properties": "colors",
    "crop": "crop_hints",
    "object": "objects",
}


@dataclass(frozen=True, slots=True)
class FeatureRequest:
    """One feature asked of one image, with its options.

    ``max_results`` caps how many annotations come back (None: the feature's default);
    ``min_score`` drops annotations scoring below it; ``model`` names the model to use
    (None: the one configured for the feature); ``aspect_ratios`` (width / height) are the
    crops wanted from ``crop_hints`` (none: one square crop).
    """

    feature: Feature
    max_results: int | None = None
    min_score: float | None = None
    model: str | None = None
    aspect_ratios: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class DecodedImage:
    """An image decoded to RGB, with what is known about the original.

    ``pixels`` may hold fewer pixels than the original when it was decoded at reduced scale
    (JPEG draft mode); ``width`` and ``height`` are always those of the orientation-corrected
    original, so annotations can be mapped back to it with :attr:`scale`.
    """

    pixels: PILImage.Image
    width: int
    height: int
    format: str | None = None
    name: str | None = None

    @property
    def scale(self) -> float:
        """Decoded pixels per original pixel (1.0 unless decoded at reduced scale)."""
        return self.pixels.width / self.width if self.width else 1.0


@dataclass(frozen=True, slots=True)
class AnnotateRequest:
    """One image and the features asked of it.

    ``name`` identifies the image in results and logs (a path or the caller's id), never
    the bytes themselves.
    """

    image: ImageInput
    features: Sequence[FeatureRequest]
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Label:
    """A class the image belongs to, with its score in 0..1.

    ``index`` is the model's output index; ``mid`` an external id (e.g. a Knowledge Graph
    id) when the model card maps one.
    """

    name: str
    score: float
    index: int = -1
    mid: str | None = None


@dataclass(frozen=True, slots=True)
class Color:
    """A dominant colour: sRGB channels 0..255, its score, and the share of pixels it covers."""

    red: int
    green: int
    blue: int
    score: float
    pixel_fraction: float
    name: str | None = None
    """The nearest CSS named colour."""
    simple_name: str | None = None
    """The nearest basic colour term (black, white, grey, red, orange, ...)."""

    @property
    def hex(self) -> str:
        """``#rrggbb``."""
        return f"#{self.red:02x}{self.green:02x}{self.blue:02x}"


@dataclass(frozen=True, slots=True)
class ImageQuality:
    """Whole-image measures in 0..1: mean brightness, sharpness (detail) and contrast."""

    brightness: float
    sharpness: float
    contrast: float


@dataclass(frozen=True, slots=True)
class CropHint:
    """A suggested crop, in pixels of the original image (inclusive corners).

    ``importance_fraction`` is the share of the image's visual importance inside the crop;
    ``confidence`` how sure the estimator is, in 0..1.
    """

    left: int
    top: int
    right: int
    bottom: int
    confidence: float
    importance_fraction: float
    aspect_ratio: float


@dataclass(frozen=True, slots=True)
class DetectedObject:
    """An object found in the image: its class, score and box in pixels of the original."""

    name: str
    score: float
    left: float
    top: float
    right: float
    bottom: float
    index: int = -1


@dataclass(frozen=True, slots=True)
class Face:
    """A face: its box in pixels of the original, the detector's confidence, and what was
    measured on it. Landmarks and angles are present only when the detector estimates them."""

    left: float
    top: float
    right: float
    bottom: float
    confidence: float
    brightness: float | None = None
    sharpness: float | None = None
    landmarks: tuple[tuple[str, float, float], ...] = ()
    roll: float | None = None
    yaw: float | None = None
    pitch: float | None = None


Quad = tuple[tuple[float, float], tuple[float, float], tuple[float, float], tuple[float, float]]
"""Four corners in pixels of the original: top-left, top-right, bottom-right, bottom-left in
reading orientation (rotated text keeps that order)."""


@dataclass(frozen=True, slots=True)
class TextWord:
    """One recognised word with its confidence in 0..1 and its quadrilateral."""

    text: str
    confidence: float
    box: Quad


@dataclass(frozen=True, slots=True)
class TextLine:
    """One line of text, in reading order, with its words."""

    text: str
    confidence: float
    box: Quad
    words: tuple[TextWord, ...] = ()


@dataclass(slots=True)
class AnnotateResult:
    """Everything found in one image, or the error that stopped it.

    A feature that was not asked for stays ``None``; a feature asked for that found nothing is
    an empty list. ``error`` is set when the image failed as a whole or when one of its
    features failed; the other features' annotations are still valid.
    """

    name: str | None = None
    width: int | None = None
    height: int | None = None
    labels: list[Label] | None = None
    colors: list[Color] | None = None
    quality: ImageQuality | None = None
    crop_hints: list[CropHint] | None = None
    objects: list[DetectedObject] | None = None
    faces: list[Face] | None = None
    text: list[TextLine] | None = None
    error: LocalVisionError | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when nothing failed for this image."""
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view: the shape of ``localvision annotate --json`` lines."""
        out: dict[str, Any] = {"image": self.name}
        if self.width is not None:
            out["width"] = self.width
            out["height"] = self.height
        if self.labels is not None:
            out["labels"] = [
                {"label": lab.name, "score": round(lab.score, 6), "index": lab.index}
                | ({"mid": lab.mid} if lab.mid else {})
                for lab in self.labels
            ]
        if self.colors is not None:
            out["colors"] = [
                {
                    "rgb": [c.red, c.green, c.blue],
                    "hex": c.hex,
                    "name": c.name,
                    "simple_name": c.simple_name,
                    "score": round(c.score, 6),
                    "pixel_fraction": round(c.pixel_fraction, 6),
                }
                for c in self.colors
            ]
        if self.quality is not None:
            out["quality"] = {
                "brightness": round(self.quality.brightness, 4),
                "sharpness": round(self.quality.sharpness, 4),
                "contrast": round(self.quality.contrast, 4),
            }
        if self.crop_hints is not None:
            out["crop_hints"] = [
                {
                    "box": [h.left, h.top, h.right, h.bottom],
                    "aspect_ratio": h.aspect_ratio,
                    "confidence": round(h.confidence, 6),
                    "importance_fraction": round(h.importance_fraction, 6),
                }
                for h in self.crop_hints
            ]
        if self.objects is not None:
            out["objects"] = [
                {
                    "label": o.name,
                    "score": round(o.score, 6),
                    "index": o.index,
                    "box": [round(v, 2) for v in (o.left, o.top, o.right, o.bottom)],
                }
                for o in self.objects
            ]
        if self.faces is not None:
            out["faces"] = [
                {
                    "box": [round(v, 2) for v in (f.left, f.top, f.right, f.bottom)],
                    "confidence": round(f.confidence, 6),
                }
                | ({"brightness": round(f.brightness, 4)} if f.brightness is not None else {})
                | ({"sharpness": round(f.sharpness, 4)} if f.sharpness is not None else {})
                for f in self.faces
            ]
        if self.text is not None:
            out["text"] = "\n".join(line.text for line in self.text)
            out["lines"] = [
                {
                    "text": line.text,
                    "confidence": round(line.confidence, 6),
                    "box": [[round(x, 1), round(y, 1)] for x, y in line.box],
                    "words": [
                        {
                            "text": word.text,
                            "confidence": round(word.confidence, 6),
                            "box": [[round(x, 1), round(y, 1)] for x, y in word.box],
                        }
                        for word in line.words
                    ],
                }
                for line in self.text
            ]
        out.update(self.extra)
        if self.error is not None:
            out["error"] = _error_dict(self.error)
        return out


def _error_dict(error: LocalVisionError) -> Mapping[str, Any]:
    body: dict[str, Any] = {"type": type(error).__name__, "code": error.code}
    body["message"] = error.message
    if error.hint:
        body["hint"] = error.hint
    return body
