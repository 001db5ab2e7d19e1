"""``manifest.json``: what ``models push`` writes beside a model in storage, last.

The manifest is the version folder's table of contents and its seal: the artifact's file name,
size and SHA-256, the card, labels, lineage, metrics and licence, and the localvision that
wrote it. It is written after everything else, so a folder without one is a push that did not
finish, and nothing reads it. Readers refuse a manifest whose ``format_version`` is newer than
theirs rather than guess at fields they do not know.

Example ``s3://models/team/pets/3/manifest.json``::

    {"format_version": 1, "name": "pets", "version": 3, "file": "pets.onnx",
     "sha256": "9f2c...", "size": 8912, "format": "onnx", "card": {"labels": ["cat", "dog"]},
     "labels": ["cat", "dog"], "lineage": {...}, "metrics": {...}, "license": "Apache-2.0",
     "created": 1767225600.0, "localvision": "0.1.0"}
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from typing import Any

from ..errors import StorageError

__all__ = ["MANIFEST_FORMAT", "MANIFEST_NAME", "Manifest"]

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1
"""The manifest format this localvision writes and the newest it reads."""

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")


@dataclass(frozen=True)
class Manifest:
    """One pushed model version, as recorded under ``URI/NAME/VERSION/``."""

    name: str
    version: int
    file: str
    sha256: str
    size: int
    format: str
    card: dict[str, Any]
    labels: list[str] | None
    lineage: dict[str, Any]
    metrics: dict[str, Any]
    license: str | None
    created: float
    localvision: str
    format_version: int = MANIFEST_FORMAT

    @property
    def ref(self) -> str:
        """``name@version`` as it was registered where it was pushed from."""
        return f"{self.name}@{self.version}"

    def to_json(self) -> str:
        """The manifest as indented JSON, keys in a stable order."""
        data = asdict(self)
        ordered = {"format_version": data.pop("format_version"), **data}
        return json.dumps(ordered, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str, *, source: str) -> Manifest:
        """Read a manifest; :class:`~localvision.errors.StorageError` naming ``source`` when
        it is malformed or written by a newer localvision."""
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise _malformed(source, f"it is not JSON ({exc})") from exc
        if not isinstance(data, dict):
            raise _malformed(source, "it is not a JSON object")
        written = data.get("format_version")
        if not isinstance(written, int) or isinstance(written, bool) or written < 1:
            raise _malformed(source, "'format_version' is missing or not a positive integer")
        if written > MANIFEST_FORMAT:
            raise StorageError(
                f"{source} is manifest format {written}, written by a newer localvision "
                f"({data.get('localvision', 'unknown version')}); this one reads formats up to "
                f"{MANIFEST_FORMAT}.",
                hint="Upgrade localvision (pip install -U localvision) to read it.",
            )
        card = _field(data, "card", dict, source)
        if "labels_file" in card:  # a path on the machine that reads it: never from a bucket
            raise _malformed(
                source,
                "its card names a labels_file, a path on the machine that would load it; a "
                "pushed card carries its labels itself",
            )
        return cls(
            name=_field(data, "name", str, source),
            version=_field(data, "version", int, source),
            file=_file_name(_field(data, "file", str, source), source),
            sha256=_sha256(_field(data, "sha256", str, source), source),
            size=_field(data, "size", int, source),
            format=_field(data, "format", str, source),
            card=card,
            labels=_labels(data.get("labels"), source),
            lineage=_field(data, "lineage", dict, source),
            metrics=_field(data, "metrics", dict, source),
            license=_optional_str(data.get("license"), "license", source),
            created=float(_field(data, "created", (int, float), source)),
            localvision=_field(data, "localvision", str, source),
            format_version=written,
        )


def _malformed(source: str, why: str) -> StorageError:
    return StorageError(
        f"{source} is not a valid localvision manifest: {why}.",
        hint="Push the model again with: localvision models push NAME URI",
    )


def _field(data: dict[str, Any], key: str, kind: Any, source: str) -> Any:
    value = data.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise _malformed(source, f"{key!r} is missing or of the wrong type")
    if isinstance(value, int) and key in ("version", "size") and value < 0:
        raise _malformed(source, f"{key!r} is negative")
    return value


def _file_name(value: str, source: str) -> str:
    """The artifact's name: a plain file name, never a path out of the version folder."""
    if not _FILE.match(value) or value == MANIFEST_NAME:
        raise _malformed(source, f"'file' {value!r} is not a plain file name")
    return value


def _sha256(value: str, source: str) -> str:
    if not _SHA256.match(value):
        raise _malformed(source, "'sha256' is not 64 lowercase hex digits")
    return value


def _labels(value: Any, source: str) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _malformed(source, "'labels' is not a list of strings")
    return list(value)


def _optional_str(value: Any, key: str, source: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise _malformed(source, f"{key!r} is not a string")
    return value
