"""Input images named by a storage URI: Rekognition ``Image.S3Object``, Google ``gs://`` imageUri.

The server reads them with its own credentials, so a caller must not be able to name just any
object those credentials reach: only buckets (or folders of them) listed in ``[storage] allow``
are read, nothing when the list is empty. Objects are read through the storage layer
(:func:`localvision.storage.read_object`) with the same byte limit as uploads, on a worker
thread (the vendors' clients block), within ``server.url_timeout_s``. A Rekognition
``S3Object.Version`` reads exactly that version of the object.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import anyio
import anyio.to_thread

from ..config import INPUT_SCHEMES
from ..errors import InvalidParameterError, StorageAccessDeniedError, StorageUnavailableError
from ..storage import StorageURI, parse_uri, read_object

__all__ = ["StorageImages", "names_storage_object"]

_ALIASES = {"abfs": "az"}  # adlfs reads both schemes from the same Azure Blob containers


def names_storage_object(uri: str) -> bool:
    """Whether a request's image URI is one this module reads (s3://, gs://, az://, abfs://)."""
    scheme, sep, _ = uri.partition("://")
    return bool(sep) and scheme.lower() in INPUT_SCHEMES


@dataclass(frozen=True)
class _Place:
    """A bucket and a folder inside it (``""``: the whole bucket)."""

    scheme: str
    bucket: str
    prefix: str

    @classmethod
    def of(cls, uri: StorageURI) -> _Place:
        return cls(_ALIASES.get(uri.scheme, uri.scheme), uri.bucket, uri.key)

    def holds(self, other: _Place) -> bool:
        if (self.scheme, self.bucket) != (other.scheme, other.bucket):
            return False
        return not self.prefix or other.prefix.startswith(self.prefix + "/")


class StorageImages:
    """Reads input images from the allow-listed buckets, within a byte and a time limit.

    ``environ`` is the environment the vendors' credential chains read (None: the process's).
    """

    def __init__(
        self,
        allow: Sequence[str],
        *,
        max_bytes: int,
        timeout_s: float,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.allow = tuple(allow)
        self._places: tuple[_Place, ...] | None = None  # parsed on first use
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s
        self.environ = environ

    def check(self, uri: str) -> StorageURI:
        """``uri`` parsed, when ``[storage] allow`` lists its bucket (or a folder holding it).

        Raises :class:`StorageAccessDeniedError` for a bucket outside the list, and
        :class:`InvalidParameterError` for what names no object (a bare bucket, another
        scheme, ``.``/``..`` segments a store could resolve outside an allowed folder). What is
        checked is what is read: the parsed form, ``//`` folded.
        """
        parsed = parse_uri(uri)
        if parsed.scheme not in INPUT_SCHEMES or not parsed.key:
            raise InvalidParameterError(f"{_short(uri)} does not name an object in a bucket.")
        place = _Place.of(parsed)
        if not any(entry.holds(place) for entry in self._allowed()):
            raise StorageAccessDeniedError(
                f"This server does not read images from {_short(str(parsed))}: its bucket is "
                "not in the server's [storage] allow list.",
                hint="Send the image bytes instead, or ask the server's operator to allow the "
                "bucket (localvision.toml: [storage] allow = [...]).",
            )
        return parsed

    def _allowed(self) -> tuple[_Place, ...]:
        if self._places is None:
            self._places = tuple(_Place.of(parse_uri(entry)) for entry in self.allow)
        return self._places

    async def read(self, uri: str, *, version: str | None = None) -> bytes:
        """The object's bytes (of ``version``, when given: an S3 version id); the storage
        layer's errors (not found, denied, unavailable, too large) as they are, and
        :class:`StorageUnavailableError` after the time limit."""
        parsed = self.check(uri)

        def read() -> bytes:
            return read_object(
                str(parsed), max_bytes=self.max_bytes, environ=self.environ, version=version
            )

        try:
            with anyio.fail_after(self.timeout_s):
                # The read cannot be interrupted; on time-out the request stops waiting for it.
                return await anyio.to_thread.run_sync(read, abandon_on_cancel=True)
        except TimeoutError:
            raise StorageUnavailableError(
                f"Reading {_short(uri)} took longer than {self.timeout_s:g} s.",
                hint="Send the image bytes instead.",
            ) from None


def _short(uri: str) -> str:
    return uri if len(uri) <= 120 else uri[:117] + "..."
