"""AWS Rekognition (JSON 1.1 protocol) ⇄ canonical types, both directions.

Every operation is ``POST /`` named by the ``X-Amz-Target`` header
(``RekognitionService.DetectLabels``). Confidences are percentages (0..100) on this wire, and
errors are ``{"__type": ..., "message": ...}`` bodies whose ``__type`` botocore turns into its
modelled exception classes (``client.exceptions.InvalidImageFormatException``...).

The server parses requests (:mod:`.requests`) and renders responses (:mod:`.responses`); the
AWS provider reads responses back (:mod:`.client`); :mod:`.errors` maps errors both ways.
Callers import from here (``from localvision.wire import rekognition as wire``).
"""

from __future__ import annotations

from .client import fill_from_detect_faces, fill_from_detect_labels, fill_from_detect_text
from .errors import (
    InvalidImageFormatError,
    SerializationError,
    UnknownOperationError,
    error_from_aws,
    error_response,
)
from .requests import (
    DEFAULT_MAX_LABELS,
    DEFAULT_MIN_CONFIDENCE,
    MAX_IMAGE_BYTES,
    TARGET_PREFIX,
    DetectLabelsRequest,
    ImageRef,
    S3Object,
    WordFilter,
    check_image,
    operation,
    parse_detect_faces,
    parse_detect_labels,
    parse_detect_text,
    parse_image,
)
from .responses import (
    MAX_WORDS,
    detect_faces_response,
    detect_labels_response,
    detect_text_response,
)

__all__ = [
    "DEFAULT_MAX_LABELS",
    "DEFAULT_MIN_CONFIDENCE",
    "MAX_IMAGE_BYTES",
    "MAX_WORDS",
    "TARGET_PREFIX",
    "DetectLabelsRequest",
    "ImageRef",
    "InvalidImageFormatError",
    "S3Object",
    "SerializationError",
    "UnknownOperationError",
    "WordFilter",
    "check_image",
    "detect_faces_response",
    "detect_labels_response",
    "detect_text_response",
    "error_from_aws",
    "error_response",
    "fill_from_detect_faces",
    "fill_from_detect_labels",
    "fill_from_detect_text",
    "operation",
    "parse_detect_faces",
    "parse_detect_labels",
    "parse_detect_text",
    "parse_image",
]
