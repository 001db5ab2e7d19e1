"""Parsing ``DetectLabels``, ``DetectText`` and ``DetectFaces`` requests (the server direction).

Every operation is ``POST /`` named by the ``X-Amz-Target`` header
(``RekognitionService.DetectLabels``); the body is JSON with the image as base64
``Image.Bytes``, or named by ``Image.S3Object`` (:class:`S3Object`, which the server reads
through its storage layer and checks with :func:`check_image`). Values Rekognition would
refuse are refused with the error it would give, so botocore raises the same modelled
exception against this server as against AWS.
"""

from __future__ import annotations

import binascii
import reprlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ...errors import ImageTooLargeError, InvalidParameterError
from ...types import Feature, FeatureRequest
from .. import codec
from .errors import InvalidImageFormatError, SerializationError, UnknownOperationError

__all__ = [
    "DEFAULT_MAX_LABELS",
    "DEFAULT_MIN_CONFIDENCE",
    "MAX_IMAGE_BYTES",
    "TARGET_PREFIX",
    "DetectLabelsRequest",
    "ImageRef",
    "S3Object",
    "WordFilter",
    "check_image",
    "operation",
    "parse_detect_faces",
    "parse_detect_labels",
    "parse_detect_text",
    "parse_image",
]

TARGET_PREFIX = "RekognitionService."
MAX_IMAGE_BYTES = 5 * 1024 * 1024  # raw bytes, per the service's quota
DEFAULT_MIN_CONFIDENCE = 55.0
DEFAULT_MAX_LABELS = 1000
_JPEG, _PNG = b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class S3Object:
    """``Image.S3Object``: an image the caller keeps in S3, for the server to read."""

    bucket: str
    name: str
    version: str | None = None

    @property
    def uri(self) -> str:
        """``s3://bucket/name``."""
        return f"s3://{self.bucket}/{self.name}"


ImageRef = bytes | S3Object
"""An image as a request gives it: its bytes, or where in S3 it is."""


@dataclass(frozen=True)
class DetectLabelsRequest:
    """A parsed ``DetectLabels`` call: labels and/or image properties."""

    image: ImageRef
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


@dataclass(frozen=True)
class WordFilter:
    """``Filters.WordFilter`` of ``DetectText``: confidence in 0..1, sizes as image ratios."""

    min_confidence: float = 0.0
    min_height: float = 0.0
    min_width: float = 0.0


def operation(target: str | None, supported: Sequence[str]) -> str:
    """The operation named by an ``X-Amz-Target`` header, if this server answers it."""
    name = (target or "").removeprefix(TARGET_PREFIX)
    if not target or not target.startswith(TARGET_PREFIX) or name not in supported:
        raise UnknownOperationError(
            f"Operation {target or '(no X-Amz-Target header)'} is not supported by this server.",
            hint=f"Supported: {', '.join(TARGET_PREFIX + s for s in supported)}.",
        )
    return name


def parse_image(body: Mapping[str, Any]) -> ImageRef:
    """``Image.Bytes`` decoded and checked (present, at most 5 MB, PNG or JPEG), or
    ``Image.S3Object`` with its fields checked as Rekognition checks them."""
    image = body.get("Image")
    if not isinstance(image, dict):
        raise InvalidParameterError("Image is required: send Image.Bytes or Image.S3Object.")
    if "S3Object" in image:
        if "Bytes" in image:
            raise InvalidParameterError("Send one of Image.Bytes and Image.S3Object, not both.")
        return _s3_object(image["S3Object"])
    raw = image.get("Bytes")
    if not isinstance(raw, str) or not raw:
        raise InvalidParameterError("Image.Bytes must be non-empty base64 data.")
    try:
        data = codec.b64decode(raw)
    except (binascii.Error, ValueError):
        raise SerializationError("Image.Bytes is not valid base64.") from None
    if not data:
        raise InvalidParameterError("Image.Bytes is empty.")
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageTooLargeError(
            f"Image size is {len(data):,} bytes; the maximum is {MAX_IMAGE_BYTES:,}."
        )
    return check_image(data)


def check_image(data: bytes) -> bytes:
    """``data`` when it is PNG or JPEG, the formats Rekognition takes (bytes or S3 object)."""
    if not (data.startswith(_JPEG) or data.startswith(_PNG)):
        raise InvalidImageFormatError("Request has unsupported image format (PNG or JPEG only).")
    return data


def _s3_object(value: Any) -> S3Object:
    """``Image.S3Object``: Bucket of 3 to 255 characters, Name of 1 to 1024, optional Version
    (the limits of Rekognition's model)."""
    if not isinstance(value, dict):
        raise InvalidParameterError("Image.S3Object must be an object with Bucket and Name.")
    bucket, name, version = value.get("Bucket"), value.get("Name"), value.get("Version")
    if not isinstance(bucket, str) or not 3 <= len(bucket) <= 255 or "/" in bucket:
        raise InvalidParameterError(
            f"Image.S3Object.Bucket must be a bucket name of 3 to 255 characters; "
            f"got {reprlib.repr(bucket)}."
        )
    if not isinstance(name, str) or not 1 <= len(name) <= 1024:
        raise InvalidParameterError(
            f"Image.S3Object.Name must be 1 to 1024 characters; got {reprlib.repr(name)}."
        )
    if version is not None and (not isinstance(version, str) or not 1 <= len(version) <= 1024):
        raise InvalidParameterError(
            f"Image.S3Object.Version must be 1 to 1024 characters; got {reprlib.repr(version)}."
        )
    return S3Object(bucket, name, version)


