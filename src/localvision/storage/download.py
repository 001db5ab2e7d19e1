"""A pushed artifact to a local file: resumed when interrupted, verified before it is used.

Bytes arrive in a ``.part`` file, one ranged read of :data:`CHUNK_BYTES` at a time, never more
than the manifest's size. A ``.part`` left by an interrupted download is resumed from its
length; if the result does not have the manifest's SHA-256 (the ``.part`` held something
else), it is downloaded once more from the start. Only a file with the right SHA-256 is renamed
into place; otherwise the ``.part`` is deleted and
:class:`~localvision.errors.ChecksumMismatchError` raised, so a corrupted or tampered object is
never used. The caller holds a lock on ``part`` (:func:`~localvision.files.file_lock`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ..errors import ChecksumMismatchError
from ..files import sha256_file
from .manifest import Manifest
from .objects import ObjectStore
from .uri import StorageURI

__all__ = ["CHUNK_BYTES", "download_verified"]

CHUNK_BYTES = 8 * 1024**2

log = logging.getLogger("localvision.storage")


def download_verified(
    store: ObjectStore, version_folder: StorageURI, manifest: Manifest, part: Path, final: Path
) -> None:
    """Download ``manifest.file`` from ``version_folder`` to ``final`` through ``part``."""
    remote = version_folder.child(manifest.file)
    size = store.size(remote)
    if size != manifest.size:
        part.unlink(missing_ok=True)
        raise _mismatch(
            remote, manifest, f"is {size:,} bytes, but its manifest records {manifest.size:,}"
        )
    part.parent.mkdir(parents=True, exist_ok=True)
    have = part.stat().st_size if part.exists() else 0
    if have > size:
        have = 0
    if have:
        log.info("Resuming the download of %s at byte %s of %s.", remote, f"{have:,}", f"{size:,}")
    _fetch(store, remote, part, have, size)
    digest = sha256_file(part)
    if digest != manifest.sha256 and have > 0:
        log.warning(
            "The interrupted download of %s did not verify after resuming; downloading it again "
            "from the start.",
            remote,
        )
        _fetch(store, remote, part, 0, size)
        digest = sha256_file(part)
    if digest != manifest.sha256:
        part.unlink(missing_ok=True)
        raise _mismatch(
            remote, manifest, f"has SHA-256 {digest}, but its manifest records {manifest.sha256}"
        )
    os.replace(part, final)


def _fetch(store: ObjectStore, remote: StorageURI, part: Path, start: int, size: int) -> None:
    """Bytes ``start`` to ``size`` of ``remote`` written at ``start`` of ``part`` (truncated
    there first), synced to disk."""
    with part.open("r+b" if part.exists() else "wb") as fh:
        fh.truncate(start)
        fh.seek(start)
        offset = start
        while offset < size:
            end = min(offset + CHUNK_BYTES, size)
            data = store.read(remote, offset, end)[: end - offset]
            fh.write(data)
            if len(data) < end - offset:  # the object shrank while being read: stop here
                break
            offset = end
        fh.flush()
        os.fsync(fh.fileno())


def _mismatch(remote: StorageURI, manifest: Manifest, what: str) -> ChecksumMismatchError:
    return ChecksumMismatchError(
        f"{remote} {what}: the object was corrupted or changed after {manifest.ref} was "
        "pushed. Refusing to use it.",
        hint="Delete that version folder and push the model again (localvision models push "
        "NAME@VERSION URI), and find out what wrote to it.",
    )
