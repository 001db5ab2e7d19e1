"""Expanding what a user types (files, folders, globs) into a list of image paths."""

from __future__ import annotations

import glob
from collections.abc import Iterable
from pathlib import Path

__all__ = ["IMAGE_SUFFIXES", "expand_image_paths"]

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".mpo"}
)
_GLOB_CHARS = frozenset("*?[")


def expand_image_paths(arguments: Iterable[str]) -> list[str]:
    """Files as given, folders as the images inside them (recursively, sorted), globs expanded.

    A folder contributes only files with an image suffix and skips hidden entries; a file named
    explicitly is always kept, so a wrong file still gets its own error. A path or glob that
    matches nothing is kept as given, so it is reported as missing rather than dropped.
    """
    paths: list[str] = []
    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            paths.extend(str(p) for p in _images_in(path))
        elif not path.exists() and _GLOB_CHARS & set(argument):
            matches = sorted(glob.glob(argument, recursive=True))
            paths.extend(matches or [argument])
        else:
            paths.append(argument)
    return paths


def _images_in(folder: Path) -> list[Path]:
    found = [
        p
        for p in folder.rglob("*")
        if p.is_file()
        and p.suffix.lower() in IMAGE_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    ]
    return sorted(found)
