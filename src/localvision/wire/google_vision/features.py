"""Google's ``Feature.Type`` enum, and which of its types localvision answers locally.

Both directions need the table: the server reads requested types (as names or numbers, the
proto3 JSON mapping allows both) and the provider writes the types it asks Google for.
"""

from __future__ import annotations

from ...types import Feature

__all__ = ["FEATURE_TYPES", "LOCAL_FEATURES", "MAX_IMAGES", "TYPE_FOR_FEATURE", "TYPE_NAMES"]

MAX_IMAGES = 16
"""Images per ``BatchAnnotateImagesRequest``, Google's own limit."""

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
TYPE_NAMES = {number: name for name, number in FEATURE_TYPES.items()}

LOCAL_FEATURES = {
    "LABEL_DETECTION": Feature.LABELS,
    "TEXT_DETECTION": Feature.TEXT,
    "DOCUMENT_TEXT_DETECTION": Feature.DOCUMENT_TEXT,
    "FACE_DETECTION": Feature.FACES,
    "IMAGE_PROPERTIES": Feature.COLORS,
    "CROP_HINTS": Feature.CROP_HINTS,
    "OBJECT_LOCALIZATION": Feature.OBJECTS,
}
"""The Google types a local model type answers; the others are refused per image."""

TYPE_FOR_FEATURE = {feature: name for name, feature in LOCAL_FEATURES.items()}
"""The Google type to ask for each canonical feature (the client direction)."""
