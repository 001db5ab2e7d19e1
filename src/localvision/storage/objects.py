"""One store's objects, every call's errors translated: the storage layer's only door to the
vendor libraries; and :func:`read_object`, one object read within a byte limit.

:class:`ObjectStore` opens the vendor's fsspec filesystem for a scheme from an environment
mapping (the process environment unless one is given) and offers the few operations the
storage layer needs, each inside :func:`~localvision.storage.vendor_errors.translated`.
:meth:`ObjectStore.size` and :meth:`ObjectStore.read` also take an object version, for the
vendors that have one (S3's version ids), through a second, version-aware filesystem.
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
        self._versioned_filesystem: Any = None

    def _fs(self, uri: StorageURI, doing: str) -> Any:
        if self._filesystem is None:
            with translated(self.vendor, self.environ, str(uri), doing):
                self._filesystem = self.vendor.open(self.environ)
        return self._filesystem

    def _versioned_fs(self, uri: StorageURI, version: str) -> Any:
        """The filesystem that reads ``version`` of ``uri``; refused (before any request)
        where the vendor has none, or where the key would be read as naming a version."""
        opener = self.vendor.open_versioned
        if opener is None:
            raise InvalidParameterError(
                f"{uri} cannot be read at version {version!r}: localvision reads "
                f"{self.vendor.title} objects at their current version only (versions are read "
                "from s3:// objects).",
                hint="Leave the version out to read the current object.",
            )
        if not version:
            raise InvalidParameterError(f"The version to read of {uri} is empty.")
        if "?versionId=" in uri.key:  # s3fs's version-aware mode takes it for a version
            raise InvalidParameterError(
                f"{uri} cannot be read at a version: its key holds '?versionId='.",
                hint="Leave the version out, or rename the object.",
            )
        if self._versioned_filesystem is None:
            with translated(self.vendor, self.environ, str(uri), "reading", version=version):
                self._versioned_filesystem = opener(self.environ)
        return self._versioned_filesystem

    @staticmethod
    def _path(uri: StorageURI) -> str:
        """The path fsspec takes: ``bucket/key``, or the absolute path for ``file://``."""
        if uri.scheme == "file":
            return uri.key
        return f"{uri.bucket}/{uri.key}" if uri.key else uri.bucket

    def size(self, uri: StorageURI, *, version: str | None = None) -> int:
        """The object's size in bytes (of ``version``, when given);
        :class:`StorageNotFoundError` for a folder, nothing, or no such version."""
        if version is None:
            fs = self._fs(uri, "reading")
            with translated(self.vendor, self.environ, str(uri), "reading"):
                info = fs.info(self._path(uri))
        else:
            fs = self._versioned_fs(uri, version)
            with translated(self.vendor, self.environ, str(uri), "reading", version=version):
                info = fs.info(self._path(uri), version_id=version)
        if info.get("type") != "file" or not isinstance(info.get("size"), int):
            raise StorageNotFoundError(
                f"{uri} is a folder, not an object.", hint="Name an object inside it."
            )
        return int(info["size"])

    def read(self, uri: StorageURI, start: int, end: int, *, version: str | None = None) -> bytes:
        """Bytes ``start`` up to ``end`` (fewer at the object's end), of ``version`` when given."""
        if version is None:
            fs = self._fs(uri, "reading")
            with translated(self.vendor, self.environ, str(uri), "reading"):
                data: bytes = fs.cat_file(self._path(uri), start=start, end=end)
            return data
        fs = self._versioned_fs(uri, version)
        with translated(self.vendor, self.environ, str(uri), "reading", version=version):
            versioned: bytes = fs.cat_file(
                self._path(uri), start=start, end=end, version_id=version
            )
        return versioned

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


def read_object(
    uri: str,
    *,
    max_bytes: int,
    environ: Mapping[str, str] | None = None,
    version: str | None = None,
) -> bytes:
    """One object's bytes (an input image), refused when larger than ``max_bytes``.

    ``version`` reads exactly that version of the object (an S3 version id) rather than the
    current one; a version that does not exist is
    :class:`~localvision.errors.StorageNotFoundError` naming it, and a version for a scheme
    whose objects are read at their current version only (``gs://``, ``az://``, ``file://``)
    is :class:`~localvision.errors.InvalidParameterError`, refused before any request.

    The size is checked before reading, and no more than ``max_bytes + 1`` bytes are ever read
    (an object that grew in between is refused too). Errors:
    :class:`~localvision.errors.StorageNotFoundError`,
    :class:`~localvision.errors.StorageAccessDeniedError`,
    :class:`~localvision.errors.StorageUnavailableError`,
    :class:`~localvision.errors.ImageTooLargeError`. Which buckets may be read is the
    caller's decision (the server's ``[storage] allow``).

    Example: ``read_object("s3://photos/in/cat.jpg", max_bytes=20 * 1024**2)``, or
    ``read_object("s3://photos/in/cat.jpg", max_bytes=20 * 1024**2, version="3HL4kqtJ...")``.
    """
    location = parse_uri(uri)
    if not location.key or (location.scheme == "file" and location.key == "/"):
        raise InvalidParameterError(f"{uri} names a bucket, not an object.")
    store = ObjectStore(location.scheme, environ)
    size = store.size(location, version=version)
    if size > max_bytes:
        raise _too_large(location, f"{size:,} bytes", max_bytes)
    if size == 0:
        return b""
    data = store.read(location, 0, max_bytes + 1, version=version)
    if len(data) > max_bytes:
        raise _too_large(location, f"more than {max_bytes:,} bytes", max_bytes)
    return data


def _too_large(uri: StorageURI, size: str, limit: int) -> ImageTooLargeError:
    return ImageTooLargeError(
        f"{uri} is {size}; the limit is {limit:,} bytes.",
        hint="Resize the image, or raise the server's max_image_bytes.",
    )
