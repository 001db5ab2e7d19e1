"""AWS Rekognition (JSON 1.1 protocol) ⇄ canonical types.

Every operation is ``POST /`` named by the ``X-Amz-Target`` header
(``RekognitionService.DetectLabels``). Confidences are percentages (0..100) on this wire, and
errors are ``{"__type": ..., "message": ...}`` bodies whose ``__type`` botocore turns into its
modelled exception classes (``client.exceptions.InvalidImageFormatException``...).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import (
    AuthenticationError,
    FeatureNotAvailableError,
    ImageError,
    ImageTooLargeError,
    InvalidInputError,
    InvalidParameterError,
    LocalVisionError,
    OverloadedError,
)
from ..types import AnnotateResult, Feature, FeatureRequest

__all__ = [
    "DEFAULT_MIN_CONFIDENCE",
    "MAX_IMAGE_BYTES",
    "TARGET_PREFIX",
    "DetectLabelsRequest",
    "UnknownOperationError",
    "detect_faces_response",
    "detect_labels_response",
    "detect_text_response",
    "error_response",
    "operation",
    "parse_detect_faces",
    "parse_detect_labels",
    "parse_detect_text",
]

TARGET_PREFIX = "RekognitionService."
MAX_IMAGE_BYTES = 5 * 1024 * 1024  # raw bytes, per the service's quota
DEFAULT_MIN_CONFIDENCE = 55.0
DEFAULT_MAX_LABELS = 1000
_JPEG, _PNG = b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n"


class UnknownOperationError(InvalidInputError):
    """The ``X-Amz-Target`` names no operation this server answers."""

    code = "unknown_operation"


class SerializationError(InvalidInputError):
    """The body is not the JSON object the operation expects."""

    code = "serialization"


class InvalidImageFormatError(ImageError):
    """Rekognition takes PNG and JPEG only."""

    code = "invalid_image_format"


@dataclass(frozen=True)
class DetectLabelsRequest:
    """A parsed ``DetectLabels`` call: labels and/or image properties."""

    image: bytes
    features: tuple[FeatureRequest, ...]
    inclusion: frozenset[str] = frozenset()
    exclusion: frozenset[str] = frozenset()

    @property
    def wants_labels(self) -> bool:
        return any(f.feature is Feature.LABELS for f in self.features)

    def answerable(self, available: frozenset[Feature]) -> tuple[FeatureRequest, ...]:
        """The features to run: labels and objects only where a model answers them."""
        optional = (Feature.LABELS, Feature.OBJECTS)
        return tuple(
            f for f in self.features if f.feature not in optional or f.feature in available
        )


def operation(target: str | None, supported: Sequence[str]) -> str:
    """The operation named by an ``X-Amz-Target`` header, if this server answers it."""
    name = (target or "").removeprefix(TARGET_PREFIX)
    if not target or not target.startswith(TARGET_PREFIX) or name not in supported:
        raise UnknownOperationError(
            f"Operation {target or '(no X-Amz-Target header)'} is not supported by this server.",
            hint=f"Supported: {', '.join(TARGET_PREFIX + s for s in supported)}.",
        )
    return name


def parse_image(body: Mapping[str, Any]) -> bytes:
    """``Image.Bytes`` decoded and checked: present, at most 5 MB, PNG or JPEG."""
    image = body.get("Image")
    if not isinstance(image, dict):
        raise InvalidParameterError("Image is required: send Image.Bytes.")
    if "S3Object" in image and "Bytes" not in image:
        raise InvalidParameterError(
            "Image.S3Object is not supported by this server.", hint="Send Image.Bytes instead."
        )
    raw = image.get("Bytes")
    if not isinstance(raw, str) or not raw:
        raise InvalidParameterError("Image.Bytes must be non-empty base64 data.")
    try:
        data = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise SerializationError("Image.Bytes is not valid base64.") from None
    if not data:
        raise InvalidParameterError("Image.Bytes is empty.")
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageTooLargeError(
            f"Image size is {len(data):,} bytes; the maximum is {MAX_IMAGE_BYTES:,}."
        )
    if not (data.startswith(_JPEG) or data.startswith(_PNG)):
        raise InvalidImageFormatError("Request has unsupported image format (PNG or JPEG only).")
    return data


def parse_detect_labels(body: Any) -> DetectLabelsRequest:
    """Parse a ``DetectLabelsRequest``; raises the error Rekognition would for bad values."""
    if not isinstance(body, dict):
        raise SerializationError("The request body must be a JSON object.")
    image = parse_image(body)
    max_labels = body.get("MaxLabels", DEFAULT_MAX_LABELS)
    if not isinstance(max_labels, int) or isinstance(max_labels, bool) or max_labels < 0:
        raise InvalidParameterError(f"MaxLabels must be an integer >= 0; got {max_labels!r}.")
    min_confidence = body.get("MinConfidence", DEFAULT_MIN_CONFIDENCE)
    if (
        not isinstance(min_confidence, int | float)
        or isinstance(min_confidence, bool)
        or not 0 <= min_confidence <= 100
    ):
        raise InvalidParameterError(
            f"MinConfidence must be a number from 0 to 100; got {min_confidence!r}."
        )
    features = body.get("Features", ["GENERAL_LABELS"])
    if not isinstance(features, list) or not set(features) <= {
        "GENERAL_LABELS",
        "IMAGE_PROPERTIES",
    }:
        raise InvalidParameterError(
            f"Features must list GENERAL_LABELS and/or IMAGE_PROPERTIES; got {features!r}."
        )
    settings = body.get("Settings") or {}
    if not isinstance(settings, dict):
        raise InvalidParameterError("Settings must be an object.")
    general = settings.get("GeneralLabels") or {}
    wanted: list[FeatureRequest] = []
    if "GENERAL_LABELS" in features:
        wanted.append(
            FeatureRequest(
                Feature.LABELS, max_results=max_labels or None, min_score=min_confidence / 100
            )
        )
        wanted.append(FeatureRequest(Feature.OBJECTS, min_score=min_confidence / 100))
    if "IMAGE_PROPERTIES" in features:
        max_colors = (settings.get("ImageProperties") or {}).get("MaxDominantColors", 10)
        valid = isinstance(max_colors, int) and not isinstance(max_colors, bool)
        if not valid or not 0 <= max_colors <= 20:
            raise InvalidParameterError(
                f"Settings.ImageProperties.MaxDominantColors must be 0 to 20; got {max_colors!r}."
            )
        wanted.append(FeatureRequest(Feature.COLORS, max_results=max_colors or None))
    return DetectLabelsRequest(
        image=image,
        features=tuple(wanted),
        inclusion=frozenset(_names(general, "LabelInclusionFilters")),
        exclusion=frozenset(_names(general, "LabelExclusionFilters")),
    )


def _names(settings: Mapping[str, Any], key: str) -> list[str]:
    value = settings.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidParameterError(f"Settings.GeneralLabels.{key} must be a list of strings.")
    return value


_FACE_ATTRIBUTES = {
    "DEFAULT",
    "ALL",
    "AGE_RANGE",
    "BEARD",
    "EMOTIONS",
    "EYE_DIRECTION",
    "EYEGLASSES",
    "EYES_OPEN",
    "GENDER",
    "MOUTH_OPEN",
    "MUSTACHE",
    "FACE_OCCLUDED",
    "SMILE",
    "SUNGLASSES",
}


def parse_detect_faces(body: Any) -> tuple[bytes, FeatureRequest]:
    """Parse a ``DetectFacesRequest``: the image, and the attributes asked (all validated)."""
    if not isinstance(body, dict):
        raise SerializationError("The request body must be a JSON object.")
    image = parse_image(body)
    attributes = body.get("Attributes", ["DEFAULT"])
    if not isinstance(attributes, list) or not set(attributes) <= _FACE_ATTRIBUTES:
        raise InvalidParameterError(
            f"Attributes must list values from {', '.join(sorted(_FACE_ATTRIBUTES))}; "
            f"got {attributes!r}."
        )
    return image, FeatureRequest(Feature.FACES, max_results=100)


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


@dataclass(frozen=True)
class WordFilter:
    """``Filters.WordFilter`` of ``DetectText``: confidence in 0..1, sizes as image ratios."""

    min_confidence: float = 0.0
    min_height: float = 0.0
    min_width: float = 0.0


def parse_detect_text(body: Any) -> tuple[bytes, WordFilter]:
    """Parse a ``DetectTextRequest``: the image and the word filter."""
    if not isinstance(body, dict):
        raise SerializationError("The request body must be a JSON object.")
    image = parse_image(body)
    filters = body.get("Filters") or {}
    if not isinstance(filters, dict):
        raise InvalidParameterError("Filters must be an object.")
    regions = filters.get("RegionsOfInterest") or []
    if not isinstance(regions, list) or len(regions) > 10:
        raise InvalidParameterError("Filters.RegionsOfInterest takes at most 10 regions.")
    if regions:
        raise InvalidParameterError("Filters.RegionsOfInterest is not supported by this server.")
    raw = filters.get("WordFilter") or {}
    values = {}
    for key, top in (
        ("MinConfidence", 100),
        ("MinBoundingBoxHeight", 1),
        ("MinBoundingBoxWidth", 1),
    ):
        value = raw.get(key, 0)
        if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= top:
            raise InvalidParameterError(f"WordFilter.{key} must be from 0 to {top}; got {value!r}.")
        values[key] = float(value)
    return image, WordFilter(
        min_confidence=values["MinConfidence"] / 100,
        min_height=values["MinBoundingBoxHeight"],
        min_width=values["MinBoundingBoxWidth"],
    )


MAX_WORDS = 100  # DetectText returns at most 100 words


def detect_text_response(result: AnnotateResult, word_filter: WordFilter) -> dict[str, Any]:
    """``DetectTextResponse``: LINE then WORD detections, words pointing at their line."""
    width, height = result.width or 1, result.height or 1
    lines: list[dict[str, Any]] = []
    words: list[dict[str, Any]] = []
    for line in result.text or []:
        kept = []
        for word in line.words:
            geometry = _geometry(word.box, width, height)
            box = geometry["BoundingBox"]
            if (
                word.confidence < word_filter.min_confidence
                or box["Height"] < word_filter.min_height
                or box["Width"] < word_filter.min_width
            ):
                continue
            kept.append((word, geometry))
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
        for word, geometry in kept[: MAX_WORDS - len(words)]:
            words.append(_detection(word.text, "WORD", None, line_id, word.confidence, geometry))
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
    geometry: dict[str, Any],
) -> dict[str, Any]:
    entry: dict[str, Any] = {"DetectedText": text, "Type": kind}
    if identifier is not None:
        entry["Id"] = identifier
    if parent is not None:
        entry["ParentId"] = parent
    entry["Confidence"] = round(confidence * 100, 4)
    entry["Geometry"] = geometry
    return entry


def _geometry(quad: Any, width: int, height: int) -> dict[str, Any]:
    xs = [x / width for x, _ in quad]
    ys = [y / height for _, y in quad]
    return {
        "BoundingBox": {
            "Width": round(max(xs) - min(xs), 6),
            "Height": round(max(ys) - min(ys), 6),
            "Left": round(min(xs), 6),
            "Top": round(min(ys), 6),
        },
        "Polygon": [{"X": round(x, 6), "Y": round(y, 6)} for x, y in zip(xs, ys, strict=True)],
    }


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


def _label_entry(name: str, score: float) -> dict[str, Any]:
    return {
        "Name": name,
        "Confidence": round(score * 100, 4),
        "Instances": [],
        "Parents": [],
        "Aliases": [],
        "Categories": [],
    }


def _ratio_box(found: Any, result: AnnotateResult) -> dict[str, float]:
    """A box as Rekognition gives it: ratios of the image size, origin top-left."""
    width, height = result.width or 1, result.height or 1
    return {
        "Width": round((found.right - found.left) / width, 6),
        "Height": round((found.bottom - found.top) / height, 6),
        "Left": round(found.left / width, 6),
        "Top": round(found.top / height, 6),
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


# Our errors to Rekognition's modelled ones, first match along the MRO wins: (type, HTTP).
_AWS_ERRORS: tuple[tuple[type[LocalVisionError], str, int], ...] = (
    (UnknownOperationError, "UnknownOperationException", 400),
    (SerializationError, "SerializationException", 400),
    (ImageTooLargeError, "ImageTooLargeException", 400),
    (ImageError, "InvalidImageFormatException", 400),
    (InvalidInputError, "InvalidParameterException", 400),
    (FeatureNotAvailableError, "AccessDeniedException", 400),
    (OverloadedError, "ThrottlingException", 500),
)
_AUTH_TYPES = {
    "invalid_signature": ("InvalidSignatureException", 403),
    "expired_signature": ("InvalidSignatureException", 403),
    "missing_authentication": ("MissingAuthenticationTokenException", 403),
}


def error_response(error: BaseException) -> tuple[int, str, dict[str, Any]]:
    """HTTP status, ``__type`` and body for an error, in Rekognition's error format."""
    if isinstance(error, AuthenticationError):
        name, status = _AUTH_TYPES.get(error.code, ("UnrecognizedClientException", 400))
    else:
        name, status = "InternalServerError", 500
        for cls, aws_name, aws_status in _AWS_ERRORS:
            if isinstance(error, cls):
                name, status = aws_name, aws_status
                break
    if isinstance(error, LocalVisionError):
        message = error.message + (f" {error.hint}" if error.hint else "")
    else:
        message = "Internal server error."
    return status, name, {"__type": name, "Code": name, "message": message}


