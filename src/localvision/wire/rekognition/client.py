"""Reading Rekognition answers into canonical types (the client direction, used by the AWS
provider).

The inverse of :mod:`.responses`: percentages back to 0..1, ``BoundingBox`` and ``Polygon``
ratios back to pixels of the image that was sent (``width`` × ``height``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...types import (
    AnnotateResult,
    Color,
    DetectedObject,
    Face,
    ImageQuality,
    Label,
    Quad,
    TextLine,
    TextWord,
)
from .. import geometry

__all__ = ["fill_from_detect_faces", "fill_from_detect_labels", "fill_from_detect_text"]


def fill_from_detect_labels(
    response: Mapping[str, Any], result: AnnotateResult, *, width: int, height: int
) -> None:
    """Labels (and image properties, instances as objects) from a ``DetectLabels`` answer."""
    result.labels = [
        Label(name=str(item.get("Name", "")), score=float(item.get("Confidence", 0)) / 100)
        for item in response.get("Labels", [])
    ]
    instances = [
        (item, instance)
        for item in response.get("Labels", [])
        for instance in item.get("Instances", [])
    ]
    if instances:
        result.objects = [_instance(item, instance, width, height) for item, instance in instances]
    properties = response.get("ImageProperties")
    if properties is not None:
        quality = properties.get("Quality") or {}
        result.quality = ImageQuality(
            brightness=float(quality.get("Brightness", 0)) / 100,
            sharpness=float(quality.get("Sharpness", 0)) / 100,
            contrast=float(quality.get("Contrast", 0)) / 100,
        )
        result.colors = [
            Color(
                red=int(c.get("Red", 0)),
                green=int(c.get("Green", 0)),
                blue=int(c.get("Blue", 0)),
                score=float(c.get("PixelPercent", 0)) / 100,
                pixel_fraction=float(c.get("PixelPercent", 0)) / 100,
                name=c.get("CSSColor"),
                simple_name=c.get("SimplifiedColor"),
            )
            for c in properties.get("DominantColors", [])
        ]


def fill_from_detect_text(
    response: Mapping[str, Any], result: AnnotateResult, *, width: int, height: int
) -> None:
    """Lines with their words from a ``DetectText`` answer."""
    detections = response.get("TextDetections", [])
    words: dict[int, list[TextWord]] = {}
    for d in detections:
        if d.get("Type") == "WORD":
            words.setdefault(int(d.get("ParentId", -1)), []).append(
                TextWord(
                    text=str(d.get("DetectedText", "")),
                    confidence=float(d.get("Confidence", 0)) / 100,
                    box=_quad(d.get("Geometry", {}), width, height),
                )
            )
    result.text = [
        TextLine(
            text=str(d.get("DetectedText", "")),
            confidence=float(d.get("Confidence", 0)) / 100,
            box=_quad(d.get("Geometry", {}), width, height),
            words=tuple(words.get(int(d.get("Id", -1)), [])),
        )
        for d in detections
        if d.get("Type") == "LINE"
    ]


def fill_from_detect_faces(
    response: Mapping[str, Any], result: AnnotateResult, *, width: int, height: int
) -> None:
    """Faces from a ``DetectFaces`` answer (boxes, confidence, quality)."""
    faces = []
    for detail in response.get("FaceDetails", []):
        # Scaled to pixels first, then right = left + width: the order this adapter always used.
        pixels = geometry.from_ratios(_rect(detail.get("BoundingBox", {})), width, height)
        left, top, right, bottom = geometry.rect_to_box(pixels)
        quality = detail.get("Quality") or {}
        faces.append(
            Face(
                left=left,
                top=top,
                right=right,
                bottom=bottom,
                confidence=float(detail.get("Confidence", 0)) / 100,
                brightness=float(quality["Brightness"]) / 100 if "Brightness" in quality else None,
                sharpness=float(quality["Sharpness"]) / 100 if "Sharpness" in quality else None,
            )
        )
    result.faces = faces


def _instance(
    item: Mapping[str, Any], instance: Mapping[str, Any], width: int, height: int
) -> DetectedObject:
    """One label ``Instance`` as an object: its ratio box's corners, scaled to pixels."""
    box = geometry.rect_to_box(_rect(instance["BoundingBox"]))
    left, top, right, bottom = geometry.from_ratios(box, width, height)
    return DetectedObject(
        name=str(item.get("Name", "")),
        score=float(instance.get("Confidence", 0)) / 100,
        left=left,
        top=top,
        right=right,
        bottom=bottom,
    )


def _rect(box: Mapping[str, Any]) -> geometry.Rect:
    """A ``BoundingBox`` as ``(left, top, width, height)`` ratios (a missing value is 0)."""
    return (
        float(box.get("Left", 0)),
        float(box.get("Top", 0)),
        float(box.get("Width", 0)),
        float(box.get("Height", 0)),
    )


def _quad(shape: Mapping[str, Any], width: int, height: int) -> Quad:
    """A ``Geometry``'s ``Polygon`` in pixels: its first four points, padded with the origin."""
    points = [(float(p.get("X", 0)), float(p.get("Y", 0))) for p in shape.get("Polygon", [])]
    return geometry.to_quad(geometry.points_from_ratios(points, width, height))
