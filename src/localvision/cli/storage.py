"""``localvision models push`` and ``models pull URI``: the registry and object storage.

``push NAME[@VERSION|@ALIAS] URI`` writes a registered version under ``URI/NAME/VERSION/``;
``pull`` with a storage URI reads one back (``models pull`` hands storage URIs to
:func:`pull_from_storage`). Credentials and endpoints come from the vendors' own environment
variables (docs/storage.md).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ..errors import InvalidParameterError
from ..registry import ModelVersion, Registry
from ..storage import pull, push
from .errors import reported
from .options import ConfigFile, JsonFlag, load_settings

__all__ = ["pull_from_storage", "push_command"]

_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


def push_command(
    ref: Annotated[
        str,
        typer.Argument(metavar="REF", help="NAME, NAME@VERSION or NAME@ALIAS to push."),
    ],
    uri: Annotated[
        str,
        typer.Argument(
            metavar="URI",
            help="Where: s3://bucket/prefix, gs://..., az://container/..., abfs://..., "
            "file:///path. The model goes under URI/NAME/VERSION/.",
        ),
    ],
    as_json: JsonFlag = False,
    config: ConfigFile = None,
) -> None:
    """Push a registered model version to object storage: the model file, its card and a
    manifest (sha256, size, labels, lineage) under URI/NAME/VERSION/.

    Pushing the same version again does nothing; a different model under that version folder
    is refused. Serve it with: localvision serve --model NAME=URI/NAME/VERSION
    """
    with reported():
        registry = Registry(load_settings(config).home)
        result = push(registry, ref, uri)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "uri": result.uri,
                    "bytes": result.bytes,
                    "unchanged": result.bytes == 0,
                    "manifest": asdict(result.manifest),
                }
            )
        )
        return
    manifest = result.manifest
    if result.bytes == 0:
        Console().print(
            f"{manifest.ref} is already at {result.uri} (same sha256 "
            f"{manifest.sha256[:12]}); nothing written"
        )
    else:
        Console().print(
            f"pushed [bold]{manifest.ref}[/bold] to {result.uri}  "
            f"{result.bytes:,} bytes  sha256 {manifest.sha256[:12]}"
        )


def pull_from_storage(
    uri: str,
    *,
    name: str | None,
    sha256: str | None,
    labels: Path | None,
    config: Path | None,
) -> ModelVersion:
    """``models pull URI``: register the version a storage URI names (a version folder, or a
    model folder for its newest version), checked against its manifest's sha256 and, with
    ``--sha256``, against that too."""
    if labels is not None:
        raise InvalidParameterError(
            "--labels does not apply to a storage URI: its manifest records the labels.",
            hint=f"Run: localvision models pull {uri}",
        )
    if sha256 is not None and not _SHA256.fullmatch(sha256):
        raise InvalidParameterError(f"--sha256 takes 64 hexadecimal digits; got {sha256!r}.")
    registry = Registry(load_settings(config).home)
    # --sha256 pins the content beyond the manifest, which sits in the same bucket
    return pull(uri, registry, name=name, sha256=sha256)
