"""Small file helpers: content hashes and atomic writes.

Anything localvision writes under its data home (converted models, caches) is written to a
temporary file in the same folder and renamed into place, so a crash or a concurrent reader
never sees half a file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path", "sha256_file"]

_CHUNK = 1024 * 1024


def sha256_file(path: Path) -> str:
    """The hex SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it is renamed to ``target``.

    On an exception the temporary file is removed and ``target`` is left as it was.

    Example::

        with atomic_path(cache / "model.onnx") as tmp:
            export(tmp)
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
