"""What ``batch`` annotates: folders, globs, list files and object-storage prefixes -> items.

An item is a string: an absolute file path, or a storage URI (``s3://bucket/key``). Both batch
paths get the same list from here, and each item is the ``path`` of its row, so an output folder
resumes whichever path wrote it and from whichever folder the command runs.

* a folder: the images inside it, recursively, sorted (hidden entries skipped);
* a glob (``photos/**/*.jpg``): the files it matches, sorted;
* a list file (``.txt``, ``.lst``, ``.list``): one item per line, relative paths relative to the
  list file, blank lines and ``#`` comments ignored;
* a storage prefix (``s3://bucket/photos/``): the images under it (:mod:`.storage_prefix`);
* anything else: itself, so a missing file gets its own error row rather than vanishing.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from ..imaging.inputs import IMAGE_SUFFIXES, expand_image_paths
from ..storage import is_storage_uri

__all__ = ["LIST_SUFFIXES", "list_inputs"]

LIST_SUFFIXES = frozenset({".txt", ".lst", ".list"})


def list_inputs(arguments: Iterable[str], *, environ: Mapping[str, str] | None = None) -> list[str]:
    """Every item the arguments name, in order, each once; storage prefixes are listed with
    the credentials in ``environ`` (the process environment by default).

    Example: ``list_inputs(["photos/", "more.txt", "s3://bucket/incoming/"])``.
    """
    items: list[str] = []
    for argument in arguments:
        if is_storage_uri(argument):
            items.extend(_storage(argument, environ))
        elif _is_list_file(argument):
            items.extend(_listed(Path(argument)))
        else:
            items.extend(os.path.abspath(p) for p in expand_image_paths([argument]))
    return list(dict.fromkeys(items))


def _is_list_file(argument: str) -> bool:
    path = Path(argument)
    return path.suffix.lower() in LIST_SUFFIXES and path.is_file()


def _listed(list_file: Path) -> list[str]:
    base = list_file.parent
    items = []
    for raw in list_file.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        items.append(line if is_storage_uri(line) else os.path.abspath(base / line))
    return items


def _storage(uri: str, environ: Mapping[str, str] | None) -> list[str]:
    """An object URI as itself; a prefix (ending in ``/``, or not an image name) as the images
    under it."""
    if not uri.endswith("/") and Path(uri).suffix.lower() in IMAGE_SUFFIXES:
        return [uri]
    from .storage_prefix import list_prefix

    return list_prefix(uri, environ=environ)
