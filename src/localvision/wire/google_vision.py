"""Google Cloud Vision v1 ``images:annotate`` JSON ⇄ canonical types.

Request parsing follows the proto3 JSON mapping the official clients use: field names in
lowerCamelCase, enums as names *or* numbers (the Python REST client sends numbers), int32 as
numbers or numeric strings, bytes as base64. What Google itself refuses as a whole (malformed
JSON, unknown fields, bad enum values, bad base64, more than 16 images) is refused as a whole
with an ``INVALID_ARGUMENT`` message that names the field, as Google's does; what concerns one
image (bad image data, a feature without a local model) becomes that image's ``error`` while the
rest of the batch is answered.
"""

from __future__ import annotations

import base64
import binascii
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import (
    AuthenticationError,
    FeatureNotAvailableError,
    ImageError,
    InvalidInputError,
    InvalidParameterError,
    LocalVisionError,
    OverloadedError,
    RequestTimeoutError,
    RequestTooLargeError,
)
from ..types import AnnotateResult, Feature, FeatureRequest, TextLine, TextWord

__all__ = [
    "FEATURE_TYPES",
    "MAX_IMAGES",
    "ImageSpec",
    "RpcCode",
    "batch_response",
    "error_response",
    "image_response",
    "parse_batch_request",
    "rpc_code",
]

MAX_IMAGES = 16
MAX_ASPECT_RATIOS = 16

FEATURE_TYPES = {
    "TYPE_UNSPECIFIED": 0,
    "FACE_DETECTION": 1,
    "LANDMARK_DETECTION": 2,
    "LOGO_DETECTION": 3,
    "LABEL_DETECTION": 4,
    "TEXT_DETECTION": 5,
    "SAFE_SEARCH_DETECTION": 6,
    "IMAGE_PROPERTIES": 7,
    "CROP_HINTS": 9,
    "WEB_DETECTION": 10,
    "DOCUMENT_TEXT_DETECTION": 11,
    "PRODUCT_SEARCH": 12,
    "OBJECT_LOCALIZATION": 19,
}
_TYPE_NAMES = {number: name for name, number in FEATURE_TYPES.items()}
_LOCAL_FEATURES = {
    "LABEL_DETECTION": Feature.LABELS,
    "TEXT_DETECTION": Feature.TEXT,
    "DOCUMENT_TEXT_DETECTION": Feature.DOCUMENT_TEXT,
    "FACE_DETECTION": Feature.FACES,
    "IMAGE_PROPERTIES": Feature.COLORS,
    "CROP_HINTS": Feature.CROP_HINTS,
    "OBJECT_LOCALIZATION": Feature.OBJECTS,
}
_TOP_FIELDS = {"requests", "parent", "labels"}
_REQUEST_FIELDS = {"image", "features", "imageContext"}
_IMAGE_FIELDS = {"content", "source"}
_SOURCE_FIELDS = {"imageUri", "gcsImageUri"}
_FEATURE_FIELDS = {"type", "maxResults", "model"}


