"""The images under an object-storage prefix (``s3://bucket/photos/``), as batch items.

Built on the storage layer's parts (URIs, the vendor's filesystem opened from the environment's
credentials, its error translation), with the one call it does not offer yet: a recursive
listing. Only objects whose names end in an image suffix are kept, hidden ones (a segment
starting with ``.``) skipped, sorted, as a folder on disk is listed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import PurePosixPath

from ..imaging.inputs import IMAGE_SUFFIXES
from ..storage.uri import parse_uri
from ..storage.vendor_errors import translated
from ..storage.vendors import vendor_for

__all__ = ["list_prefix"]


def list_prefix(uri: str, *, environ: Mapping[str, str] | None = None) -> list[str]:
    """The URIs of the images under ``uri``, sorted; credentials and endpoints from
    ``environ`` (the process environment by default), as ``read_object`` takes them.

    Errors are the storage layer's: :class:`~localvision.errors.StorageNotFoundError`,
    :class:`~localvision.errors.StorageAccessDeniedError`,
    :class:`~localvision.errors.StorageUnavailableError`, each naming the URI and what to check.

    Example: ``list_prefix("s3://photos/2026/")``.
    """
    location = parse_uri(uri)
    vendor = vendor_for(location.scheme)
    env = os.environ if environ is None else environ
    root = location.key if location.scheme == "file" else f"{location.bucket}/{location.key}"
    root = root.rstrip("/")
    with translated(vendor, env, uri, "listing"):
        filesystem = vendor.open(env)
        found = filesystem.find(root, detail=True)
    items = []
    for path, info in found.items():
        relative = str(path)[len(root) :].strip("/")
        name = PurePosixPath(relative)
        if info.get("type") != "file" or not relative:
            continue
        if name.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        if any(part.startswith(".") for part in name.parts):
            continue
        items.append(str(location.child(relative)))
    return sorted(items)