# ------------------------------------------------------------------ the client direction


def fill_from_detect_labels(
    response: Mapping[str, Any], result: AnnotateResult, *, width: int, height: int
) -> None:
    """Labels (and image properties, instances as objects) from a ``DetectLabels`` answer."""
    from ..types import Color, DetectedObject, ImageQuality, Label

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
        result.objects = [
            DetectedObject(
                name=str(item.get("Name", "")),
                score=float(instance.get("Confidence", 0)) / 100,
                left=float(instance["BoundingBox"].get("Left", 0)) * width,
                top=float(instance["BoundingBox"].get("Top", 0)) * height,
                right=(
                    float(instance["BoundingBox"].get("Left", 0))
                    + float(instance["BoundingBox"].get("Width", 0))
                )
                * width,
                bottom=(
                    float(instance["BoundingBox"].get("Top", 0))
                    + float(instance["BoundingBox"].get("Height", 0))
                )
                * height,
            )
            for item, instance in instances
        ]
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
    from ..types import TextLine, TextWord

    def quad(geometry: Mapping[str, Any]) -> Any:
        points = [
            (float(p.get("X", 0)) * width, float(p.get("Y", 0)) * height)
            for p in geometry.get("Polygon", [])
        ][:4]
        while len(points) < 4:
            points.append((0.0, 0.0))
        return tuple(points)

    detections = response.get("TextDetections", [])
    words: dict[int, list[Any]] = {}
    for d in detections:
        if d.get("Type") == "WORD":
            words.setdefault(int(d.get("ParentId", -1)), []).append(
                TextWord(
                    text=str(d.get("DetectedText", "")),
                    confidence=float(d.get("Confidence", 0)) / 100,
                    box=quad(d.get("Geometry", {})),
                )
            )
    result.text = [
        TextLine(
            text=str(d.get("DetectedText", "")),
            confidence=float(d.get("Confidence", 0)) / 100,
            box=quad(d.get("Geometry", {})),
            words=tuple(words.get(int(d.get("Id", -1)), [])),
        )
        for d in detections
        if d.get("Type") == "LINE"
    ]


