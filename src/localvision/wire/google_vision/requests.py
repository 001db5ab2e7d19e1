"""Parsing ``images:annotate`` requests (the server direction).

Request parsing follows the proto3 JSON mapping the official clients use: field names in
lowerCamelCase, enums as names *or* numbers (the Python REST client sends numbers), int32 as
numbers or numeric strings, bytes as base64. What Google itself refuses as a whole (malformed
JSON, unknown fields, bad enum values, bad base64, more than 16 images) is refused as a whole
with an ``INVALID_ARGUMENT`` message that names the field, as Google's does; what concerns one
image (bad image data, a feature without a local model) becomes that image's ``error`` while the
rest of the batch is answered.
"""

from __future__ import annotations

import binascii
import reprlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ...errors import InvalidParameterError
from ...types import Feature, FeatureRequest
from .. import codec
from .features import FEATURE_TYPES, LOCAL_FEATURES, MAX_IMAGES, TYPE_NAMES

__all__ = ["MAX_ASPECT_RATIOS", "ImageSpec", "parse_batch_request", "wants_int_enums"]

MAX_ASPECT_RATIOS = 16

_TOP_FIELDS = {"requests", "parent", "labels"}
_REQUEST_FIELDS = {"image", "features", "imageContext"}
_IMAGE_FIELDS = {"content", "source"}
_SOURCE_FIELDS = {"imageUri", "gcsImageUri"}
_FEATURE_FIELDS = {"type", "maxResults", "model"}


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
        local = LOCAL_FEATURES.get(name)
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
        TYPE_NAMES.get(value)
        if isinstance(value, int)
        else (value if isinstance(value, str) and value in FEATURE_TYPES else None)
    )
    if name is None:
        raise _invalid(
            f"Invalid value at '{path}.type' "
            f"(type.googleapis.com/google.cloud.vision.v1.Feature.Type), {_shown(value)}"
        )
    max_results = raw.get("maxResults")
    if max_results is not None:
        try:
            max_results = int(max_results)
        except (TypeError, ValueError):
            raise _invalid(
                f"Invalid value at '{path}.maxResults' (TYPE_INT32), {_shown(max_results)}"
            ) from None
        if isinstance(raw.get("maxResults"), bool) or not -(2**31) <= max_results < 2**31:
            raise _invalid(
                f"Invalid value at '{path}.maxResults' (TYPE_INT32), {_shown(raw['maxResults'])}"
            )
    return name, (max_results if max_results and max_results > 0 else None)


def _base64(text: str, path: str) -> bytes:
    try:
        # proto3 JSON accepts both the standard and the URL-safe alphabet, padded or not.
        padded = text + "=" * (-len(text) % 4)
        try:
            return codec.b64decode(padded)
        except (binascii.Error, ValueError):  # the URL-safe alphabet (or garbage)
            return codec.b64decode(padded.replace("-", "+").replace("_", "/"))
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


def _shown(value: Any) -> str:
    """A caller's value for a message: ``repr``, cut short in length and nesting depth (a
    value nested thousands deep must not take the server's stack with it)."""
    return reprlib.repr(value)
