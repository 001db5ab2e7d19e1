"""One row per image: what a batch job writes, the same on every path.

Both batch paths (in-process and Ray Data) turn each :class:`~localvision.types.AnnotateResult`
into a row with :func:`result_row` and nothing else, so the same image gives the same row
whichever path ran it. A row holds:

* ``path``: the input as listed (a file path or a storage URI);
* ``size``: its size in bytes (null when it could not be read);
* ``width``, ``height``: the orientation-corrected size in pixels (null when it did not decode);
* one column per feature asked for, named after it (``labels``, ``colors``, ...), holding that
  feature's result as JSON text, in the shape of ``localvision annotate --json`` (null when the
  feature could not run on the image);
* ``error_type``, ``error_code``, ``error_message``: the image's error (all null when none).

Feature columns are JSON text rather than nested Parquet types so that every feature has one
fixed column type, whatever it finds: a Parquet reader, pandas or DuckDB reads them as strings
and ``json.loads`` (or DuckDB's ``->>``) opens them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from ..types import AnnotateResult, Feature

__all__ = ["ERROR_COLUMNS", "Row", "columns_for", "feature_value", "result_row"]

Row = dict[str, Any]
"""One image's row: column name -> str, int or None."""

ERROR_COLUMNS = ("error_type", "error_code", "error_message")
_INT_COLUMNS = ("size", "width", "height")

_KEYS: Mapping[Feature, tuple[str, ...]] = {
    Feature.LABELS: ("labels",),
    Feature.OBJECTS: ("objects",),
    Feature.FACES: ("faces",),
    Feature.CROP_HINTS: ("crop_hints",),
    Feature.COLORS: ("colors", "quality"),
    Feature.TEXT: ("text", "lines"),
    Feature.DOCUMENT_TEXT: ("text", "lines"),
}
"""Which keys of ``AnnotateResult.to_dict()`` hold each feature's answer. A feature with one
key is that key's value (a list); one with several is an object of them."""


def columns_for(features: Sequence[Feature]) -> list[tuple[str, type]]:
    """The columns of a job asking for ``features``, in order, with their Python type."""
    columns: list[tuple[str, type]] = [("path", str)]
    columns += [(name, int) for name in _INT_COLUMNS]
    columns += [(feature.value, str) for feature in features]
    columns += [(name, str) for name in ERROR_COLUMNS]
    return columns


def feature_value(answer: Mapping[str, Any], feature: Feature) -> Any:
    """``feature``'s part of ``answer`` (an ``AnnotateResult.to_dict()``), None when absent."""
    keys = _KEYS[feature]
    if keys[0] not in answer:
        return None
    if len(keys) == 1:
        return answer[keys[0]]
    return {key: answer.get(key) for key in keys}


def result_row(
    path: str, size: int | None, result: AnnotateResult, features: Sequence[Feature]
) -> Row:
    """The row for ``result``, the answer for the input listed as ``path``.

    Example::

        result_row("a.jpg", 1234, result, [Feature.LABELS])
        # {"path": "a.jpg", "size": 1234, "width": 640, "height": 480,
        #  "labels": '[{"label":"tabby","score":0.8,"index":281}]',
        #  "error_type": None, "error_code": None, "error_message": None}
    """
    answer = result.to_dict()
    row: Row = {"path": path, "size": size, "width": result.width, "height": result.height}
    for feature in features:
        value = feature_value(answer, feature)
        row[feature.value] = None if value is None else _json(value)
    error = result.error
    row["error_type"] = type(error).__name__ if error is not None else None
    row["error_code"] = error.code if error is not None else None
    row["error_message"] = error.message if error is not None else None
    return row


def _json(value: Any) -> str:
    """Compact, key order kept, non-ASCII as is: the same text for the same answer."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
