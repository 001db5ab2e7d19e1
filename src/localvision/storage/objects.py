"""One store's objects, every call's errors translated: the storage layer's only door to the
vendor libraries; and :func:`read_object`, one object read within a byte limit.

:class:`ObjectStore` opens the vendor's fsspec filesystem for a scheme from an environment
mapping (the process environment unless one is given) and offers the few operations the
storage layer needs, each inside :func:`~localvision.storage.vendor_errors.translated`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ImageTooLargeError, InvalidParameterError, StorageNotFoundError
from .uri import StorageURI, parse_uri
from .vendor_errors import translated
from .vendors import vendor_for

__all__ = ["ObjectStore", "read_object"]


class ObjectStore:
    """The objects of one scheme's store, as the environment's credentials see them.

    Example::

        store = ObjectStore("s3", os.environ)
        store.size(parse_uri("s3://models/pets/3/pets.onnx"))
    """

    def __init__(self, scheme: str, environ: Mapping[str, str] | None = None) -> None:
        self.scheme = scheme
        self.vendor = vendor_for(scheme)
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
        self._filesystem: Any = None

    def _fs(self, uri: StorageURI, doing: str) -> Any:
        if self._filesystem is None:
            with translated(self.vendor, self.environ, str(uri), doing):
                self._filesystem = self.vendor.open(self.environ)
        return self._filesystem

    @staticmethod
    def _path(uri: StorageURI) -> str:
        """The path fsspec takes: ``bucket/key``, or the absolute path for ``file://``."""
        if uri.scheme == "file":
            return uri.key
        return f"{uri.bucket}/{uri.key}" if uri.key else uri.bucket

    def size(self, uri: StorageURI) -> int:
        """The object's size in bytes; :class:`StorageNotFoundError` for a folder or nothing."""
        fs = self._fs(uri, "reading")
        with translated(self.vendor, self.environ, str(uri), "reading"):
            info = fs.info(self._path(uri))
        if info.get("type") != "file" or not isinstance(info.get("size"), int):
            raise StorageNotFoundError(
                f"{uri} is a folder, not an object.", hint="Name an object inside it."
            )
        return int(info["size"])

    def read(self, uri: StorageURI, start: int, end: int) -> bytes:
        """Bytes ``start`` up to ``end`` (fewer at the object's end)."""
        fs = self._fs(uri, "reading")
        with translated(self.vendor, self.environ, str(uri), "reading"):
            data: bytes = fs.cat_file(self._path(uri), start=start, end=end)
        return data

    def children(self, uri: StorageURI) -> list[str]:
        """The names directly inside a folder; :class:`StorageNotFoundError` if it has none."""
        fs = self._fs(uri, "listing")
        with translated(self.vendor, self.environ, str(uri), "listing"):
            found = fs.ls(self._path(uri), detail=False)
        names = [str(path).rstrip("/").rpartition("/")[2] for path in found]
        return [name for name in names if name]

    def write(self, uri: StorageURI, data: bytes) -> None:
        """Create or replace an object with ``data``."""
        fs = self._fs(uri, "writing")
        with translated(self.vendor, self.environ, str(uri), "writing"):
            fs.pipe_file(self._path(uri), data)

    def upload(self, source: Path, uri: StorageURI) -> None:
        """Copy a local file to an object (multipart where the store wants it)."""
        fs = self._fs(uri, "writing")
        with translated(self.vendor, self.environ, str(uri), "writing"):
            fs.put_file(str(source), self._path(uri))


def read_object(uri: str, *, max_bytes: int, environ: Mapping[str, str] | None = None) -> bytes:
    """One object's bytes (an input image), refused when larger than ``max_bytes``.

    The size is checked before reading, and no more than ``max_bytes + 1`` bytes are ever read
    (an object that grew in between is refused too). Errors:
    :class:`~localvision.errors.StorageNotFoundError`,
    :class:`~localvision.errors.StorageAccessDeniedError`,
    :class:`~localvision.errors.StorageUnavailableError`,
    :class:`~localvision.errors.ImageTooLargeError`. Which buckets may be read is the
    caller's decision (the server's ``[storage] allow``).

    Example: ``read_object("s3://photos/in/cat.jpg", max_bytes=20 * 1024**2)``.
    """
    location = parse_uri(uri)
    if not location.key or (location.scheme == "file" and location.key == "/"):
        raise InvalidParameterError(f"{uri} names a bucket, not an object.")
    store = ObjectStore(location.scheme, environ)
    size = store.size(location)
    if size > max_bytes:
        raise _too_large(location, f"{size:,} bytes", max_bytes)
    if size == 0:
        return b""
    data = store.read(location, 0, max_bytes + 1)
    if len(data) > max_bytes:
        raise _too_large(location, f"more than {max_bytes:,} bytes", max_bytes)
    return data


def _too_large(uri: StorageURI, size: str, limit: int) -> ImageTooLargeError:
    return ImageTooLargeError(
        f"{uri} is {size}; the limit is {limit:,} bytes.",
        hint="Resize the image, or raise the server's max_image_bytes.",
    )