class RpcCode(enum.IntEnum):
    """``google.rpc.Code``."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


# The HTTP status google.rpc.Code maps to (google/rpc/code.proto).
_HTTP_STATUS = {
    RpcCode.INVALID_ARGUMENT: 400,
    RpcCode.FAILED_PRECONDITION: 400,
    RpcCode.OUT_OF_RANGE: 400,
    RpcCode.UNAUTHENTICATED: 401,
    RpcCode.PERMISSION_DENIED: 403,
    RpcCode.NOT_FOUND: 404,
    RpcCode.RESOURCE_EXHAUSTED: 429,
    RpcCode.UNIMPLEMENTED: 501,
    RpcCode.UNAVAILABLE: 503,
    RpcCode.DEADLINE_EXCEEDED: 504,
}

# Our errors to google.rpc codes, looked up along the class's MRO (first match wins).
_RPC_FOR_ERROR: tuple[tuple[type[LocalVisionError], RpcCode], ...] = (
    (FeatureNotAvailableError, RpcCode.UNIMPLEMENTED),
    (RequestTooLargeError, RpcCode.INVALID_ARGUMENT),
    (InvalidInputError, RpcCode.INVALID_ARGUMENT),
    (AuthenticationError, RpcCode.UNAUTHENTICATED),
    # Load shedding answers 429: the client retries 503 silently for ten minutes.
    (OverloadedError, RpcCode.RESOURCE_EXHAUSTED),
    (RequestTimeoutError, RpcCode.DEADLINE_EXCEEDED),
)


@dataclass
class ImageSpec:
    """One ``AnnotateImageRequest`` as parsed: where the image is and what is asked of it.

    Exactly one of ``content`` and ``uri`` is set, or neither when the request had no image.
    ``unsupported`` lists requested Google features that have no local equivalent.
    """

    content: bytes | None
    uri: str | None
    features: list[FeatureRequest]
    unsupported: list[str] = field(default_factory=list)
    context: Mapping[str, Any] = field(default_factory=dict)

    @property
    def text_confidence(self) -> bool:
        """Whether OCR confidences are wanted: always for DOCUMENT_TEXT_DETECTION, and for
        TEXT_DETECTION when ``textDetectionParams.enableTextDetectionConfidenceScore``."""
        if any(f.feature is Feature.DOCUMENT_TEXT for f in self.features):
            return True
        params = self.context.get("textDetectionParams") or {}
        return bool(isinstance(params, dict) and params.get("enableTextDetectionConfidenceScore"))


def wants_int_enums(alt: str | None) -> bool:
    """True when the ``$alt`` query parameter asks for ``enum-encoding=int``."""
    return bool(alt) and "enum-encoding=int" in str(alt)


def parse_batch_request(body: Any) -> list[ImageSpec]:
    """Parse a ``BatchAnnotateImagesRequest`` JSON body (already decoded from JSON).

    Raises :class:`InvalidParameterError` for whatever makes the whole request invalid.
    """
    if not isinstance(body, dict):
        raise _invalid("Invalid JSON payload received. Expected an object.")
    _check_fields(body, _TOP_FIELDS, "")
    requests = body.get("requests")
    if not isinstance(requests, list) or not requests:
        raise _invalid("No requests specified. Add at least one entry to 'requests'.")
    if len(requests) > MAX_IMAGES:
        raise _invalid(
            f"At most {MAX_IMAGES} images are allowed per request; got {len(requests)}.",
            hint="Split the batch into several requests.",
        )
    return [_parse_image_request(r, f"requests[{i}]") for i, r in enumerate(requests)]


def _parse_image_request(request: Any, path: str) -> ImageSpec:
    if not isinstance(request, dict):
        raise _invalid(f"Invalid value at '{path}': expected an object.")
    _check_fields(request, _REQUEST_FIELDS, path)
    content, uri = _parse_image(request.get("image"), f"{path}.image")
    features: list[FeatureRequest] = []
    unsupported: list[str] = []
    raw_features = request.get("features", [])
    if not isinstance(raw_features, list):
        raise _invalid(f"Invalid value at '{path}.features': expected a list.")
    context = request.get("imageContext") or {}
    if not isinstance(context, dict):
        raise _invalid(f"Invalid value at '{path}.imageContext': expected an object.")
    ratios = _aspect_ratios(context, f"{path}.imageContext")
    for j, raw in enumerate(raw_features):
        name, max_results = _parse_feature(raw, f"{path}.features[{j}]")
        local = _LOCAL_FEATURES.get(name)
        if local is None:
            if name != "TYPE_UNSPECIFIED" and name not in unsupported:
                unsupported.append(name)
        elif all(f.feature is not local for f in features):
            crops = ratios if local is Feature.CROP_HINTS else ()
            features.append(FeatureRequest(local, max_results=max_results, aspect_ratios=crops))
    if any(f.feature is Feature.DOCUMENT_TEXT for f in features):
        # Both OCR types asked: DOCUMENT_TEXT_DETECTION takes precedence (one OCR run).
        features = [f for f in features if f.feature is not Feature.TEXT]
    return ImageSpec(content, uri, features, unsupported, context)


def _aspect_ratios(context: Mapping[str, Any], path: str) -> tuple[float, ...]:
    params = context.get("cropHintsParams") or {}
    ratios = params.get("aspectRatios", []) if isinstance(params, dict) else None
    if not isinstance(ratios, list) or not all(
        isinstance(r, int | float) and not isinstance(r, bool) for r in ratios
    ):
        raise _invalid(f"Invalid value at '{path}.cropHintsParams.aspectRatios': expected numbers.")
    if len(ratios) > MAX_ASPECT_RATIOS:
        raise _invalid(
            f"Invalid value at '{path}.cropHintsParams.aspectRatios': at most "
            f"{MAX_ASPECT_RATIOS} aspect ratios are allowed; got {len(ratios)}."
        )
    if any(not 0.1 <= r <= 10 for r in ratios):
        raise _invalid(
            f"Invalid value at '{path}.cropHintsParams.aspectRatios': each must be in [0.1, 10]."
        )
    return tuple(float(r) for r in ratios)


def _parse_image(image: Any, path: str) -> tuple[bytes | None, str | None]:
    if image is None:
        return None, None
    if not isinstance(image, dict):
        raise _invalid(f"Invalid value at '{path}': expected an object.")
    _check_fields(image, _IMAGE_FIELDS, path)
    content = image.get("content")
    if content:  # content wins over source, as the proto says
        if not isinstance(content, str):
            raise _invalid(f"Invalid value at '{path}.content' (TYPE_BYTES): expected a string.")
        return _base64(content, f"{path}.content"), None
    source = image.get("source")
    if source is None:
        return None, None
    if not isinstance(source, dict):
        raise _invalid(f"Invalid value at '{path}.source': expected an object.")
    _check_fields(source, _SOURCE_FIELDS, f"{path}.source")
    uri = source.get("imageUri") or source.get("gcsImageUri")
    if uri is not None and not isinstance(uri, str):
        raise _invalid(f"Invalid value at '{path}.source.imageUri': expected a string.")
    return None, uri or None


def _parse_feature(raw: Any, path: str) -> tuple[str, int | None]:
    if not isinstance(raw, dict):
        raise _invalid(f"Invalid value at '{path}': expected an object.")
    _check_fields(raw, _FEATURE_FIELDS, path)
    value = raw.get("type", 0)
    if isinstance(value, bool):
        value = None
    name = (
        _TYPE_NAMES.get(value)
        if isinstance(value, int)
        else (value if isinstance(value, str) and value in FEATURE_TYPES else None)
    )
    if name is None:
        raise _invalid(
            f"Invalid value at '{path}.type' "
            f"(type.googleapis.com/google.cloud.vision.v1.Feature.Type), {value!r}"
        )
    max_results = raw.get("maxResults")
    if max_results is not None:
        try:
            max_results = int(max_results)
        except (TypeError, ValueError):
            raise _invalid(
                f"Invalid value at '{path}.maxResults' (TYPE_INT32), {max_results!r}"
            ) from None
        if isinstance(raw.get("maxResults"), bool) or not -(2**31) <= max_results < 2**31:
            raise _invalid(
                f"Invalid value at '{path}.maxResults' (TYPE_INT32), {raw['maxResults']!r}"
            )
    return name, (max_results if max_results and max_results > 0 else None)


def _base64(text: str, path: str) -> bytes:
    try:
        # proto3 JSON accepts both the standard and the URL-safe alphabet, padded or not.
        padded = text + "=" * (-len(text) % 4)
        return base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raise _invalid(
            f"Invalid value at '{path}' (TYPE_BYTES), Base64 decoding failed for {text[:20]!r}"
        ) from None


def _check_fields(obj: Mapping[str, Any], allowed: set[str], path: str) -> None:
    for key in obj:
        if key not in allowed:
            where = f" at '{path}'" if path else ""
            raise _invalid(
                f"Invalid JSON payload received. Unknown name {key!r}{where}: Cannot find field."
            )


def _invalid(message: str, *, hint: str | None = None) -> InvalidParameterError:
    return InvalidParameterError(message, hint=hint)


# ------------------------------------------------------------------------------ responses


def rpc_code(error: BaseException) -> RpcCode:
    """The ``google.rpc.Code`` for one of our errors (INTERNAL for anything unexpected)."""
    for cls, code in _RPC_FOR_ERROR:
        if isinstance(error, cls):
            return code
    return RpcCode.INTERNAL


def status(error: LocalVisionError) -> dict[str, Any]:
    """A ``google.rpc.Status`` for a per-image error."""
    message = error.message
    if isinstance(error, ImageError) and rpc_code(error) == RpcCode.INVALID_ARGUMENT:
        message = f"Bad image data. {message}"  # clients match on Google's own wording
    if error.hint:
        message = f"{message} {error.hint}"
    return {"code": int(rpc_code(error)), "message": message}


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
            _omit_zero(
                {
                    "color": _omit_zero(
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
                    "normalizedVertices": _normalized_vertices(o, result.width, result.height)
                },
            }
            for o in result.objects
        ]
    if result is not None and result.crop_hints is not None:
        out["cropHintsAnnotation"] = {
            "cropHints": [
                _omit_zero(
                    {
                        "boundingPoly": {"vertices": _vertices(h.left, h.top, h.right, h.bottom)},
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


def _label(label: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    if label.mid:
        entry["mid"] = label.mid
    entry.update(description=label.name, score=label.score, topicality=label.score)
    return entry


def _vertices(left: int, top: int, right: int, bottom: int) -> list[dict[str, int]]:
    """Four pixel vertices, clockwise from top-left; zero coordinates omitted as proto3 does."""
    corners = [(left, top), (right, top), (right, bottom), (left, bottom)]
    return [_omit_zero({"x": x, "y": y}) for x, y in corners]


_BLOCK_TEXT = ("TEXT", 1)
_BREAKS = {"SPACE": 1, "EOL_SURE_SPACE": 3, "LINE_BREAK": 5}


def text_annotations(
    result: AnnotateResult, *, int_enums: bool, confidence: bool
) -> dict[str, Any]:
    """``textAnnotations`` (the whole text, then each word) and ``fullTextAnnotation``.

    Lines that follow each other closely and overlap horizontally form one paragraph, and each
    paragraph one block. Symbols carry their text and the break after them; their own boxes are
    not estimated, so they have none.
    """
    lines = result.text or []
    full_text = "".join(line.text + "\n" for line in lines)
    words = [word for line in lines for word in line.words]
    every = [point for word in words for point in word.box] or [
        point for line in lines for point in line.box
    ]
    entries: list[dict[str, Any]] = [
        {"description": full_text, "boundingPoly": {"vertices": _bounds(every)}}
    ]
    entries += [
        {"description": word.text, "boundingPoly": {"vertices": _quad_vertices(word.box)}}
        for word in words
    ]
    blocks = []
    for paragraph in _paragraphs(lines):
        paragraph_words = []
        for line_index, line in enumerate(paragraph):
            last_line = line_index == len(paragraph) - 1
            for word_index, word in enumerate(line.words):
                last_word = word_index == len(line.words) - 1
                # A break after each word: a space inside the line, then a line break.
                kind = (
                    "SPACE" if not last_word else ("LINE_BREAK" if last_line else "EOL_SURE_SPACE")
                )
                paragraph_words.append(_word(word, kind, int_enums, confidence))
        points = [p for line in paragraph for p in line.box]
        block_paragraph: dict[str, Any] = {
            "boundingBox": {"vertices": _bounds(points)},
            "words": paragraph_words,
        }
        block: dict[str, Any] = {
            "boundingBox": {"vertices": _bounds(points)},
            "paragraphs": [block_paragraph],
            "blockType": _BLOCK_TEXT[1] if int_enums else _BLOCK_TEXT[0],
        }
        if confidence:
            score = float(np.mean([line.confidence for line in paragraph]))
            block_paragraph["confidence"] = score
            block["confidence"] = score
        blocks.append(block)
    page: dict[str, Any] = {
        "width": result.width or 0,
        "height": result.height or 0,
        "blocks": blocks,
    }
    if confidence and lines:
        page["confidence"] = float(np.mean([line.confidence for line in lines]))
    return {
        "textAnnotations": entries,
        "fullTextAnnotation": {"pages": [page], "text": full_text},
    }


def _word(word: TextWord, last_break: str, int_enums: bool, confidence: bool) -> dict[str, Any]:
    symbols = []
    for index, char in enumerate(word.text):
        symbol: dict[str, Any] = {"text": char}
        if index == len(word.text) - 1:
            kind: Any = _BREAKS[last_break] if int_enums else last_break
            symbol["property"] = {"detectedBreak": {"type": kind}}
        if confidence:
            symbol["confidence"] = word.confidence
        symbols.append(symbol)
    entry: dict[str, Any] = {
        "boundingBox": {"vertices": _quad_vertices(word.box)},
        "symbols": symbols,
    }
    if confidence:
        entry["confidence"] = word.confidence
    return entry


def _paragraphs(lines: Sequence[TextLine]) -> list[list[TextLine]]:
    """Group consecutive lines that are close below each other and overlap horizontally."""
    groups: list[list[TextLine]] = []
    for line in lines:
        if groups and _continues(groups[-1][-1], line):
            groups[-1].append(line)
        else:
            groups.append([line])
    return groups


def _continues(above: TextLine, below: TextLine) -> bool:
    ax = [p[0] for p in above.box]
    ay = [p[1] for p in above.box]
    bx = [p[0] for p in below.box]
    by = [p[1] for p in below.box]
    height = max(ay) - min(ay)
    gap = min(by) - max(ay)
    overlap = min(max(ax), max(bx)) - max(min(ax), min(bx))
    return -0.5 * height <= gap <= 0.8 * height and overlap > 0


def _bounds(points: Sequence[tuple[float, float]]) -> list[dict[str, int]]:
    if not points:
        return []
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    return _vertices(round(min(xs)), round(min(ys)), round(max(xs)), round(max(ys)))


def _quad_vertices(quad: Sequence[tuple[float, float]]) -> list[dict[str, int]]:
    return [_omit_zero({"x": round(x), "y": round(y)}) for x, y in quad]


def _face(face: Any) -> dict[str, Any]:
    """A ``FaceAnnotation`` with what the detector estimated; the rest stays unset (UNKNOWN)."""
    box = [round(v) for v in (face.left, face.top, face.right, face.bottom)]
    entry: dict[str, Any] = {
        "boundingPoly": {"vertices": _vertices(*box)},
        "fdBoundingPoly": {"vertices": _vertices(*box)},
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


def _normalized_vertices(box: Any, width: int, height: int) -> list[dict[str, float]]:
    """A box as four vertices in 0..1 of the image, clockwise from top-left."""
    left, right = box.left / width, box.right / width
    top, bottom = box.top / height, box.bottom / height
    corners = [(left, top), (right, top), (right, bottom), (left, bottom)]
    return [_omit_zero({"x": round(x, 6), "y": round(y, 6)}) for x, y in corners]


def _omit_zero(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value != 0}


def batch_response(responses: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The ``BatchAnnotateImagesResponse`` body."""
    return {"responses": list(responses)}


