"""Rendering ``DetectLabels``, ``DetectText`` and ``DetectFaces`` responses (the server
direction).

Confidences are percentages (0..100) on this wire, rounded to four digits; regions are
``BoundingBox`` ratios of the image size (origin top-left, six digits) and, for text, a
``Polygon`` of the same ratios. Attributes localvision does not estimate are left out rather
than invented.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...types import AnnotateResult
from .. import geometry
from .requests import DetectLabelsRequest, WordFilter

__all__ = ["MAX_WORDS", "detect_faces_response", "detect_labels_response", "detect_text_response"]

MAX_WORDS = 100  # DetectText returns at most 100 words


def detect_labels_response(
    result: AnnotateResult, request: DetectLabelsRequest, *, model_version: str
) -> dict[str, Any]:
    """The ``DetectLabelsResponse`` body: labels with confidence in percent."""
    entries: dict[str, dict[str, Any]] = {}
    for label in result.labels or []:
        entries[label.name] = _label_entry(label.name, label.score)
    for found in result.objects or []:
        entry = entries.setdefault(found.name, _label_entry(found.name, found.score))
        entry["Confidence"] = max(entry["Confidence"], round(found.score * 100, 4))
        entry["Instances"].append(
            {"BoundingBox": _ratio_box(found, result), "Confidence": round(found.score * 100, 4)}
        )
    labels = [
        entry
        for name, entry in entries.items()
        if (not request.inclusion or name in request.inclusion) and name not in request.exclusion
    ]
    labels.sort(key=lambda entry: -entry["Confidence"])
    out: dict[str, Any] = {"Labels": labels, "LabelModelVersion": model_version}
    if result.colors is not None:
        out["ImageProperties"] = _image_properties(result)
    return out


def detect_faces_response(result: AnnotateResult) -> dict[str, Any]:
    """``DetectFacesResponse``: boxes, confidence and quality; attributes not estimated are
    left out rather than invented."""
    details = []
    for face in result.faces or []:
        detail: dict[str, Any] = {
            "BoundingBox": _ratio_box(face, result),
            "Confidence": round(face.confidence * 100, 4),
            "Landmarks": [],
        }
        if face.brightness is not None and face.sharpness is not None:
            detail["Quality"] = {
                "Brightness": round(face.brightness * 100, 4),
                "Sharpness": round(face.sharpness * 100, 4),
            }
        details.append(detail)
    return {"FaceDetails": details}


def detect_text_response(result: AnnotateResult, word_filter: WordFilter) -> dict[str, Any]:
    """``DetectTextResponse``: LINE then WORD detections, words pointing at their line."""
    width, height = result.width or 1, result.height or 1
    lines: list[dict[str, Any]] = []
    words: list[dict[str, Any]] = []
    for line in result.text or []:
        kept = []
        for word in line.words:
            shape = _geometry(word.box, width, height)
            box = shape["BoundingBox"]
            if (
                word.confidence < word_filter.min_confidence
                or box["Height"] < word_filter.min_height
                or box["Width"] < word_filter.min_width
            ):
                continue
            kept.append((word, shape))
        if not kept or len(words) >= MAX_WORDS:
            continue
        line_id = len(lines)
        lines.append(
            _detection(
                line.text,
                "LINE",
                line_id,
                None,
                line.confidence,
                _geometry(line.box, width, height),
            )
        )
        for word, shape in kept[: MAX_WORDS - len(words)]:
            words.append(_detection(word.text, "WORD", None, line_id, word.confidence, shape))
    offset = len(lines)
    for index, detection in enumerate(words):
        detection["Id"] = offset + index
    return {"TextDetections": lines + words, "TextModelVersion": "localvision"}


def _detection(
    text: str,
    kind: str,
    identifier: int | None,
    parent: int | None,
    confidence: float,
    shape: dict[str, Any],
) -> dict[str, Any]:
    entry: dict[str, Any] = {"DetectedText": text, "Type": kind}
    if identifier is not None:
        entry["Id"] = identifier
    if parent is not None:
        entry["ParentId"] = parent
    entry["Confidence"] = round(confidence * 100, 4)
    entry["Geometry"] = shape
    return entry


def _geometry(quad: Sequence[geometry.Point], width: int, height: int) -> dict[str, Any]:
    """A ``Geometry``: the ratio box around a quadrilateral, and the quadrilateral in ratios."""
    points = geometry.points_to_ratios(quad, width, height)
    left, top, box_width, box_height = geometry.box_to_rect(geometry.bounds(points))
    return {
        "BoundingBox": {
            "Width": round(box_width, 6),
            "Height": round(box_height, 6),
            "Left": round(left, 6),
            "Top": round(top, 6),
        },
        "Polygon": [{"X": round(x, 6), "Y": round(y, 6)} for x, y in points],
    }


def _ratio_box(found: Any, result: AnnotateResult) -> dict[str, float]:
    """A box as Rekognition gives it: ratios of the image size, origin top-left."""
    width, height = result.width or 1, result.height or 1
    box = (found.left, found.top, found.right, found.bottom)
    left, top, box_width, box_height = geometry.to_ratios(geometry.box_to_rect(box), width, height)
    return {
        "Width": round(box_width, 6),
        "Height": round(box_height, 6),
        "Left": round(left, 6),
        "Top": round(top, 6),
    }


def _label_entry(name: str, score: float) -> dict[str, Any]:
    return {
        "Name": name,
        "Confidence": round(score * 100, 4),
        "Instances": [],
        "Parents": [],
        "Aliases": [],
        "Categories": [],
    }


def _image_properties(result: AnnotateResult) -> dict[str, Any]:
    """``ImageProperties``: whole-image quality and dominant colours, in percent."""
    properties: dict[str, Any] = {}
    if result.quality is not None:
        properties["Quality"] = {
            "Brightness": round(result.quality.brightness * 100, 4),
            "Sharpness": round(result.quality.sharpness * 100, 4),
            "Contrast": round(result.quality.contrast * 100, 4),
        }
    properties["DominantColors"] = [
        {
            "Red": c.red,
            "Green": c.green,
            "Blue": c.blue,
            "HexCode": c.hex.removeprefix("#"),
            "CSSColor": c.name or "",
            "SimplifiedColor": c.simple_name or "",
            "PixelPercent": round(c.pixel_fraction * 100, 4),
        }
        for c in result.colors or []
    ]
    return properties
