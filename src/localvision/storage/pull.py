"""``models pull URI``: a pushed version from storage into the registry.

The URI is a version folder or a model folder (its newest version). The artifact is downloaded
into the data home's cache (resumably, as :mod:`~localvision.storage.download` does), checked
against the manifest's SHA-256, and registered with the manifest's card, labels, metrics,
licence and lineage; the lineage gains ``source`` (the version folder) and ``sha256``. Pulling
what is already registered under that name (same SHA-256) returns that version instead of
adding a copy; concurrent pulls of one name take turns.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ChecksumMismatchError, InvalidParameterError
from ..files import file_lock
from ..registry import ModelVersion, Registry, parse_ref
from .cache import StorageCache
from .download import download_verified
from .layout import resolve_version
from .objects import ObjectStore
from .uri import parse_uri

__all__ = ["pull"]


def pull(
    uri: str,
    registry: Registry,
    *,
    name: str | None = None,
    environ: Mapping[str, str] | None = None,
    sha256: str | None = None,
) -> ModelVersion:
    """Register the model version ``uri`` names, under ``name`` or the manifest's name.

    Example::

        entry = pull("s3://models/team/pets", Registry(settings.home))
        pull("s3://models/team/pets/3", registry, sha256="9f86d0...")  # a pinned version
        entry.lineage["source"]     # 's3://models/team/pets/3'
    """
    location = parse_uri(uri)
    if name is not None and (parse_ref(name)[1] is not None):
        raise InvalidParameterError(
            f"--name {name!r} names a version; give the model name alone.",
            hint="The pulled model becomes that name's next version.",
        )
    store = ObjectStore(location.scheme, os.environ if environ is None else environ)
    folder, manifest = resolve_version(store, location)
    if sha256 is not None and manifest.sha256 != sha256.lower():
        raise ChecksumMismatchError(
            f"{folder} holds {manifest.ref} with sha256 {manifest.sha256}, not the "
            f"{sha256.lower()} asked for: nothing was pulled.",
            hint="Check the version folder, or drop --sha256 to take what its manifest says.",
        )
    target = name or manifest.name
    parse_ref(target)
    cache = StorageCache(registry.root.parent)
    with file_lock(cache.locks / f"pull-{target}.lock"):
        same = _registered(registry, target, manifest.sha256)
        if same is not None:
            return same
        suffix = Path(manifest.file).suffix.lower()
        download = cache.partial / f"{manifest.sha256}.pull{suffix}"
        with file_lock(cache.locks / f"{manifest.sha256}.lock"):
            try:
                download_verified(
                    store, folder, manifest, cache.part_path(manifest.sha256), download
                )
                card: dict[str, Any] = dict(manifest.card)
                if manifest.labels is not None and "labels" not in card:
                    card["labels"] = list(manifest.labels)
                lineage = dict(manifest.lineage)
                if "source" in lineage:
                    lineage["pushed_from"] = lineage.pop("source")
                lineage.update(source=str(folder), sha256=manifest.sha256, pushed_as=manifest.ref)
                return registry.add(
                    target,
                    download,
                    format_name=manifest.format,
                    card=card,
                    metrics=manifest.metrics,
                    lineage=lineage,
                    license=manifest.license,
                )
            finally:
                download.unlink(missing_ok=True)


def _registered(registry: Registry, name: str, sha256: str) -> ModelVersion | None:
    """The newest version of ``name`` whose artifact has ``sha256``, if any."""
    if not registry.has(name):
        return None
    matches = [entry for entry in registry.versions(name) if entry.sha256 == sha256]
    return matches[-1] if matches else None
