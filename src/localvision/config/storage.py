"""``[storage]``: models served straight from object storage, and input images read from it.

Two things read object storage on a server. Models named by a storage URI (``[models.x] path =
"s3://bucket/models/pets/3/"`` or ``serve --model pets=s3://...``) are downloaded once into the
data home's cache and verified; ``offline`` keeps that to the cache alone. Requests that name
their image by URI (Rekognition ``Image.S3Object``, Google ``imageUri = "gs://..."``) are read
only from the buckets ``allow`` lists: nothing is allowed until a bucket is named, since a
caller could otherwise make the server read anything its credentials reach.

Example::

    [storage]
    offline = false
    allow = ["s3://photos", "gs://team-images/incoming"]
"""

from __future__ import annotations

import re

from pydantic import ConfigDict, Field, field_validator

from ..errors import ConfigError
from .checked import Checked

__all__ = ["INPUT_SCHEMES", "StorageSettings"]

INPUT_SCHEMES = ("s3", "gs", "az", "abfs")
"""Schemes a request may name an input image with. ``file://`` is not one: reading the
server's own disk on a caller's say-so is what the allow-list exists to prevent."""

_ENTRY = re.compile(r"^(?P<scheme>[a-z0-9]+)://(?P<bucket>[^/]+)(?P<prefix>(/[^/]+)*)/?$")


class StorageSettings(Checked):
    """``[storage]``: the model cache's network policy and the input buckets allowed."""

    model_config = ConfigDict(extra="forbid")

    offline: bool = Field(
        False,
        description="Never touch the network for models given by storage URI: serve them from "
        "the cache under the data home, or stay not ready ('serve --offline' sets it).",
    )
    allow: list[str] = Field(
        default_factory=list,
        description="Buckets (or 'bucket/prefix' folders) requests may name input images in, "
        "as URIs: 's3://photos', 'gs://team-images/incoming', 'az://container'. Empty (the "
        "default): Image.S3Object and gs:// imageUri are refused.",
    )
    retry_max_s: float = Field(
        30.0,
        gt=0,
        description="Longest wait between tries to reach storage while a served model is "
        "neither reachable nor cached (the wait doubles from half a second up to this).",
    )

    @field_validator("allow")
    @classmethod
    def _valid_entries(cls, entries: list[str]) -> list[str]:
        for entry in entries:
            match = _ENTRY.match(entry)
            if match is None or match["scheme"] not in INPUT_SCHEMES:
                raise ConfigError(
                    f"[storage] allow: {entry!r} is not a bucket URI.",
                    hint="Name buckets as s3://BUCKET, gs://BUCKET, az://CONTAINER "
                    "(optionally /PREFIX).",
                )
            if any(part in (".", "..") for part in match["prefix"].split("/")):
                raise ConfigError(f"[storage] allow: {entry!r} may not contain '.' or '..'.")
        return entries
