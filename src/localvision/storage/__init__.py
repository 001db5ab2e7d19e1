"""Models and images in object storage: ``s3://``, ``gs://``, ``az://``/``abfs://``, ``file://``.

Through fsspec (``s3fs``, ``gcsfs``, ``adlfs``: ``pip install 'localvision[storage]'``), with
credentials from each vendor's own chain and endpoints overridable for self-hosted stores:

* :func:`push` writes a registered version under ``URI/NAME/VERSION/`` (artifact, card,
  ``manifest.json`` last); :func:`pull` reads one back into a registry, checking its SHA-256.
* :func:`fetch_model` gives the server a pushed version as a verified file in the data home's
  cache (resumed downloads, restarts without network, ``offline``).
* :func:`read_object` reads one input image within a byte limit.

Every failure is a :class:`~localvision.errors.StorageError` (not found, access denied,
unavailable, checksum mismatch) naming the URI and what to check. See docs/storage.md.
"""

from .cache import CachedModel, fetch_model
from .manifest import MANIFEST_FORMAT, MANIFEST_NAME, Manifest
from .objects import read_object
from .pull import pull
from .push import PushResult, push
from .uri import SCHEMES, StorageURI, is_storage_uri, parse_uri

__all__ = [
    "MANIFEST_FORMAT",
    "MANIFEST_NAME",
    "SCHEMES",
    "CachedModel",
    "Manifest",
    "PushResult",
    "StorageURI",
    "fetch_model",
    "is_storage_uri",
    "parse_uri",
    "pull",
    "push",
    "read_object",
]
