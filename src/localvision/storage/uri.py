"""Storage URIs: ``s3://bucket/key``, ``gs://``, ``az://``/``abfs://`` and ``file://``.

One parsed form for every scheme, so the rest of the storage layer (and the server's
allow-list) compares buckets and keys rather than strings: ``s3://bucket/a/b/`` and
``s3://bucket//a/b`` are the same folder, and a key never holds ``.`` or ``..`` segments that a
store (or the local disk) could resolve somewhere else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import InvalidParameterError

__all__ = ["SCHEMES", "StorageURI", "is_storage_uri", "parse_uri"]

SCHEMES = ("s3", "gs", "az", "abfs", "file")
"""The schemes localvision reads and writes through fsspec."""

_BUCKET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")
_EXAMPLES = "s3://bucket/models, gs://bucket/models, az://container/models or file:///srv/models"


def is_storage_uri(text: str) -> bool:
    """Whether ``text`` starts with one of :data:`SCHEMES` (``s3://`` ...), in any case."""
    scheme, sep, _ = text.partition("://")
    return bool(sep) and scheme.lower() in SCHEMES


@dataclass(frozen=True)
class StorageURI:
    """A bucket (container) and a key (folder or object) in one store.

    ``file://`` URIs have no bucket; their key is the absolute path. Keys carry no leading or
    trailing slash (except a ``file://`` key's leading one).

    Example::

        root = parse_uri("s3://models/team/")
        str(root.child("pets", "3"))        # 's3://models/team/pets/3'
    """

    scheme: str
    bucket: str
    key: str

    def __str__(self) -> str:
        if self.scheme == "file":
            return f"file://{self.key}"
        if not self.key:
            return f"{self.scheme}://{self.bucket}"
        return f"{self.scheme}://{self.bucket}/{self.key}"

    def child(self, *parts: str) -> StorageURI:
        """The URI of ``parts`` (each may hold ``/``) below this one."""
        extra = _segments("/".join(parts), str(self))
        if not extra:
            return self
        if self.scheme == "file":
            return StorageURI("file", "", self.key.rstrip("/") + "/" + "/".join(extra))
        return StorageURI(self.scheme, self.bucket, "/".join([*_segments(self.key, ""), *extra]))

    @property
    def name(self) -> str:
        """The last segment of the key (``"3"`` for ``s3://b/models/pets/3``), or ``""``."""
        return self.key.rstrip("/").rpartition("/")[2]


def parse_uri(text: str) -> StorageURI:
    """Parse a storage URI; :class:`~localvision.errors.InvalidParameterError` with a hint on
    anything else (a plain path, an unknown scheme, no bucket, ``..`` segments).

    Example: ``parse_uri("s3://bucket/a/b/")`` is ``StorageURI("s3", "bucket", "a/b")``.
    """
    scheme, sep, rest = text.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in SCHEMES:
        raise InvalidParameterError(
            f"{text!r} is not a storage URI.",
            hint=f"Use one of the schemes {', '.join(s + '://' for s in SCHEMES)}, e.g. "
            f"{_EXAMPLES}.",
        )
    if scheme == "file":
        return _parse_file(text, rest)
    bucket, _, key = rest.partition("/")
    if "@" in bucket and scheme in ("az", "abfs"):
        raise InvalidParameterError(
            f"{text!r} names the account in the URI.",
            hint="Write az://CONTAINER/path and name the account with "
            "AZURE_STORAGE_CONNECTION_STRING or AZURE_STORAGE_ACCOUNT_NAME.",
        )
    if not _BUCKET.match(bucket):
        raise InvalidParameterError(
            f"{text!r} has no valid bucket name after {scheme}://.",
            hint=f"Write {scheme}://BUCKET/path, e.g. {scheme}://models/pets.",
        )
    return StorageURI(scheme, bucket, "/".join(_segments(key, text)))


def _parse_file(text: str, rest: str) -> StorageURI:
    host, slash, path = rest.partition("/")
    if host not in ("", "localhost") or not slash:
        raise InvalidParameterError(
            f"{text!r} is not an absolute file:// URI.",
            hint="Write three slashes and the absolute path: file:///srv/models.",
        )
    segments = _segments(path, text)
    return StorageURI("file", "", "/" + "/".join(segments))


def _segments(key: str, uri: str) -> list[str]:
    """The non-empty ``/``-separated parts of ``key``, refusing ``.`` and ``..``."""
    parts = [part for part in key.split("/") if part]
    if any(part in (".", "..") for part in parts):
        raise InvalidParameterError(
            f"{uri or key!r} may not contain '.' or '..' segments.",
            hint="Name the folder by its full path from the bucket.",
        )
    return parts
