"""``file://``: a folder on this machine (or a mounted network file system) as a store."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...optional import import_optional
from . import Vendor

__all__ = ["VENDOR"]


def _open(environ: Mapping[str, str]) -> Any:
    local = import_optional(
        "fsspec.implementations.local", extra="storage", purpose="read and write file:// URIs"
    )
    return local.LocalFileSystem(auto_mkdir=True)


VENDOR = Vendor(
    title="the local file system",
    open=_open,
    endpoint=lambda environ: None,
    unreachable_hint="Check that the folder's file system is mounted.",
    denied_hint="Check the folder's permissions for the user localvision runs as.",
)