def error_response(error: BaseException) -> tuple[int, dict[str, Any]]:
    """HTTP status and Google API error body for a whole-request failure."""
    code = rpc_code(error)
    http = _HTTP_STATUS.get(code, 500)
    if isinstance(error, LocalVisionError):
        message = error.message + (f" {error.hint}" if error.hint else "")
        reason = error.code.upper()
    else:
        message, reason = "Internal error.", "INTERNAL"
    body = {
        "error": {
            "code": http,
            "message": message,
            "status": code.name,
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": reason,
                    "domain": "localvision",
                    "metadata": {},
                }
            ],
        }
    }
    return http, body


def unsupported_error(names: Sequence[str]) -> FeatureNotAvailableError:
    """The per-image error for Google features localvision has no local model type for."""
    listed = ", ".join(names)
    return FeatureNotAvailableError(
        f"localvision has no local model for {listed}.",
        hint="Remove the feature, or route it to a cloud provider.",
    )


# ------------------------------------------------------------------ the client direction

_TYPE_FOR_FEATURE = {feature: name for name, feature in _LOCAL_FEATURES.items()}


def request_body(images: Sequence[bytes], features: Sequence[FeatureRequest]) -> dict[str, Any]:
    """A ``BatchAnnotateImagesRequest`` asking ``features`` of each image (at most 16)."""
    if len(images) > MAX_IMAGES:
        raise InvalidParameterError(f"At most {MAX_IMAGES} images per request; got {len(images)}.")
    entries = []
    for content in images:
        wanted = []
        context: dict[str, Any] = {}
        for feature in features:
            item: dict[str, Any] = {"type": _TYPE_FOR_FEATURE[feature.feature]}
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
        entries.append(entry)
    return {"requests": entries}


