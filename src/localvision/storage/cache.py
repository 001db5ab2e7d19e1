"""Models served straight from storage: the data home's content-addressed cache.

Layout under ``<home>/cache/storage/``::

    objects/<sha256><suffix>   verified artifacts, one per content, whatever URI named them
    partial/<sha256>.part      downloads under way or interrupted (resumed next time)
    locks/                     one lock per download, one for the index
    index.json                 URI -> the version folder it resolved to, and its manifest

A version folder never changes (push refuses to overwrite one), so a URI that named a version
folder and is in the index starts from the cache without touching the network (``file://``
folders excepted: their manifest is read each time, see :attr:`CacheHit.pinned`). A model folder
(``URI/NAME``: its newest version) is resolved again each time; when the store cannot be
reached the version last resolved is used, with a warning saying so. ``offline`` never touches
the network. Two processes fetching the same model take turns on its lock: the second finds
the first's verified file. Cached files are trusted the way the registry's artifacts are:
verified when written, content-addressed, checked for size when used.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import ChecksumMismatchError, LocalVisionError, StorageUnavailableError
from ..files import atomic_path, file_lock
from .download import download_verified
from .layout import resolve_version
from .manifest import Manifest
from .objects import ObjectStore
from .uri import StorageURI, parse_uri

__all__ = ["CacheHit", "CachedModel", "StorageCache", "fetch_model"]

log = logging.getLogger("localvision.storage")


@dataclass(frozen=True)
class CachedModel:
    """A model from storage on local disk: the verified artifact and its manifest."""

    path: Path
    manifest: Manifest
    from_cache: bool
    """True when the store was not read: the cache alone answered (a pinned version, or the
    store unreachable or ``offline`` with a cached copy)."""


@dataclass(frozen=True)
class CacheHit:
    """What the index holds for a URI, with its cached file present."""

    uri: str
    version_folder: str
    manifest: Manifest
    path: Path

    @property
    def pinned(self) -> bool:
        """Whether the URI named the version folder itself, whose content never changes.

        Not for ``file://``: a folder on this machine may be a volume filled afresh at each
        rollout (KServe's storage initializer copies each new version to the same
        ``/mnt/models``), and reading its manifest again costs nothing.
        """
        return self.uri == self.version_folder and not self.uri.startswith("file://")


class StorageCache:
    """The cache under ``<home>/cache/storage`` (see the module's docstring)."""

    def __init__(self, home: Path) -> None:
        self.root = home / "cache" / "storage"
        self.objects = self.root / "objects"
        self.partial = self.root / "partial"
        self.locks = self.root / "locks"
        self.index = self.root / "index.json"

    def object_path(self, manifest: Manifest) -> Path:
        return self.objects / f"{manifest.sha256}{Path(manifest.file).suffix.lower()}"

    def part_path(self, sha256: str) -> Path:
        return self.partial / f"{sha256}.part"

    def lookup(self, uri: str) -> CacheHit | None:
        """The version folder, manifest and cached file for ``uri``, if all are there."""
        entry = self._read_index().get(uri)
        if not isinstance(entry, dict):
            return None
        try:
            manifest = Manifest.from_json(json.dumps(entry["manifest"]), source=str(self.index))
            folder = str(entry["version_folder"])
        except (LocalVisionError, KeyError, TypeError):
            return None
        path = self.object_path(manifest)
        if not path.is_file() or path.stat().st_size != manifest.size:
            return None
        return CacheHit(uri, folder, manifest, path)

    def remember(self, uri: str, version_folder: str, manifest: Manifest) -> None:
        """Record what ``uri`` resolved to (read-modify-write under the index's lock)."""
        with file_lock(self.locks / "index.lock"):
            entries = self._read_index()
            entries[uri] = {"version_folder": version_folder, "manifest": asdict(manifest)}
            with atomic_path(self.index) as tmp:
                tmp.write_text(json.dumps(entries, indent=2), encoding="utf-8")

    def ensure(self, store: ObjectStore, version_folder: StorageURI, manifest: Manifest) -> Path:
        """The verified artifact in ``objects/``, downloaded unless it is there already."""
        final = self.object_path(manifest)
        if _complete(final, manifest):
            return final
        sha = manifest.sha256

        def waiting() -> None:
            log.info("Another process is downloading %s; waiting for it.", version_folder)

        with file_lock(self.locks / f"{sha}.lock", on_wait=waiting):
            if _complete(final, manifest):
                return final
            log.info(
                "Downloading %s (%s, %s bytes).", version_folder, manifest.ref, f"{manifest.size:,}"
            )
            final.parent.mkdir(parents=True, exist_ok=True)
            download_verified(store, version_folder, manifest, self.part_path(sha), final)
        return final

    def _read_index(self) -> dict[str, Any]:
        try:
            data = json.loads(self.index.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}


def _matches(manifest: Manifest, sha256: str) -> bool:
    return manifest.sha256 == sha256.lower()


def _complete(path: Path, manifest: Manifest) -> bool:
    return path.is_file() and path.stat().st_size == manifest.size


def fetch_model(
    uri: str,
    home: Path,
    *,
    offline: bool = False,
    environ: Mapping[str, str] | None = None,
    sha256: str | None = None,
) -> CachedModel:
    """The model a storage URI names, as a verified file in ``home``'s cache.

    ``uri`` is a version folder (``s3://models/team/pets/3``) or a model folder (its newest
    version). Raises :class:`~localvision.errors.ChecksumMismatchError` for an object that is
    not what its manifest says (nothing is cached then),
    :class:`~localvision.errors.StorageUnavailableError` when the store cannot be reached (or
    ``offline``) and nothing is cached, and the other storage errors as they come.

    ``sha256`` pins the content: a manifest naming other bytes is refused before anything is
    downloaded (whoever may write the bucket could rewrite the manifest with the model; the
    pin, kept in the serving config, is out of their reach).

    Example::

        model = fetch_model("s3://models/team/pets/3", settings.home)
        load_model(model.path, card=model.manifest.card)
    """
    location = parse_uri(uri)
    key = str(location)
    cache = StorageCache(home)
    hit = cache.lookup(key)
    if hit is not None and sha256 is not None and not _matches(hit.manifest, sha256):
        hit = None  # a cached version that is not the pinned one is no fallback
    if hit is not None and hit.pinned:
        log.info(
            "%s: using the cached copy (%s, sha256 %s); storage not contacted.",
            key,
            hit.manifest.ref,
            hit.manifest.sha256[:12],
        )
        return CachedModel(hit.path, hit.manifest, from_cache=True)
    if offline:
        if hit is not None:
            log.warning(
                "%s: offline, using the cached %s from %s; a newer version may exist.",
                key,
                hit.manifest.ref,
                hit.version_folder,
            )
            return CachedModel(hit.path, hit.manifest, from_cache=True)
        raise StorageUnavailableError(
            f"{key} is not in the cache under {cache.root}, and --offline forbids downloading it.",
            hint="Start once without --offline (or [storage] offline = false) so the model is "
            "downloaded and cached under the data home.",
        )
    store = ObjectStore(location.scheme, environ)
    try:
        folder, manifest = resolve_version(store, location)
        if sha256 is not None and not _matches(manifest, sha256):
            raise ChecksumMismatchError(
                f"{folder} holds {manifest.ref} with sha256 {manifest.sha256}, not the pinned "
                f"{sha256.lower()}: refusing to serve it.",
                hint="If the new version is the one wanted, change the pinned sha256 "
                "([models.NAME] sha256, or pull --sha256) to the one above.",
            )
    except StorageUnavailableError as exc:
        if hit is None:
            raise
        log.warning(
            "%s cannot be reached (%s); using the cached %s (sha256 %s), which may not "
            "be its newest version.",
            key,
            exc.message,
            hit.manifest.ref,
            hit.manifest.sha256[:12],
        )
        return CachedModel(hit.path, hit.manifest, from_cache=True)
    path = cache.ensure(store, folder, manifest)
    cache.remember(key, str(folder), manifest)
    if folder != location:
        cache.remember(str(folder), str(folder), manifest)
    return CachedModel(path, manifest, from_cache=False)