def parse_detect_labels(body: Any) -> DetectLabelsRequest:
    """Parse a ``DetectLabelsRequest``; raises the error Rekognition would for bad values."""
    if not isinstance(body, dict):
        raise SerializationError("The request body must be a JSON object.")
    image = parse_image(body)
    max_labels = body.get("MaxLabels", DEFAULT_MAX_LABELS)
    if not isinstance(max_labels, int) or isinstance(max_labels, bool) or max_labels < 0:
        raise InvalidParameterError(
            f"MaxLabels must be an integer >= 0; got {reprlib.repr(max_labels)}."
        )
    min_confidence = body.get("MinConfidence", DEFAULT_MIN_CONFIDENCE)
    if (
        not isinstance(min_confidence, int | float)
        or isinstance(min_confidence, bool)
        or not 0 <= min_confidence <= 100
    ):
        raise InvalidParameterError(
            f"MinConfidence must be a number from 0 to 100; got {reprlib.repr(min_confidence)}."
        )
    features = body.get("Features", ["GENERAL_LABELS"])
    if not _strings(features) or not set(features) <= {"GENERAL_LABELS", "IMAGE_PROPERTIES"}:
        raise InvalidParameterError(
            "Features must list GENERAL_LABELS and/or IMAGE_PROPERTIES; "
            f"got {reprlib.repr(features)}."
        )
    settings = _object(body, "Settings")
    general = _object(settings, "GeneralLabels", "Settings.")
    wanted: list[FeatureRequest] = []
    if "GENERAL_LABELS" in features:
        wanted.append(
            FeatureRequest(
                Feature.LABELS, max_results=max_labels or None, min_score=min_confidence / 100
            )
        )
        wanted.append(FeatureRequest(Feature.OBJECTS, min_score=min_confidence / 100))
    if "IMAGE_PROPERTIES" in features:
        max_colors = _object(settings, "ImageProperties", "Settings.").get("MaxDominantColors", 10)
        valid = isinstance(max_colors, int) and not isinstance(max_colors, bool)
        if not valid or not 0 <= max_colors <= 20:
            raise InvalidParameterError(
                "Settings.ImageProperties.MaxDominantColors must be 0 to 20; "
                f"got {reprlib.repr(max_colors)}."
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
    if not _strings(value):
        raise InvalidParameterError(f"Settings.GeneralLabels.{key} must be a list of strings.")
    return list(value)


def _strings(value: Any) -> bool:
    """Whether ``value`` is a list of strings (anything else cannot go in a set or a message)."""
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _object(parent: Mapping[str, Any], key: str, path: str = "") -> Mapping[str, Any]:
    """``parent[key]`` when it is an object, ``{}`` when absent; refused when anything else."""
    value = parent.get(key) or {}
    if not isinstance(value, dict):
        raise InvalidParameterError(f"{path}{key} must be an object.")
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


def parse_detect_faces(body: Any) -> tuple[ImageRef, FeatureRequest]:
    """Parse a ``DetectFacesRequest``: the image, and the attributes asked (all validated)."""
    if not isinstance(body, dict):
        raise SerializationError("The request body must be a JSON object.")
    image = parse_image(body)
    attributes = body.get("Attributes", ["DEFAULT"])
    if not _strings(attributes) or not set(attributes) <= _FACE_ATTRIBUTES:
        raise InvalidParameterError(
            f"Attributes must list values from {', '.join(sorted(_FACE_ATTRIBUTES))}; "
            f"got {reprlib.repr(attributes)}."
        )
    return image, FeatureRequest(Feature.FACES, max_results=100)


def parse_detect_text(body: Any) -> tuple[ImageRef, WordFilter]:
    """Parse a ``DetectTextRequest``: the image and the word filter."""
    if not isinstance(body, dict):
        raise SerializationError("The request body must be a JSON object.")
    image = parse_image(body)
    filters = _object(body, "Filters")
    regions = filters.get("RegionsOfInterest") or []
    if not isinstance(regions, list) or len(regions) > 10:
        raise InvalidParameterError("Filters.RegionsOfInterest takes at most 10 regions.")
    if regions:
        raise InvalidParameterError("Filters.RegionsOfInterest is not supported by this server.")
    raw = _object(filters, "WordFilter", "Filters.")
    values = {}
    for key, top in (
        ("MinConfidence", 100),
        ("MinBoundingBoxHeight", 1),
        ("MinBoundingBoxWidth", 1),
    ):
        value = raw.get(key, 0)
        if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= top:
            raise InvalidParameterError(
                f"WordFilter.{key} must be from 0 to {top}; got {reprlib.repr(value)}."
            )
        values[key] = float(value)
    return image, WordFilter(
        min_confidence=values["MinConfidence"] / 100,
        min_height=values["MinBoundingBoxHeight"],
        min_width=values["MinBoundingBoxWidth"],
    )