def parse_image_response(
    entry: Mapping[str, Any], result: AnnotateResult, *, width: int, height: int
) -> None:
    """Fill ``result`` from one ``AnnotateImageResponse`` (the inverse of
    :func:`image_response`); a per-image ``error`` becomes ``result.error``."""
    from ..types import Color, CropHint, DetectedObject, Face, Label, TextLine, TextWord

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
        result.colors = [
            Color(
                red=round(float(c.get("color", {}).get("red", 0))),
                green=round(float(c.get("color", {}).get("green", 0))),
                blue=round(float(c.get("color", {}).get("blue", 0))),
                score=float(c.get("score", 0.0)),
                pixel_fraction=float(c.get("pixelFraction", 0.0)),
            )
            for c in properties.get("dominantColors", {}).get("colors", [])
        ]
    crops = entry.get("cropHintsAnnotation")
    if crops is not None:
        result.crop_hints = []
        for hint in crops.get("cropHints", []):
            xs, ys = _xy(hint.get("boundingPoly", {}).get("vertices", []))
            result.crop_hints.append(
                CropHint(
                    left=min(xs),
                    top=min(ys),
                    right=max(xs),
                    bottom=max(ys),
                    confidence=float(hint.get("confidence", 0.0)),
                    importance_fraction=float(hint.get("importanceFraction", 0.0)),
                    aspect_ratio=(max(xs) - min(xs) + 1) / max(1, max(ys) - min(ys) + 1),
                )
            )
    if "localizedObjectAnnotations" in entry:
        result.objects = []
        for obj in entry["localizedObjectAnnotations"]:
            points = obj.get("boundingPoly", {}).get("normalizedVertices", [])
            fx = [float(p.get("x", 0.0)) * width for p in points] or [0.0]
            fy = [float(p.get("y", 0.0)) * height for p in points] or [0.0]
            result.objects.append(
                DetectedObject(
                    name=str(obj.get("name", "")),
                    score=float(obj.get("score", 0.0)),
                    left=min(fx),
                    top=min(fy),
                    right=max(fx),
                    bottom=max(fy),
                )
            )
    if "faceAnnotations" in entry:
        result.faces = []
        for face in entry["faceAnnotations"]:
            xs, ys = _xy(
                face.get("fdBoundingPoly", face.get("boundingPoly", {})).get("vertices", [])
            )
            result.faces.append(
                Face(
                    left=min(xs),
                    top=min(ys),
                    right=max(xs),
                    bottom=max(ys),
                    confidence=float(face.get("detectionConfidence", 0.0)),
                )
            )
    if "textAnnotations" in entry:
        words = entry["textAnnotations"][1:]
        whole = entry["textAnnotations"][0] if entry["textAnnotations"] else {}
        parsed = tuple(
            TextWord(
                text=str(w.get("description", "")),
                confidence=1.0,
                box=_quad(w.get("boundingPoly", {}).get("vertices", [])),
            )
            for w in words
        )
        text = str(whole.get("description", "")).rstrip("\n")
        result.text = [
            TextLine(
                text=line,
                confidence=1.0,
                box=_quad(whole.get("boundingPoly", {}).get("vertices", [])),
                words=parsed if i == 0 else (),
            )
            for i, line in enumerate(text.split("\n"))
            if line
        ]
    if "error" in entry and entry["error"].get("code"):
        result.error = _from_status(entry["error"])


