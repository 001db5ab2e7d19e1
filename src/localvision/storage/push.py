"""``models push``: a registered version into storage, under ``URI/NAME/VERSION/``.

The artifact goes first, then its card (``NAME.card.toml``), then ``manifest.json``: a push cut
off half-way leaves a folder without a manifest, which pull and serving treat as absent, and
which the next push of that version completes. Pushing a version that is already there with
the same SHA-256 does nothing; with a different SHA-256 (another registry's version 3, say) it
is refused, because what a version folder holds must never change under its readers.
"""

from __future__ import annotations

import importlib.metadata
import os
from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import StorageError, StorageNotFoundError
from ..registry import Registry
from .card_file import card_toml
from .layout import read_manifest
from .manifest import MANIFEST_NAME, Manifest
from .objects import ObjectStore
from .uri import parse_uri

__all__ = ["PushResult", "push"]


@dataclass(frozen=True)
class PushResult:
    """Where a version went, its manifest, and the artifact bytes written (0: already there)."""

    uri: str
    manifest: Manifest
    bytes: int


def push(
    registry: Registry, ref: str, uri: str, *, environ: Mapping[str, str] | None = None
) -> PushResult:
    """Write registered model ``ref`` (``NAME``, ``NAME@3``, ``NAME@production``) under
    ``uri``: ``uri/NAME/VERSION/`` gets the artifact, its card and ``manifest.json``.

    Example::

        result = push(Registry(settings.home), "pets@production", "s3://models/team")
        result.uri        # 's3://models/team/pets/3'
    """
    entry = registry.get(ref)
    root = parse_uri(uri)
    folder = root.child(entry.name, str(entry.version))
    store = ObjectStore(root.scheme, os.environ if environ is None else environ)
    labels = entry.card.get("labels")
    manifest = Manifest(
        name=entry.name,
        version=entry.version,
        file=f"{entry.name}{entry.path.suffix}",
        sha256=entry.sha256,
        size=entry.path.stat().st_size,
        format=entry.format,
        card=dict(entry.card),
        labels=[str(label) for label in labels] if isinstance(labels, list) else None,
        lineage=dict(entry.lineage),
        metrics=dict(entry.metrics),
        license=entry.license,
        created=entry.created,
        localvision=_version(),
    )
    try:
        existing: Manifest | None = read_manifest(store, folder)
    except StorageNotFoundError:
        existing = None
    if existing is not None:
        if existing.sha256 == manifest.sha256:
            return PushResult(uri=str(folder), manifest=existing, bytes=0)
        raise StorageError(
            f"{folder} already holds {existing.ref} with SHA-256 {existing.sha256[:12]}..., "
            f"not {entry.ref}'s {entry.sha256[:12]}...; a pushed version is never overwritten.",
            hint="Push to another URI, or register the model as a new version and push that.",
        )
    store.upload(entry.path, folder.child(manifest.file))
    written = store.size(folder.child(manifest.file))
    if written != manifest.size:
        raise StorageError(
            f"{folder.child(manifest.file)} is {written:,} bytes after the upload, not "
            f"{manifest.size:,}; the manifest was not written.",
            hint="Run the same push again.",
        )
    store.write(folder.child(f"{entry.name}.card.toml"), card_toml(entry.card).encode("utf-8"))
    store.write(folder.child(MANIFEST_NAME), manifest.to_json().encode("utf-8"))
    return PushResult(uri=str(folder), manifest=manifest, bytes=manifest.size)


def _version() -> str:
    try:
        return importlib.metadata.version("localvision")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
