"""Rendering ``images:annotate`` responses (the server direction).

One ``AnnotateImageResponse`` per image, in proto3 JSON: empty lists and zero values are left
out, enums are names unless the caller asked for numbers (``$alt=json;enum-encoding=int``).
Text goes through :mod:`.text_layout`, regions through :mod:`.vertices`, a failure through
:func:`.errors.status`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ...errors import LocalVisionError
from ...types import AnnotateResult
from .. import geometry
from .errors import status
from .text_layout import text_annotations
from .vertices import normalized_vertices, omit_zero, vertices

__all__ = ["batch_response", "image_response"]


def image_response(
    result: AnnotateResult | None,
    *,
    error: LocalVisionError | None = None,
    int_enums: bool = False,
    text_confidence: bool = True,
) -> dict[str, Any]:
    """One ``AnnotateImageResponse``: the annotations found, and ``error`` if anything failed.

    Annotations that were produced are kept even when ``error`` is set, as the proto promises.
    Empty lists are omitted (proto3 JSON leaves out default values). ``int_enums`` writes
    enums as numbers (``$alt=json;enum-encoding=int``); ``text_confidence`` includes OCR
    confidences (always for DOCUMENT_TEXT_DETECTION, on request for TEXT_DETECTION).
    """
    out: dict[str, Any] = {}
    if result is not None and result.text:
        out.update(text_annotations(result, int_enums=int_enums, confidence=text_confidence))
    if result is not None and result.labels:
        out["labelAnnotations"] = [_label(label) for label in result.labels]
    if result is not None and result.colors is not None:
        colors = [
            omit_zero(
                {
                    "color": omit_zero(
                        {"red": float(c.red), "green": float(c.green), "blue": float(c.blue)}
                    ),
                    "score": c.score,
                    "pixelFraction": c.pixel_fraction,
                }
            )
            for c in result.colors
        ]
        out["imagePropertiesAnnotation"] = {"dominantColors": {"colors": colors}}
    if result is not None and result.faces:
        out["faceAnnotations"] = [_face(face) for face in result.faces]
    if result is not None and result.objects and result.width and result.height:
        out["localizedObjectAnnotations"] = [
            {
                "name": o.name,
                "score": o.score,
                "boundingPoly": {
                    "normalizedVertices": normalized_vertices(o, result.width, result.height)
                },
            }
            for o in result.objects
        ]
    if result is not None and result.crop_hints is not None:
        out["cropHintsAnnotation"] = {
            "cropHints": [
                omit_zero(
                    {
                        "boundingPoly": {"vertices": vertices(h.left, h.top, h.right, h.bottom)},
                        "confidence": h.confidence,
                        "importanceFraction": h.importance_fraction,
                    }
                )
                for h in result.crop_hints
            ]
        }
    failure = error or (result.error if result is not None else None)
    if failure is not None:
        out["error"] = status(failure)
    return out


def batch_response(responses: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The ``BatchAnnotateImagesResponse`` body."""
    return {"responses": list(responses)}


def _label(label: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    if label.mid:
        entry["mid"] = label.mid
    entry.update(description=label.name, score=label.score, topicality=label.score)
    return entry


def _face(face: Any) -> dict[str, Any]:
    """A ``FaceAnnotation`` with what the detector estimated; the rest stays unset (UNKNOWN)."""
    box = geometry.round_box((face.left, face.top, face.right, face.bottom))
    entry: dict[str, Any] = {
        "boundingPoly": {"vertices": vertices(*box)},
        "fdBoundingPoly": {"vertices": vertices(*box)},
    }
    if face.landmarks:
        entry["landmarks"] = [
            {"type": kind, "position": {"x": x, "y": y}} for kind, x, y in face.landmarks
        ]
    for field_name, value in (
        ("rollAngle", face.roll),
        ("panAngle", face.yaw),
        ("tiltAngle", face.pitch),
    ):
        if value is not None:
            entry[field_name] = value
    entry["detectionConfidence"] = face.confidence
    return entry
