"""Google Cloud Vision v1 ``images:annotate`` JSON ⇄ canonical types, both directions.

The server parses requests (:mod:`.requests`) and renders responses (:mod:`.responses`, with
OCR text laid out as Google's page tree by :mod:`.text_layout` and regions written by
:mod:`.vertices`); the Google provider writes requests and reads responses back
(:mod:`.client`). :mod:`.errors` maps errors both ways through ``google.rpc.Code``, and
:mod:`.features` holds the ``Feature.Type`` table both directions share.

Callers import from here (``from localvision.wire import google_vision as wire``); the modules
are how the package is organised, not a second API.
"""

from __future__ import annotations

from .client import parse_image_response, request_body
from .errors import (
    RpcCode,
    error_from_response,
    error_from_status,
    error_response,
    rpc_code,
    status,
    unsupported_error,
)
from .features import FEATURE_TYPES, MAX_IMAGES
from .requests import MAX_ASPECT_RATIOS, ImageSpec, parse_batch_request, wants_int_enums
from .responses import batch_response, image_response
from .text_layout import text_annotations

__all__ = [
    "FEATURE_TYPES",
    "MAX_ASPECT_RATIOS",
    "MAX_IMAGES",
    "ImageSpec",
    "RpcCode",
    "batch_response",
    "error_from_response",
    "error_from_status",
    "error_response",
    "image_response",
    "parse_batch_request",
    "parse_image_response",
    "request_body",
    "rpc_code",
    "status",
    "text_annotations",
    "unsupported_error",
    "wants_int_enums",
]
