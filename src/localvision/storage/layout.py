"""Where ``models push`` puts a model, and how a URI is resolved to one pushed version.

::

    URI/                        what the user gives push (a "root")
      NAME/                     a model folder
        VERSION/                a version folder: the registry's version number
          NAME.onnx             the artifact, as the registry holds it
          NAME.card.toml        its card, so the folder is loadable as it is
          manifest.json         written last: no manifest, no version

A URI given to pull or serve is either a version folder or a model folder; a model folder
means its highest version that has a manifest (a push still under way has none yet).
"""

from __future__ import annotations

from ..errors import StorageNotFoundError
from .manifest import MANIFEST_NAME, Manifest
from .objects import ObjectStore
from .uri import StorageURI

__all__ = ["MAX_MANIFEST_BYTES", "read_manifest", "resolve_version"]

MAX_MANIFEST_BYTES = 4 * 1024**2
"""A manifest larger than this is not one (cards with thousands of labels stay far below)."""


def read_manifest(store: ObjectStore, version_folder: StorageURI) -> Manifest:
    """The manifest of a version folder; :class:`StorageNotFoundError` if it has none."""
    location = version_folder.child(MANIFEST_NAME)
    data = store.read(location, 0, MAX_MANIFEST_BYTES + 1)
    if len(data) > MAX_MANIFEST_BYTES:
        return Manifest.from_json("", source=str(location))  # reported as malformed
    return Manifest.from_json(data.decode("utf-8", errors="replace"), source=str(location))


def resolve_version(store: ObjectStore, uri: StorageURI) -> tuple[StorageURI, Manifest]:
    """The version folder ``uri`` stands for and its manifest.

    ``uri`` is a version folder (it holds ``manifest.json``) or a model folder (its highest
    numbered subfolder holding one).
    """
    try:
        return uri, read_manifest(store, uri)
    except StorageNotFoundError:
        pass
    try:
        names = store.children(uri)
    except StorageNotFoundError:
        names = []
    for version in sorted((int(n) for n in names if n.isdigit()), reverse=True):
        folder = uri.child(str(version))
        try:
            return folder, read_manifest(store, folder)
        except StorageNotFoundError:
            continue  # a push that has not finished (or failed): not a version yet
    raise StorageNotFoundError(
        f"No pushed model at {uri}: neither {uri.child(MANIFEST_NAME)} nor a numbered version "
        "folder with one exists.",
        hint="Push one with: localvision models push NAME URI (then use URI/NAME or "
        "URI/NAME/VERSION).",
    )