def fill_from_detect_faces(
    response: Mapping[str, Any], result: AnnotateResult, *, width: int, height: int
) -> None:
    """Faces from a ``DetectFaces`` answer (boxes, confidence, quality)."""
    from ..types import Face

    faces = []
    for detail in response.get("FaceDetails", []):
        box = detail.get("BoundingBox", {})
        left, top = float(box.get("Left", 0)) * width, float(box.get("Top", 0)) * height
        quality = detail.get("Quality") or {}
        faces.append(
            Face(
                left=left,
                top=top,
                right=left + float(box.get("Width", 0)) * width,
                bottom=top + float(box.get("Height", 0)) * height,
                confidence=float(detail.get("Confidence", 0)) / 100,
                brightness=float(quality["Brightness"]) / 100 if "Brightness" in quality else None,
                sharpness=float(quality["Sharpness"]) / 100 if "Sharpness" in quality else None,
            )
        )
    result.faces = faces


_FROM_AWS: dict[str, type[LocalVisionError]] = {
    "InvalidImageFormatException": ImageError,
    "ImageTooLargeException": ImageTooLargeError,
    "InvalidParameterException": InvalidParameterError,
    "AccessDeniedException": AuthenticationError,
    "UnrecognizedClientException": AuthenticationError,
    "InvalidSignatureException": AuthenticationError,
    "ThrottlingException": OverloadedError,
    "ProvisionedThroughputExceededException": OverloadedError,
}


def error_from_aws(code: str, message: str) -> LocalVisionError:
    """Our error for an AWS error code, the vendor's message kept."""
    from ..errors import ProviderError

    return _FROM_AWS.get(code, ProviderError)(f"AWS Rekognition {code}: {message}")