def _xy(vertices: Sequence[Mapping[str, Any]]) -> tuple[list[int], list[int]]:
    xs = [int(v.get("x", 0)) for v in vertices] or [0]
    ys = [int(v.get("y", 0)) for v in vertices] or [0]
    return xs, ys


def _quad(vertices: Sequence[Mapping[str, Any]]) -> Any:
    points = [(float(v.get("x", 0)), float(v.get("y", 0))) for v in vertices][:4]
    while len(points) < 4:
        points.append((0.0, 0.0))
    return tuple(points)


_ERROR_FOR_CODE: dict[int, type[LocalVisionError]] = {
    int(RpcCode.INVALID_ARGUMENT): InvalidInputError,
    int(RpcCode.UNIMPLEMENTED): FeatureNotAvailableError,
    int(RpcCode.UNAUTHENTICATED): AuthenticationError,
    int(RpcCode.RESOURCE_EXHAUSTED): OverloadedError,
    int(RpcCode.DEADLINE_EXCEEDED): RequestTimeoutError,
}


def _from_status(status: Mapping[str, Any]) -> LocalVisionError:
    """Our error for a ``google.rpc.Status`` (the vendor's message kept)."""
    from ..errors import ProviderError

    cls = _ERROR_FOR_CODE.get(int(status.get("code", 2)), ProviderError)
    return cls(f"Google Cloud Vision: {status.get('message', 'error')}")


def error_from_response(http_status: int, body: Any) -> LocalVisionError:
    """Our error for a whole-request failure in Google's error model."""
    from ..errors import ProviderError

    error = body.get("error", {}) if isinstance(body, dict) else {}
    message = str(error.get("message") or f"HTTP {http_status}")
    status = str(error.get("status", ""))
    code = int(RpcCode[status]) if status in RpcCode.__members__ else None
    cls = _ERROR_FOR_CODE.get(code, ProviderError) if code is not None else ProviderError
    return cls(f"Google Cloud Vision answered HTTP {http_status}: {message}")
