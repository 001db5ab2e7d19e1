"""One module per vendor: how its fsspec filesystem is opened from the vendor's own chain.

Each module (``s3``, ``gcs``, ``azure``, ``local``) holds a :class:`Vendor`: a function that
opens the filesystem from an environment mapping, the endpoint that mapping overrides (for
messages), and what to tell a user whose store is unreachable or refuses them. The vendor
libraries are imported only when a URI of theirs is used.

A vendor whose objects can be read at a given version (S3's version ids) also opens a second,
version-aware filesystem for those reads, so every other call keeps the plain one.

Every vendor gets the same patience: :data:`CONNECT_TIMEOUT_S` to connect,
:data:`READ_TIMEOUT_S` between bytes, and :data:`ATTEMPTS` tries of one request, so a dead
endpoint is reported in seconds, not after the minutes the libraries' defaults take.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["ATTEMPTS", "CONNECT_TIMEOUT_S", "READ_TIMEOUT_S", "Vendor", "vendor_for"]

CONNECT_TIMEOUT_S = 5
READ_TIMEOUT_S = 60
ATTEMPTS = 3
"""Tries of one request (the first and two retries) before its error is reported."""

_MODULES = {"s3": "s3", "gs": "gcs", "az": "azure", "abfs": "azure", "file": "local"}


@dataclass(frozen=True)
class Vendor:
    """What the storage layer needs to know about one vendor's store."""

    title: str
    """How messages name the store: "S3", "Google Cloud Storage", ..."""
    open: Callable[[Mapping[str, str]], Any]
    """The fsspec filesystem, configured from the environment mapping."""
    endpoint: Callable[[Mapping[str, str]], str | None]
    """The endpoint the environment points the vendor at, when it overrides the default."""
    unreachable_hint: str
    denied_hint: str
    open_versioned: Callable[[Mapping[str, str]], Any] | None = None
    """The filesystem that reads a given object version; None where localvision reads only
    the current version of the vendor's objects (a version there is refused)."""


def vendor_for(scheme: str) -> Vendor:
    """The :class:`Vendor` for a URI scheme from :data:`~localvision.storage.SCHEMES`."""
    module = importlib.import_module(f"{__name__}.{_MODULES[scheme]}")
    vendor: Vendor = module.VENDOR
    return vendor
