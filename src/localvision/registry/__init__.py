"""The model registry: named models, integer versions, aliases, metrics and lineage.

SQLite under the data home holds the entries; artifacts are stored once, content-addressed by
their SHA-256. See :class:`Registry`.
"""

from .store import ANY_VERSION, ModelVersion, Registry, parse_ref

__all__ = ["ANY_VERSION", "ModelVersion", "Registry", "parse_ref"]
