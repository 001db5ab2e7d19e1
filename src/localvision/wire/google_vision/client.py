"""Calling Google Cloud Vision (the client direction, used by the Google provider).

:func:`request_body` writes the ``BatchAnnotateImagesRequest`` for canonical feature requests;
:func:`parse_image_response` reads one ``AnnotateImageResponse`` back into an
:class:`~localvision.types.AnnotateResult` — the inverse of what the server renders, so a
response from Google and one from a localvision server read the same.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

from ...errors import InvalidParameterError
from ...types import (
    AnnotateResult,
    Color,
    CropHint,
    DetectedObject,
    Face,
    Feature,
    FeatureRequest,
    Label,
    TextLine,
    TextWord,
)
from .. import geometry
from .errors import error_from_status
from .features import MAX_IMAGES, TYPE_FOR_FEATURE
from .vertices import int_bounds, quad_from_vertices

__all__ = ["parse_image_response", "request_body"]


def request_body(images: Sequence[tuple[bytes, Sequence[FeatureRequest]]]) -> dict[str, Any]:
    """A ``BatchAnnotateImagesRequest`` for (image bytes, the features asked of that image)
    pairs, at most 16: each image carries its own features, as the API allows."""
    if len(images) > MAX_IMAGES:
        raise InvalidParameterError(f"At most {MAX_IMAGES} images per request; got {len(images)}.")
    return {"requests": [_image_request(content, features) for content, features in images]}


def _image_request(content: bytes, features: Sequence[FeatureRequest]) -> dict[str, Any]:
    """One ``AnnotateImageRequest``: the image, its features, and crop-hint ratios if asked."""
    wanted = []
    context: dict[str, Any] = {}
    for feature in features:
        item: dict[str, Any] = {"type": TYPE_FOR_FEATURE[feature.feature]}
        if feature.max_results:
            item["maxResults"] = feature.max_results
        wanted.append(item)
        if feature.feature is Feature.CROP_HINTS and feature.aspect_ratios:
            context["cropHintsParams"] = {"aspectRatios": list(feature.aspect_ratios)}
    entry: dict[str, Any] = {
        "image": {"content": base64.b64encode(content).decode()},
        "features": wanted,
    }
    if context:
        entry["imageContext"] = context
    return entry


def parse_image_response(
    entry: Mapping[str, Any], result: AnnotateResult, *, width: int, height: int
) -> None:
    """Fill ``result`` from one ``AnnotateImageResponse`` (the inverse of
    :func:`~localvision.wire.google_vision.image_response`); a per-image ``error`` becomes
    ``result.error``."""
    result.width, result.height = width, height
    if "labelAnnotations" in entry:
        result.labels = [
            Label(
                name=str(a.get("description", "")),
                score=float(a.get("score", 0.0)),
                mid=a.get("mid") or None,
            )
            for a in entry["labelAnnotations"]
        ]
    properties = entry.get("imagePropertiesAnnotation")
    if properties is not None:
        result.colors = [_color(c) for c in properties.get("dominantColors", {}).get("colors", [])]
    crops = entry.get("cropHintsAnnotation")
    if crops is not None:
        result.crop_hints = [_crop_hint(hint) for hint in crops.get("cropHints", [])]
    if "localizedObjectAnnotations" in entry:
        result.objects = [
            _object(obj, width, height) for obj in entry["localizedObjectAnnotations"]
        ]
    if "faceAnnotations" in entry:
        result.faces = [_face(face) for face in entry["faceAnnotations"]]
    if "textAnnotations" in entry:
        result.text = _text(entry["textAnnotations"])
    if "error" in entry and entry["error"].get("code"):
        result.error = error_from_status(entry["error"])


def _color(color: Mapping[str, Any]) -> Color:
    return Color(
        red=round(float(color.get("color", {}).get("red", 0))),
        green=round(float(color.get("color", {}).get("green", 0))),
        blue=round(float(color.get("color", {}).get("blue", 0))),
        score=float(color.get("score", 0.0)),
        pixel_fraction=float(color.get("pixelFraction", 0.0)),
    )


def _crop_hint(hint: Mapping[str, Any]) -> CropHint:
    left, top, right, bottom = int_bounds(hint.get("boundingPoly", {}).get("vertices", []))
    return CropHint(
        left,
        top,
        right,
        bottom,
        confidence=float(hint.get("confidence", 0.0)),
        importance_fraction=float(hint.get("importanceFraction", 0.0)),
        aspect_ratio=(right - left + 1) / max(1, bottom - top + 1),
    )


def _object(obj: Mapping[str, Any], width: int, height: int) -> DetectedObject:
    points = obj.get("boundingPoly", {}).get("normalizedVertices", [])
    fx = [float(p.get("x", 0.0)) * width for p in points] or [0.0]
    fy = [float(p.get("y", 0.0)) * height for p in points] or [0.0]
    left, top, right, bottom = geometry.bounds(list(zip(fx, fy, strict=True)))
    return DetectedObject(
        name=str(obj.get("name", "")),
        score=float(obj.get("score", 0.0)),
        left=left,
        top=top,
        right=right,
        bottom=bottom,
    )


def _face(face: Mapping[str, Any]) -> Face:
    poly = face.get("fdBoundingPoly", face.get("boundingPoly", {}))
    box = int_bounds(poly.get("vertices", []))
    return Face(*box, confidence=float(face.get("detectionConfidence", 0.0)))


def _text(annotations: Sequence[Mapping[str, Any]]) -> list[TextLine]:
    """Lines from ``textAnnotations``: the first entry's text split at newlines, each line with
    the whole text's box; every word entry after it goes to the first line."""
    whole = annotations[0] if annotations else {}
    words = tuple(
        TextWord(
            text=str(w.get("description", "")),
            confidence=1.0,
            box=quad_from_vertices(w.get("boundingPoly", {}).get("vertices", [])),
        )
        for w in annotations[1:]
    )
    text = str(whole.get("description", "")).rstrip("\n")
    return [
        TextLine(
            text=line,
            confidence=1.0,
            box=quad_from_vertices(whole.get("boundingPoly", {}).get("vertices", [])),
            words=words if i == 0 else (),
        )
        for i, line in enumerate(text.split("\n"))
        if line
    ]
