"""Azure AI Vision Image Analysis 4.0 (``imageanalysis:analyze``), the client direction.

One POST per image: the image bytes as ``application/octet-stream``, the visual features as
the ``features`` query parameter, the key in ``Ocp-Apim-Subscription-Key``. The answer holds one
``...Result`` object per feature; boxes are in pixels of the image sent (``metadata`` gives its
size), confidences in 0..1. Errors are ``{"error": {"code", "message", "innererror"?}}``.
Image Analysis 4.0 has no colours and no face detection (``people`` finds whole persons), so
those features are not offered.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import (
    AuthenticationError,
    FeatureNotAvailableError,
    ImageError,
    ImageTooLargeError,
    InvalidParameterError,
    LocalVisionError,
    OverloadedError,
    ProviderError,
)
from ..types import (
    AnnotateResult,
    CropHint,
    DetectedObject,
    Feature,
    Label,
    Quad,
    TextLine,
    TextWord,
)
from . import geometry

__all__ = ["FEATURES", "PATH", "error_from_response", "fill_from_analysis", "query"]

PATH = "/computervision/imageanalysis:analyze"

FEATURES: Mapping[Feature, str] = {
    Feature.LABELS: "tags",
    Feature.OBJECTS: "objects",
    Feature.TEXT: "read",
    Feature.DOCUMENT_TEXT: "read",
    Feature.CROP_HINTS: "smartCrops",
}


def query(features: Iterable[Feature], api_version: str) -> dict[str, str]:
    """The query parameters for ``features``; raises for features Azure does not have."""
    names: list[str] = []
    for feature in features:
        name = FEATURES.get(feature)
        if name is None:
            raise FeatureNotAvailableError(
                f"Azure AI Vision Image Analysis 4.0 has no {feature.value!r} feature.",
                hint="Route it to another provider or answer it locally.",
            )
        if name not in names:
            names.append(name)
    return {"api-version": api_version, "features": ",".join(names)}


def _box(box: Mapping[str, Any]) -> geometry.Box:
    """A pixel ``{x, y, w, h}`` as ``(left, top, right, bottom)``."""
    rect = (
        float(box.get("x", 0)),
        float(box.get("y", 0)),
        float(box.get("w", 0)),
        float(box.get("h", 0)),
    )
    return geometry.rect_to_box(rect)


def _quad(points: Any) -> Quad:
    """A ``boundingPolygon`` as a quad: its first four points, a short one padded with its
    last point."""
    corners = [(float(p.get("x", 0)), float(p.get("y", 0))) for p in points or []]
    return geometry.to_quad(corners, repeat_last=True)


def fill_from_analysis(body: Mapping[str, Any], result: AnnotateResult) -> None:
    """Copy an analysis answer into ``result`` (only the sections present)."""
    if "tagsResult" in body:
        result.labels = [
            Label(name=str(t.get("name", "")), score=float(t.get("confidence", 0)))
            for t in body["tagsResult"].get("values", [])
        ]
    if "objectsResult" in body:
        objects = []
        for item in body["objectsResult"].get("values", []):
            tags = item.get("tags") or [{}]
            left, top, right, bottom = _box(item.get("boundingBox", {}))
            objects.append(
                DetectedObject(
                    name=str(tags[0].get("name", "")),
                    score=float(tags[0].get("confidence", 0)),
                    left=left,
                    top=top,
                    right=right,
                    bottom=bottom,
                )
            )
        result.objects = objects
    if "readResult" in body:
        lines = []
        for block in body["readResult"].get("blocks", []):
            for line in block.get("lines", []):
                words = tuple(
                    TextWord(
                        text=str(w.get("text", "")),
                        confidence=float(w.get("confidence", 0)),
                        box=_quad(w.get("boundingPolygon")),
                    )
                    for w in line.get("words", [])
                )
                confidence = min((w.confidence for w in words), default=0.0)
                lines.append(
                    TextLine(
                        text=str(line.get("text", "")),
                        confidence=confidence,
                        box=_quad(line.get("boundingPolygon")),
                        words=words,
                    )
                )
        result.text = lines
    if "smartCropsResult" in body:
        hints = []
        for crop in body["smartCropsResult"].get("values", []):
            left, top, right, bottom = _box(crop.get("boundingBox", {}))
            hints.append(  # Azure gives no score for a crop: it is its one answer
                CropHint(
                    int(left),
                    int(top),
                    int(right) - 1,
                    int(bottom) - 1,
                    confidence=1.0,
                    importance_fraction=1.0,
                    aspect_ratio=float(crop.get("aspectRatio", 0)),
                )
            )
        result.crop_hints = hints


_BY_CODE: Mapping[str, type[LocalVisionError]] = {
    "InvalidImageFormat": ImageError,
    "InvalidImageSize": ImageTooLargeError,
    "InvalidImageDimension": ImageTooLargeError,
    "NotSupportedFeature": FeatureNotAvailableError,
    "InvalidArgument": InvalidParameterError,
}


def error_from_response(http_status: int, body: Mapping[str, Any]) -> LocalVisionError:
    """Our error for an Azure error answer, the vendor's code and message kept."""
    error = body.get("error") if isinstance(body.get("error"), dict) else {}
    assert isinstance(error, dict)
    inner = error.get("innererror") if isinstance(error.get("innererror"), dict) else {}
    assert isinstance(inner, dict)
    code = str(inner.get("code") or error.get("code") or http_status)
    message = str(inner.get("message") or error.get("message") or f"HTTP {http_status}")
    kind: type[LocalVisionError]
    if http_status in (401, 403):
        kind = AuthenticationError
    elif http_status == 429:
        kind = OverloadedError
    else:
        kind = _BY_CODE.get(code, ProviderError)
    return kind(f"Azure AI Vision {code}: {message}")
