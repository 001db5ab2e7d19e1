"""What ``deploy render`` is asked for: the target, the models and where they come from.

:class:`DeployRequest` holds the CLI's options (or a caller's) as given; :mod:`.checks` refuses
what would not work and :mod:`.plan` decides the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import Settings

__all__ = ["TARGETS", "DeployRequest", "ModelSource"]

TARGETS = ("docker", "compose", "kubernetes", "kserve", "cloudrun", "lambda", "rayservice")
"""Every platform ``deploy render`` writes files for."""


@dataclass(frozen=True)
class ModelSource:
    """One model to deploy: the name it is served under and where it comes from.

    Exactly one of ``uri`` (a storage URI the server fetches when it starts) and ``file`` (a
    local model file, from a path or the registry, to copy into the image) is set. ``card`` is
    the model's card to copy beside a baked file: a ``.card.toml`` path, or the registry's card
    fields. ``format`` is the model's format name when known (``onnx``, ``tflite``, ...).
    """

    name: str
    uri: str | None = None
    file: Path | None = None
    card: Path | Mapping[str, Any] | None = None
    format: str | None = None

    @property
    def origin(self) -> str:
        """Where the model is, for messages."""
        return self.uri if self.uri is not None else str(self.file)


@dataclass(frozen=True)
class DeployRequest:
    """What the user asked ``deploy render`` for (the CLI's options, or a caller's)."""

    target: str
    models: tuple[ModelSource, ...] = ()
    settings: Settings = field(default_factory=Settings)
    config_file: Path | None = None
    """The config the platform mounts (credentials); None when the deployment needs none."""
    out_dir: Path | None = None
    """Where the files go (rendered paths to the config are relative to it)."""
    bake: bool = False
    gpu: bool = False
    insecure: bool = False
    host: str = "0.0.0.0"
    port: int = 8080
    image: str | None = None
    name: str = "localvision"
    min_replicas: int = 2
    max_replicas: int = 8
    features: tuple[str, ...] = ()
    extras: tuple[str, ...] = ()
    install: str = "auto"
    """``checkout`` (a wheel built from this source tree), ``release`` (the published
    package) or ``auto`` (a checkout when localvision runs from one)."""
    cache: str = "emptydir"
    """Kubernetes: the data home on an ``emptydir`` (per pod) or a ``pvc`` shared by all."""
